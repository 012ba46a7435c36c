// Package templates holds the dashboard's templ components and the plain
// view types they render. Every figure arrives formatted: the components
// only lay out text, links and SVG shapes, so that the same partial renders
// a full page and a live-update fragment byte for byte.
package templates

//go:generate go tool templ generate -path .

// Page is what the layout needs to frame a page.
type Page struct {
	// Title is the site title shown in the header ("Fusebox · demo").
	Title string
	// Heading is the page's own title, for <title>.
	Heading string
	// Nav names the current section: "overview", "slos", "alerts" or
	// "audit"; "" for none.
	Nav string
	// LoggedIn is set for an admin session; Actor is its name.
	LoggedIn bool
	Actor    string
	// CSRF is the session's CSRF token for the page's forms; "" when logged
	// out.
	CSRF string
	// AlertsFiring is the number of alerts firing (shown in the header).
	AlertsFiring int
	// Events is the URL of the page's SSE stream; "" for a page without
	// live updates.
	Events string
	// Fleet is set on a fleet hub: the header links to the fleet pages.
	Fleet bool
	// ReloadError is the error of the latest configuration reload when it
	// was refused, shown as a banner; "" otherwise.
	ReloadError string
	// RestartPending names the changes of the latest configuration
	// reload that apply only at the next restart.
	RestartPending []string
	// AppJS and AppCSS are the URLs of the embedded assets.
	AppJS, AppCSS string
	// Next is where the login link comes back to.
	Next string
}

// State is a breaker state pill: a word and a colour class, never the colour
// alone, with who forced it, why and until when.
type State struct {
	// Pipeline names the pipeline (for data-testid).
	Pipeline string
	// Word is the state in capitals ("OPEN", "FORCED OPEN").
	Word string
	// Class is the CSS class of the colour ("state-open").
	Class string
	// Since is when the breaker entered the state ("12:04:31"); "" unknown.
	Since string
	// Forced is set for forced_open and forced_closed; Actor, Reason and
	// Until say who, why and until when ("until 12:30:00", "until reverted").
	Forced               bool
	Actor, Reason, Until string
	// Detail explains an automatic state ("failure rate 62 % over 100 calls").
	Detail string
}

// Overview is the overview page: the user's pipelines, then the internal
// ones (the alert webhooks' delivery pipelines) apart.
type Overview struct {
	Tiles, Internal []Tile
}

// Tile is the overview tile of a pipeline, in the spirit of the Hystrix
// circuit widget.
type Tile struct {
	// Name is the pipeline's name (element ids, links); Label the name a
	// person reads: Name itself, or a readable one for an internal
	// pipeline ("alert webhook 127.0.0.1:18099").
	Name, Label string
	URL         string
	// HasBreaker is false for a pipeline without a circuit breaker: no
	// pill, and the tile says so.
	HasBreaker bool
	State      State
	// Draining says that a reload removed the pipeline and how many calls
	// are still in flight through it; "" for a pipeline in force.
	Draining string
	// Window names the window of the figures ("last 10 s");
	// LatencyWindow that of the percentiles, which may be longer.
	Window, LatencyWindow string
	// HasCalls is false when no call ended in the window: the rates read "–".
	HasCalls bool
	// The figures of the last 10 seconds (the 1-minute window for latency
	// when the 10-second one is empty).
	CallsPerSec            string
	EffSuccess, ActSuccess string
	P50, P99               string
	RetriesPerSec, Amplif  string
	Rejections             string
	RejectionWhy           string
	Timeouts               string
	Fallbacks              string
	// Spark is the 2-minute sparkline of calls per second.
	Spark Spark
	// Budget is nil when no SLO covers the pipeline: its slot stays empty.
	Budget *Budget
}

// Budget is the error budget of an SLO covering a pipeline (the one with
// the least budget left, when several do).
type Budget struct {
	Left string // "62% left"
	Burn string // "burn 14.9×" (over the last hour)
	// Class colours the text ("budget-ok", "budget-low", "budget-out").
	Class string
	// Title names the SLO ("payments-availability: 99.9% over 30d").
	Title string
}

