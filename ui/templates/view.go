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
	// Nav names the current section: "overview", "alerts" or "audit"; "" for
	// none.
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

// Tile is the overview tile of a pipeline, in the spirit of the Hystrix
// circuit widget.
type Tile struct {
	Name  string
	URL   string
	State State
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

// Budget is the error budget of an SLO covering a pipeline.
type Budget struct {
	Left string // "62 % left"
	Burn string // "burn 14.9×"
	// Class colours the text ("budget-ok", "budget-low", "budget-out").
	Class string
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
	Timeline Timeline
	Latency  LineChart
	Outcomes StackChart
	Backoff  BarChart
	Attempts BarChart
	Calls    Calls
	Control  Control
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
	// Current is the breaker state's name ("forced_open").
	Current string
}

// Downstream is the fault-knob form of a simulated downstream.
type Downstream struct {
	Name, Description string
	Action            string
	CSRF              string
	LoggedIn          bool
	ErrorRate         string // "0.25"
	ErrorPercent      string // "25 %"
	LatencyMS         string
	JitterMS          string
	Outage            bool
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
	Enabled bool
	Items   []AlertRow
}

// AlertRow is one alert, formatted.
type AlertRow struct {
	Name, Severity, State, Class, Pipeline, Summary, Since string
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
