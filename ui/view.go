package ui

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fusebox-dev/fusebox/internal/callid"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
	"github.com/fusebox-dev/fusebox/ui/templates"
)

// maxCalls is the number of recent calls a detail page lists.
const maxCalls = 20

// breakerInfo is what the registry knows of a pipeline's breaker.
type breakerInfo struct {
	known      bool // the registry holds the pipeline
	hasBreaker bool
	metrics    resilience.BreakerMetrics
	pipeline   *resilience.Pipeline
}

// maxAttempts is the most attempts the pipeline's retry allows: 1 without
// a retry, 0 when the pipeline is unknown.
func (bi breakerInfo) maxAttempts() int {
	if bi.pipeline == nil {
		return 0
	}
	n := 1
	for _, p := range bi.pipeline.Policies() {
		if r, ok := p.(*resilience.Retry); ok {
			n = max(n, r.MaxAttempts())
		}
	}
	return n
}

func (s *Server) breakerInfo(name string) breakerInfo {
	if s.cfg.Registry == nil {
		return breakerInfo{hasBreaker: true}
	}
	p, err := s.cfg.Registry.Get(name)
	if err != nil {
		return breakerInfo{hasBreaker: true}
	}
	bi := breakerInfo{known: true, pipeline: p}
	if b := p.Breaker(); b != nil {
		bi.hasBreaker = true
		bi.metrics = b.Metrics()
	}
	return bi
}

// stateView builds the state pill of a pipeline.
func (s *Server) stateView(ps *telemetry.PipelineSnapshot, bi breakerInfo) templates.State {
	b := ps.Breaker
	st := templates.State{
		Pipeline: ps.Name, Word: stateWord(b.State), Class: stateClass(b.State),
		Since: s.clockTime(b.Since), Forced: b.State.Forced(),
	}
	if st.Forced {
		st.Actor, st.Reason, st.Until = "unknown", "", "until reverted"
		if ov := bi.metrics.Override; ov != nil && ov.State == b.State {
			st.Actor, st.Reason = ov.Actor, ov.Reason
			if !ov.Until.IsZero() {
				st.Until = "until " + s.clockTime(ov.Until)
			}
		} else if n := len(b.Transitions); n > 0 && b.Transitions[n-1].To == b.State {
			st.Actor, st.Reason = b.Transitions[n-1].Actor, b.Transitions[n-1].Message
		}
		if st.Actor == "" {
			st.Actor = "unknown"
		}
		return st
	}
	live := b.Live
	switch b.State {
	case resilience.StateOpen:
		var parts []string
		switch {
		case bi.metrics.Calls > 0:
			parts = append(parts, fmt.Sprintf("tripped at %s failures over %d calls", fmtPct(bi.metrics.FailureRate), bi.metrics.Calls))
		case live != nil && live.Calls > 0:
			parts = append(parts, fmt.Sprintf("failure rate %s over %d calls", fmtPct(live.FailureRate), live.Calls))
		}
		if !bi.metrics.OpenUntil.IsZero() {
			parts = append(parts, "half-open at "+s.clockTime(bi.metrics.OpenUntil))
		}
		st.Detail = strings.Join(parts, "; ")
	case resilience.StateHalfOpen:
		st.Detail = "probing"
	default:
		if live != nil && live.Calls > 0 {
			st.Detail = fmt.Sprintf("failure rate %s over %d calls", fmtPct(live.FailureRate), live.Calls)
		}
	}
	return st
}

// tile builds the overview tile of a pipeline.
func (s *Server) tile(ps *telemetry.PipelineSnapshot, bi breakerInfo) templates.Tile {
	w := ps.Windows[telemetry.Window10s]
	t := templates.Tile{
		Name:          ps.Name,
		Label:         pipelineLabel(ps.Name),
		URL:           "/pipelines/" + url.PathEscape(ps.Name),
		HasBreaker:    bi.hasBreaker,
		State:         s.stateView(ps, bi),
		Window:        "last " + fmtSpanWords(w.Span, 10*time.Second),
		HasCalls:      w.Counts.CallCount() > 0,
		CallsPerSec:   fmtRate(w.CallsPerSecond),
		EffSuccess:    "–",
		ActSuccess:    "–",
		P50:           "–",
		P99:           "–",
		RetriesPerSec: fmtRate(w.RetriesPerSecond),
		Amplif:        "–",
		Timeouts:      fmtRate(w.TimeoutsPerSecond[0] + w.TimeoutsPerSecond[1]),
		Fallbacks:     fmtRate(w.FallbacksPerSecond),
	}
	t.Draining = drainingText(s.draining(ps.Name))
	if t.HasCalls {
		t.EffSuccess = fmtPct(w.EffectiveSuccessRate)
		t.Amplif = "×" + strconv.FormatFloat(w.Amplification, 'f', 2, 64)
	}
	if w.Counts.AttemptCount() > 0 {
		t.ActSuccess = fmtPct(w.ActualSuccessRate)
	}
	lat := w.Latency
	t.LatencyWindow = t.Window
	if lat.Count == 0 && ps.Windows[telemetry.Window1m].Latency.Count > 0 {
		lat = ps.Windows[telemetry.Window1m].Latency
		t.LatencyWindow = "last " + fmtSpanWords(ps.Windows[telemetry.Window1m].Span, time.Minute)
	}
	if lat.Count > 0 {
		t.P50, t.P99 = fmtDur(lat.P50), fmtDur(lat.P99)
	}
	var rej float64
	var why []string
	for r, v := range w.RejectionsPerSecond {
		rej += v
		if v > 0 {
			why = append(why, rejectionWord(telemetry.Rejection(r)))
		}
	}
	t.Rejections, t.RejectionWhy = fmtRate(rej), strings.Join(why, ", ")
	pts := ps.Seconds.Points
	vals := make([]float64, len(pts))
	for i, p := range pts {
		vals[i] = float64(p.Calls) / max(ps.Seconds.Step.Seconds(), 1e-9)
	}
	t.Spark = spark(vals, "calls per second, last 2 minutes")
	return t
}