// Spark is a sparkline: an SVG polyline of equal steps.
type Spark struct {
	// Points is the polyline's points attribute; "" when there is no data.
	Points string
	// Width and Height are the viewBox size.
	Width, Height string
	// Label describes it for screen readers ("calls per second, last 2
	// minutes, peak 14.0/s").
	Label string
	// Peak is the largest value, formatted.
	Peak string
}

// Detail is the page of one pipeline.
type Detail struct {
	Tile Tile
	// Policy is the pipeline's description (Pipeline.String) and Policies
	// each policy's String, outermost first; empty when unknown.
	Policy   string
	Policies []string
	// Switches are the policies' live state and kill switches.
	Switches Switches
	// Timeline is the breaker's state timeline; HasBreaker is false when
	// there is no breaker, and no timeline is drawn.
	HasBreaker bool
	Timeline   Timeline
	Latency    LineChart
	Outcomes   StackChart
	Backoff    BarChart
	Attempts   BarChart
	Calls      Calls
	Control    Control
	// SLOs are the pipeline's SLOs; nil when it has none.
	SLOs []SLO
	// Downstreams are the demo's fault knobs; nil outside the demo.
	Downstreams []Downstream
}

// Control is the override form of a pipeline.
type Control struct {
	Pipeline string
	// HasBreaker is false for a pipeline without a breaker: no form.
	HasBreaker bool
	// LoggedIn shows the form; otherwise a link to log in.
	LoggedIn bool
	CSRF     string
	// Action is the form's URL; Login the log-in link.
	Action, Login string
	// Current is the breaker state's name ("forced_open"); CurrentWord as
	// the pill shows it ("FORCED OPEN").
	Current, CurrentWord string
	// Keep, when not "", is the label of the duration option that keeps the
	// end of the override in force ("until 12:30:00, as now"), selected by
	// default so that the form changes nothing it does not show.
	Keep string
	// FleetHeld, when not "", says that a fleet override holds the breaker
	// on this instance ("forced open by the fleet (whole service), bo:
	// deploy, until 12:30:00"): there is no form, as the instance cannot
	// change it.
	FleetHeld string
}

// Downstream is the fault-knob form of a simulated downstream.
type Downstream struct {
	Name, Description string
	Action            string
	CSRF              string
	LoggedIn          bool
	ErrorRate         string // "0.25", exactly the stored value
	ErrorStep         string // the slider's step: "0.01", or "any" for a finer value
	ErrorPercent      string // "25 %"
	// Back is the page the form returns to after saving; Login the log-in
	// link shown while the knobs are disabled.
	Back, Login string
	LatencyMS   string
	JitterMS    string
	Outage      bool
	// Scenario names the scenario that overrides the knobs while it runs.
	Scenario string
}

// Calls are the recent calls of a pipeline, newest first.
type Calls struct {
	Pipeline string
	Items    []Call
}

// Call is one recent call with its attempt timeline.
type Call struct {
	ID       string // "#4812"
	Time     string // "12:05:02.114"
	Outcome  string // "success"
	Class    string // "ok", "fail"
	Duration string
	Steps    []Step
}

// Step is one thing that happened in a call ("attempt 1 ✗ failure (38 ms)").
type Step struct {
	Text  string
	Class string // "ok", "fail", "wait", "breaker", "fallback", "info"
}

// Timeline is a breaker state timeline: a row of coloured segments, each
// with a title and, when wide enough, its state's word.
type Timeline struct {
	Segments []Segment
	// From and To label the ends of the axis.
	From, To string
	Legend   []LegendItem
}

// Segment is one stay in a state, in percent of the timeline's width.
type Segment struct {
	X, W  string
	TextX string
	Class string
	Title string
	Label string // "" when too narrow for text
}

