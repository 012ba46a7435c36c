package ui

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// addPipeline registers a pipeline of the given policies and serves a
// busy snapshot of it.
func (ev *env) addPipeline(name string, policies ...resilience.Policy) {
	ev.t.Helper()
	p, err := resilience.New(name, resilience.Config{Policies: policies, Clock: ev.clock})
	if err != nil {
		ev.t.Fatal(err)
	}
	if err := ev.reg.Add(p); err != nil {
		ev.t.Fatal(err)
	}
	ps := pipelineSnap(name, resilience.StateClosed)
	ps.Breaker = telemetry.BreakerSnapshot{State: resilience.StateClosed, Since: ps.Bound}
	ev.stats.mu.Lock()
	ev.stats.snap.Pipelines = append(ev.stats.snap.Pipelines, ps)
	ev.stats.mu.Unlock()
}

func TestAPipelineWithoutABreakerSaysSo(t *testing.T) {
	ev := newEnv(t)
	retry, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	ev.addPipeline("shipping", retry)

	doc := ev.page("/", "")
	if doc.Find(testid("state-shipping")).Length() != 0 {
		t.Error("the tile of a pipeline without a breaker shows a state pill")
	}
	if got := text(doc.Find(testid("no-breaker-shipping"))); got != "no breaker" {
		t.Errorf("tile says %q, want %q", got, "no breaker")
	}
	doc = ev.page("/pipelines/shipping", "")
	if doc.Find(testid("timeline")).Length() != 0 || doc.Find(testid("state-shipping")).Length() != 0 {
		t.Error("the page of a pipeline without a breaker shows a timeline or a pill")
	}
	if doc.Find(testid("timeline")).Length() != 0 {
		t.Error("timeline shown")
	}
	var labels []string
	doc.Find(testid("attempts-chart") + " .bar-label").Each(func(_ int, s *goquery.Selection) { labels = append(labels, s.Text()) })
	if strings.Join(labels, ",") != "1,2,3" { // the snapshot counts 10 calls of 3 attempts
		t.Errorf("attempts labels %v", labels)
	}

	for _, path := range []string{"/api/v1/pipelines/shipping", "/api/v1/pipelines"} {
		rec := ev.do(req{method: http.MethodGet, path: path})
		body := rec.Body.String()
		if !strings.Contains(body, `"name":"shipping","time":"2025-03-14T12:00:00Z","breaker":null`) {
			t.Errorf("%s: want \"breaker\":null for shipping; body %s", path, body)
		}
		if path == "/api/v1/pipelines" && !strings.Contains(body, `"name":"payments","time":"2025-03-14T12:00:00Z","breaker":{"state":"open"`) {
			t.Errorf("%s: payments lost its breaker; body %s", path, body)
		}
	}
}

func TestAttemptsChartStopsAtTheAttemptsAllowed(t *testing.T) {
	ev := newEnv(t)
	retry, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	ev.addPipeline("recommendations", retry)
	ev.stats.update("recommendations", func(ps *telemetry.PipelineSnapshot) {
		ps.Totals.AttemptsPerCall = [telemetry.MaxAttemptsTracked]uint64{79, 1}
	})
	doc := ev.page("/pipelines/recommendations", "")
	var labels, titles []string
	doc.Find(testid("attempts-chart") + " " + testid("bar")).Each(func(_ int, s *goquery.Selection) {
		labels = append(labels, text(s.Find(".bar-label")))
		titles = append(titles, text(s.Find("title")))
	})
	if strings.Join(labels, ",") != "1,2" {
		t.Errorf("a pipeline allowed 2 attempts has bars %v, want 1,2", labels)
	}
	if strings.Join(titles, "|") != "79 calls took 1 attempt|1 call took 2 attempts" {
		t.Errorf("bar titles %q", titles)
	}
}

func TestTimelineStartsWhenThePipelineWasBound(t *testing.T) {
	ev := newEnv(t)
	ev.stats.update("payments", func(ps *telemetry.PipelineSnapshot) {
		ps.Bound = t0.Add(-2 * time.Minute)
		ps.Breaker.Transitions = []telemetry.Transition{
			{Time: t0.Add(-time.Minute), From: resilience.StateClosed, To: resilience.StateOpen, Reason: resilience.ReasonAuto},
		}
	})
	doc := ev.page("/pipelines/payments", "")
	tl := doc.Find(testid("timeline"))
	if got := text(tl.Find("figcaption")); !strings.Contains(got, "11:58:00") {
		t.Errorf("timeline ends %q, want it to start at 11:58:00 when the pipeline was bound", got)
	}
	var segs []string
	tl.Find("rect").Each(func(_ int, s *goquery.Selection) { segs = append(segs, s.AttrOr("x", "")+"+"+s.AttrOr("width", "")) })
	if strings.Join(segs, " ") != "0+500 500+500" {
		t.Errorf("segments %v, want closed then open, half the width each", segs)
	}
}