func rejectionWord(r telemetry.Rejection) string {
	switch r {
	case telemetry.RejectBreakerOpen:
		return "breaker"
	case telemetry.RejectBulkheadFull:
		return "bulkhead"
	case telemetry.RejectRetryBudget:
		return "retry budget"
	case telemetry.RejectRateLimited:
		return "rate limit"
	case telemetry.RejectConcurrencyLimit:
		return "concurrency limit"
	}
	return r.String()
}

// tileViews builds the tiles of every pipeline of a snapshot, with the
// budget line of those an SLO covers.
func (s *Server) tileViews(snap telemetry.Snapshot) []templates.Tile {
	budgets := s.tileBudgets()
	out := make([]templates.Tile, len(snap.Pipelines))
	for i := range snap.Pipelines {
		ps := &snap.Pipelines[i]
		out[i] = s.tile(ps, s.breakerInfo(ps.Name))
		out[i].Budget = budgets[ps.Name]
	}
	return out
}

// overviewView puts the user's tiles first and the internal ones apart.
func overviewView(tiles []templates.Tile) templates.Overview {
	var o templates.Overview
	for _, t := range tiles {
		if internalPipeline(t.Name) {
			o.Internal = append(o.Internal, t)
		} else {
			o.Tiles = append(o.Tiles, t)
		}
	}
	return o
}

// webhookPrefix starts the names of the pipelines that deliver alert
// notifications to webhooks (alerting.WebhookNotifier).
const webhookPrefix = "webhook:"

// internalPipeline reports whether name is one of Fusebox's own pipelines
// rather than one of the user's.
func internalPipeline(name string) bool { return strings.HasPrefix(name, webhookPrefix) }