// LegendItem pairs a colour class with its word.
type LegendItem struct{ Class, Label string }

// LineChart is a chart of lines over time, with a y axis from zero to Max.
type LineChart struct {
	Title    string
	Lines    []Line
	Max      string // the y axis top, formatted
	From, To string
	Empty    bool
}

// Line is one line of a LineChart.
type Line struct {
	Label, Class, Points string
}

// StackChart is a chart of stacked bars over time.
type StackChart struct {
	Title    string
	Bars     []StackBar
	Max      string
	From, To string
	Legend   []LegendItem
	Empty    bool
}

// StackBar is one step of a StackChart.
type StackBar struct {
	Title string
	Parts []Rect
}

// Rect is an SVG rectangle in viewBox units.
type Rect struct {
	X, Y, W, H string
	Class      string
}

// BarChart is a histogram: one bar per bucket, labelled.
type BarChart struct {
	Title string
	Bars  []Bar
	Max   string
	Empty bool
}

// Bar is one bucket of a BarChart.
type Bar struct {
	Rect
	Label, Count, Title string
	LabelX, CountY      string
}

// Audit is the audit page.
type Audit struct {
	Entries []AuditRow
}

// AuditRow is one audit entry, formatted.
type AuditRow struct {
	At, Actor, Action, Pipeline, Change, Reason, Until string
}

// Alerts is the alerts page.
type Alerts struct {
	// Enabled is false when alerting is off: the page says so.
	Enabled bool
	// Firing, Pending and Resolved are the alerts in each state, the most
	// recent first.
	Firing, Pending, Resolved []AlertRow
	// Webhooks are the deliveries to webhook receivers; nil when none is
	// configured.
	Webhooks *Webhooks
}

// AlertRow is one alert, formatted.
type AlertRow struct {
	Fingerprint string
	Name        string
	// Severity is the severity label ("page", "ticket", "info"; "" when
	// unset) and SeverityClass its colour ("sev-page").
	Severity, SeverityClass string
	// State is "firing", "pending" or "resolved"; Class its colour
	// ("alert-firing").
	State, Class string
	// Source is "fusebox" or "alertmanager"; SourceClass its badge's colour.
	Source, SourceClass string
	// Pipeline and SLO come from the labels; PipelineURL links the
	// pipeline's page ("" when the pipeline is not Fusebox's own).
	Pipeline, PipelineURL, SLO string
	// Summary and Description are the annotations of the same names.
	Summary, Description string
	// Since says when it entered its state ("2025-03-14 12:04:31") and
	// For how long ago ("3m20s").
	Since, For string
	// Started and Ended are the times it last started firing and resolved;
	// "" when unknown.
	Started, Ended string
	// Labels are the labels other than alertname, sorted by name.
	Labels []Label
	// GeneratorURL links to what raised it; "" for none.
	GeneratorURL string
	// History lists the transitions, newest first; Changes counts them
	// ("2 changes").
	History    []HistoryRow
	Changes    string
	Deliveries []DeliveryRow
}

// Label is one label of an alert.
type Label struct{ Name, Value string }

// HistoryRow is one transition of an alert.
type HistoryRow struct {
	At     string
	Change string // "pending → firing"
	Detail string
}

// Webhooks are the webhook deliveries and the outbox.
type Webhooks struct {
	// PendingCount is the number of notifications waiting in the outbox
	// ("3"); PendingError says why the outbox could not be read.
	PendingCount string
	PendingError string
	// Pending are the oldest waiting notifications.
	Pending []OutboxRow
	// Deliveries are the most recent delivery rounds, newest first.
	Deliveries []DeliveryRow
}

// OutboxRow is a notification waiting in the outbox.
type OutboxRow struct {
	Receiver, Created, Attempts, NextAttempt, LastError string
}