func TestInternalPipelinesAreShownApart(t *testing.T) {
	ev := newEnv(t)
	ev.stats.mu.Lock()
	ev.stats.snap.Pipelines = append(ev.stats.snap.Pipelines, pipelineSnap("webhook:127.0.0.1:18099-d4edfd71", resilience.StateClosed))
	ev.stats.mu.Unlock()
	doc := ev.page("/", "")
	if doc.Find(testid("tiles")+" "+testid("tile-webhook:127.0.0.1:18099-d4edfd71")).Length() != 0 {
		t.Error("the webhook's pipeline is among the user's")
	}
	tile := doc.Find(testid("internal") + " " + testid("tile-webhook:127.0.0.1:18099-d4edfd71"))
	if got := text(tile.Find("h2")); got != "alert webhook 127.0.0.1:18099" {
		t.Errorf("internal tile named %q", got)
	}
	rec := ev.do(req{method: http.MethodGet, path: "/api/v1/pipelines"})
	var out struct {
		Pipelines []struct {
			Name     string `json:"name"`
			Internal bool   `json:"internal"`
		} `json:"pipelines"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	for _, p := range out.Pipelines {
		if p.Internal != strings.HasPrefix(p.Name, "webhook:") {
			t.Errorf("%s: internal = %v", p.Name, p.Internal)
		}
	}
	if got := pipelineLabel("webhook:oncall"); got != "alert webhook oncall" {
		t.Errorf("pipelineLabel = %q", got)
	}
}

func TestFiguresReadAsAPersonWritesThem(t *testing.T) {
	ev := newEnv(t)
	ev.stats.update("payments", func(ps *telemetry.PipelineSnapshot) {
		ps.Windows[telemetry.Window10s].Latency = telemetry.Percentiles{}
		ps.Windows[telemetry.Window1m].Span = time.Minute
		ps.Windows[telemetry.Window1m].Latency = telemetry.Percentiles{Count: 3}
		ps.Recent = append(ps.Recent,
			telemetry.RecentEvent{Kind: resilience.KindCallEnd, Time: t0, Call: 1<<56 | 671, Attempt: 1, Outcome: resilience.OutcomeRejected},
			telemetry.RecentEvent{Kind: resilience.KindRejected, Time: t0, Call: 1<<56 | 671, Attempt: 1, Reason: resilience.ReasonBreakerOpen},
		)
	})
	doc := ev.page("/", "")
	if got := text(doc.Find(testid("latency-payments"))); got != "p50 0 ms · p99 0 ms (last 1 min)" {
		t.Errorf("latency %q", got)
	}
	if got := text(doc.Find(testid("window-payments"))); got != "last 10 s; sparkline: last 2 min" {
		t.Errorf("window %q", got)
	}
	doc = ev.page("/pipelines/payments", "")
	first := doc.Find(testid("calls-payments") + " " + testid("call")).First()
	if got := text(first); got != "12:00:00.000 #1-671 attempt 1 ⊘ breaker open→ = rejected (0 ms)" {
		t.Errorf("a rejected call reads %q", got)
	}
}

func TestACallsStepsAreInTimeOrder(t *testing.T) {
	ev := newEnv(t)
	ev.stats.update("payments", func(ps *telemetry.PipelineSnapshot) {
		ps.Recent = []telemetry.RecentEvent{ // as the ring may hold them, recorded on two Ps
			{Kind: resilience.KindBudgetExhausted, Time: t0.Add(time.Second), Call: 9, Attempt: 1},
			{Kind: resilience.KindAttemptEnd, Time: t0, Call: 9, Attempt: 1, Outcome: resilience.OutcomeTimeout, Duration: time.Second},
			{Kind: resilience.KindCallEnd, Time: t0.Add(time.Second), Call: 9, Attempt: 1, Outcome: resilience.OutcomeTimeout, Duration: time.Second},
		}
	})
	doc := ev.page("/pipelines/payments", "")
	var steps []string
	doc.Find(testid("calls-payments") + " " + testid("step")).Each(func(_ int, s *goquery.Selection) { steps = append(steps, text(s)) })
	want := "attempt 1 ✗ timeout (1.0 s)|⊘ retry refused: budget spent|= timeout (1.0 s)"
	if got := strings.Join(steps, "|"); got != want {
		t.Errorf("steps %q, want %q", got, want)
	}
}

func TestEventsForAnUnknownPipelineAnswerAnError(t *testing.T) {
	ev := newEnv(t)
	rec := ev.do(req{method: http.MethodGet, path: "/events?pipeline=nope"})
	if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if got := rec.Body.String(); !strings.Contains(got, `unknown pipeline \"nope\"`) {
		t.Errorf("body %s", got)
	}
}

func TestOverrideFormNamesTheStateAsThePillDoes(t *testing.T) {
	ev := newEnv(t)
	if err := ev.reg.Override(t.Context(), "payments", resilience.StateForcedOpen, "x", time.Time{}); err != nil {
		t.Fatal(err)
	}
	ev.stats.update("payments", func(ps *telemetry.PipelineSnapshot) { ps.Breaker.State = resilience.StateForcedOpen })
	doc := ev.page("/pipelines/payments", ev.login("ana"))
	if got := text(doc.Find(testid("override-form") + " legend")); got != "Breaker mode (the breaker is FORCED OPEN now)" {
		t.Errorf("legend %q", got)
	}
	if _, ok := doc.Find(testid("override-forced-open")).Attr("checked"); !ok {
		t.Error("the state in force is not the form's choice")
	}
}

func TestHourChartsStartWhenThePipelineWasBound(t *testing.T) {
	ev := newEnv(t)
	ev.stats.update("payments", func(ps *telemetry.PipelineSnapshot) { ps.Bound = t0.Add(-10 * time.Minute) })
	doc := ev.page("/pipelines/payments", "")
	if got := text(doc.Find(testid("outcome-chart") + " figcaption")); got != "calls per 10 s by outcome, since 11:50" {
		t.Errorf("outcome chart titled %q", got)
	}
	if got := text(doc.Find(testid("latency-chart") + " figcaption")); got != "latency p50 / p99, since 11:50" {
		t.Errorf("latency chart titled %q", got)
	}
	// 60 ten-second points since then, two rectangles each.
	if n := doc.Find(testid("outcome-chart") + " rect").Length(); n != 120 {
		t.Errorf("outcome chart has %d rects, want 2 × 60", n)
	}
}