// pipelineLabel is the name a person reads: the name itself, or for a
// webhook's delivery pipeline "alert webhook <receiver>", without the
// hash a receiver made from a URL carries ("127.0.0.1:18099-d4edfd71").
func pipelineLabel(name string) string {
	rest, ok := strings.CutPrefix(name, webhookPrefix)
	if !ok {
		return name
	}
	if i := strings.LastIndexByte(rest, '-'); i > 0 && len(rest)-i-1 == 8 && isHex(rest[i+1:]) {
		rest = rest[:i]
	}
	return "alert webhook " + rest
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// calls groups the recent events by call, newest call first.
func (s *Server) calls(ps *telemetry.PipelineSnapshot) templates.Calls {
	out := templates.Calls{Pipeline: ps.Name}
	type group struct {
		id     uint64
		events []telemetry.RecentEvent
	}
	var groups []*group
	index := map[uint64]*group{}
	for i := len(ps.Recent) - 1; i >= 0 && len(groups) <= maxCalls; i-- {
		e := ps.Recent[i]
		if e.Call == 0 {
			continue
		}
		g, ok := index[e.Call]
		if !ok {
			if len(groups) == maxCalls {
				break
			}
			g = &group{id: e.Call}
			index[e.Call] = g
			groups = append(groups, g)
		}
		g.events = append(g.events, e)
	}
	for _, g := range groups {
		slices.Reverse(g.events)
		// Events of one call may reach the ring out of order (their
		// observers run on different Ps): they are put back in time order,
		// its end last.
		slices.SortStableFunc(g.events, func(a, b telemetry.RecentEvent) int {
			if c := cmpBool(a.Kind == resilience.KindCallEnd, b.Kind == resilience.KindCallEnd); c != 0 {
				return c
			}
			return a.Time.Compare(b.Time)
		})
		out.Items = append(out.Items, s.call(g.id, g.events))
	}
	return out
}

// call describes one call as a timeline of steps.
func (s *Server) call(id uint64, events []telemetry.RecentEvent) templates.Call {
	c := templates.Call{ID: callID(id), Outcome: "in flight", Class: "info"}
	if len(events) > 0 {
		c.Time = events[0].Time.In(s.loc).Format("15:04:05.000")
	}
	for _, e := range events {
		var st templates.Step
		switch e.Kind {
		case resilience.KindAttemptEnd:
			if e.Outcome == resilience.OutcomeSuccess {
				st = templates.Step{Text: fmt.Sprintf("attempt %d ✓ (%s)", e.Attempt, fmtDur(e.Duration)), Class: "ok"}
			} else {
				st = templates.Step{Text: fmt.Sprintf("attempt %d ✗ %s (%s)", e.Attempt, errText(e), fmtDur(e.Duration)), Class: "fail"}
			}
		case resilience.KindRetryScheduled:
			st = templates.Step{Text: "wait " + fmtDur(e.Delay), Class: "wait"}
		case resilience.KindBudgetExhausted:
			st = templates.Step{Text: "⊘ retry refused: budget spent", Class: "breaker"}
		case resilience.KindTimeout:
			st = templates.Step{Text: e.Scope.String() + " timeout", Class: "fail"}
			if e.Duration > 0 {
				st.Text += " " + fmtDur(e.Duration)
			}
		case resilience.KindRejected:
			st = templates.Step{Text: "⊘ " + strings.ReplaceAll(e.Reason.String(), "_", " "), Class: "breaker"}
			if e.Attempt > 0 {
				st.Text = fmt.Sprintf("attempt %d %s", e.Attempt, st.Text)
			}
		case resilience.KindFallback:
			st = templates.Step{Text: "↩ fallback: " + strings.ReplaceAll(e.Reason.String(), "_", " "), Class: "fallback"}
		case resilience.KindBreakerTransition:
			st = templates.Step{Text: "breaker " + e.From.String() + " → " + e.To.String(), Class: "breaker"}
		case resilience.KindCallEnd:
			c.Outcome, c.Duration = e.Outcome.String(), fmtDur(e.Duration)
			c.Class = "fail"
			if e.Outcome == resilience.OutcomeSuccess {
				c.Class = "ok"
			}
			st = templates.Step{Text: "= " + e.Outcome.String() + " (" + fmtDur(e.Duration) + ")", Class: c.Class}
		default:
			continue
		}
		c.Steps = append(c.Steps, st)
	}
	return c
}

// callID formats a call id as the counter it was counted on and its count
// there ("#0-4812", "#1-671"): the id keeps the counter's number in its top
// byte (see package internal/callid), which printed whole reads as a huge
// number beside small ones.
func callID(id uint64) string {
	return "#" + strconv.FormatUint(callid.Stripe(id), 10) + "-" + strconv.FormatUint(callid.Seq(id), 10)
}

// errText is a short form of an attempt's error, or its outcome.
func errText(e telemetry.RecentEvent) string {
	if e.Err == nil {
		return e.Outcome.String()
	}
	msg := e.Err.Error()
	if r := []rune(msg); len(r) > 80 {
		msg = string(r[:79]) + "…"
	}
	return msg
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// detailView builds the detail page of a pipeline.
func (s *Server) detailView(ps *telemetry.PipelineSnapshot, bi breakerInfo, loggedIn bool, csrf string) templates.Detail {
	d := templates.Detail{
		Tile:       s.tile(ps, bi),
		HasBreaker: bi.hasBreaker,
		Timeline:   s.timeline(ps.Breaker, ps.Bound, ps.Time),
		Latency:    s.latencyChart(ps.Hour, ps.Bound),
		Outcomes:   s.outcomeChart(ps.Hour, ps.Bound),
		Backoff:    backoffChart(ps.Totals.Backoff),
		Attempts:   attemptsChart(ps.Totals.AttemptsPerCall, bi.maxAttempts()),
		Calls:      s.calls(ps),
		SLOs:       s.pipelineSLOs(ps.Name),
		Control: templates.Control{
			Pipeline:    ps.Name,
			HasBreaker:  bi.hasBreaker && s.cfg.Controls != nil,
			LoggedIn:    loggedIn,
			CSRF:        csrf,
			Action:      "/pipelines/" + url.PathEscape(ps.Name) + "/breaker",
			Login:       "/login?next=" + url.QueryEscape("/pipelines/"+url.PathEscape(ps.Name)),
			Current:     ps.Breaker.State.String(),
			CurrentWord: stateWord(ps.Breaker.State),
		},
	}
	if ov := bi.metrics.Override; ov != nil && ov.State == ps.Breaker.State && !ov.Until.IsZero() {
		d.Control.Keep = "until " + s.clockTime(ov.Until) + ", as now"
	}
	if fh, ok := s.cfg.Controls.(FleetHeld); ok && bi.hasBreaker {
		if by, held := fh.FleetHeld(ps.Name, ""); held {
			d.Control.FleetHeld = "by " + by
			if ov := bi.metrics.Override; ov != nil {
				d.Control.FleetHeld = strings.ReplaceAll(ov.State.String(), "_", " ") + " " + d.Control.FleetHeld + ", " + ov.Actor + ": " + ov.Reason
				if !ov.Until.IsZero() {
					d.Control.FleetHeld += ", until " + s.clockTime(ov.Until)
				}
			}
		}
	}
	if bi.pipeline != nil {
		d.Policy = bi.pipeline.String()
		for _, p := range bi.pipeline.Policies() {
			d.Policies = append(d.Policies, p.String())
		}
		d.Switches = s.switches(bi.pipeline, loggedIn, csrf)
	}
	return d
}