// DeliveryRow is one delivery round of a notification.
type DeliveryRow struct {
	At, Receiver string
	// Status is the notification's status ("firing", "resolved").
	Status string
	// Result is "success", "failure", "timeout", "rejected" or "dropped";
	// ResultClass its colour.
	Result, ResultClass string
	// Attempts says which round and how many requests ("round 2 · 3
	// requests").
	Attempts    string
	Error       string
	NextAttempt string
}

// SLOs is the SLO page.
type SLOs struct {
	// Enabled is false when no SLO engine is configured.
	Enabled bool
	Items   []SLO
}

// SLO is the section of one SLO, in the manner of Pyrra: objective,
// availability, error budget left, its history and the burn rates.
type SLO struct {
	// ID is the section's stable element id ("slo-payments-availability").
	ID       string
	Name     string
	Pipeline string
	// PipelineURL links the pipeline's page.
	PipelineURL string
	// SLI says what a good call is ("availability", "latency ≤ 300 ms").
	SLI string
	// Objective ("99.9%") over Period ("30d").
	Objective, Period string
	// Availability over the period ("99.62%") and the calls it counts
	// ("12,345 calls, 47 bad").
	Availability, Calls string
	// BudgetLeft is the share of the error budget left ("62.0%");
	// BudgetCalls the bad calls it still allows ("31 of 80 bad calls
	// left"); BudgetClass the colour.
	BudgetLeft, BudgetCalls, BudgetClass string
	// Exhaustion says when the budget runs out ("in 2d4h", "spent", "not
	// burning") and ExhaustionNote at what rate ("at the 1h burn rate").
	Exhaustion, ExhaustionNote string
	// Coverage notes a history shorter than the period; "" otherwise.
	Coverage string
	Chart    BudgetChart
	// Burns are the burn rates over each window, shortest first.
	Burns []Burn
	// Alerts are the multiwindow, multi-burn-rate alert rows.
	Alerts []BurnAlert
}

// Burn is the burn rate over one window.
type Burn struct {
	Window string // "5m"
	Rate   string // "14.9×"
	Class  string // "burn-ok", "burn-warn", "burn-bad"
}

// BurnAlert is one row of the multiwindow, multi-burn-rate alerts.
type BurnAlert struct {
	Severity string // "page", "ticket"
	// Long and Short are the windows ("1h", "5m"), LongRate and ShortRate
	// their burn rates ("14.9×").
	Long, Short         string
	LongRate, ShortRate string
	// Threshold is the factor both must exceed ("14.4×") and Spends the
	// budget it spends over the long window ("2% of the budget in 1h").
	Threshold, Spends string
	// Status is "firing", "pending", "over threshold" or "ok"; Class its
	// colour.
	Status, Class string
}

// BudgetChart draws the error budget left over the SLO's period.
type BudgetChart struct {
	// Empty is set when there is no history to draw.
	Empty bool
	// Line is the polyline of the budget left; Area the polygon under it
	// (down to the zero line).
	Line, Area string
	// ZeroY is the y of the 0 % line (below the top when the budget was
	// overspent).
	ZeroY string
	// Top and Bottom label the y axis ("100%", "0%" or "-40%"); From and
	// To the x axis.
	Top, Bottom, From, To string
	// Label describes the chart for screen readers.
	Label string
}

// Login is the login form.
type Login struct {
	Next  string
	Error string
}

// Problem is an error page.
type Problem struct {
	Status  string
	Message string
	Back    string
}

// ScenarioPanel is the overview's list of demo scenarios.
type ScenarioPanel struct {
	// LoggedIn shows the start and stop buttons; otherwise Login is the
	// link to log in.
	LoggedIn    bool
	CSRF, Login string
	Items       []ScenarioView
}

// ScenarioView is one demo scenario.
type ScenarioView struct {
	Name, Title, Does, Expect string
	// Downstream names the downstream it acts on; Pipeline links to its
	// pipeline's page.
	Downstream, Pipeline string
	// Action is the URL of its start/stop form.
	Action string
	// Running is set while it runs; Since says since when
	// ("running since 12:04:31").
	Running bool
	Since   string
}
