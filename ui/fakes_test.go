package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry"
)

const testToken = "s3cret-admin-token"

var t0 = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

// fakeStats is a hand-made Stats whose figures tests set and whose
// subscribers they notify with change.
type fakeStats struct {
	mu    sync.Mutex
	snap  telemetry.Snapshot
	subs  map[chan struct{}]struct{}
	nsubs int // subscriptions ever made
}

func newFakeStats(ps ...telemetry.PipelineSnapshot) *fakeStats {
	return &fakeStats{snap: telemetry.Snapshot{Time: t0, Pipelines: ps}, subs: map[chan struct{}]struct{}{}}
}

func (f *fakeStats) Snapshot() telemetry.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.snap
	s.Pipelines = append([]telemetry.PipelineSnapshot(nil), s.Pipelines...)
	for i := range s.Pipelines {
		s.Pipelines[i].Hour, s.Pipelines[i].Recent, s.Pipelines[i].Breaker.Transitions = telemetry.Series{}, nil, nil
	}
	return s
}

func (f *fakeStats) Pipeline(name string) (telemetry.PipelineSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.snap.Pipelines {
		if p.Name == name {
			return p, nil
		}
	}
	return telemetry.PipelineSnapshot{}, fmt.Errorf("%w %q", telemetry.ErrUnknownPipeline, name)
}

func (f *fakeStats) Subscribe() (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	f.subs[ch] = struct{}{}
	f.nsubs++
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, ch)
	}
}

// update changes a pipeline's snapshot with fn and notifies subscribers.
func (f *fakeStats) update(name string, fn func(*telemetry.PipelineSnapshot)) {
	f.mu.Lock()
	for i := range f.snap.Pipelines {
		if f.snap.Pipelines[i].Name == name {
			fn(&f.snap.Pipelines[i])
		}
	}
	f.mu.Unlock()
	f.change()
}

func (f *fakeStats) change() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (f *fakeStats) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// fakeControls records the overrides and applies them to a registry.
type fakeControls struct {
	mu   sync.Mutex
	reqs []OverrideRequest
	reg  *resilience.Registry
	err  error
}

func (f *fakeControls) Override(ctx context.Context, req OverrideRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.reqs = append(f.reqs, req)
	if f.reg == nil {
		return nil
	}
	if st, ok := req.State.Breaker(); ok {
		var until time.Time
		switch {
		case !req.Until.IsZero():
			until = req.Until
		case req.Duration > 0:
			until = t0.Add(req.Duration)
		}
		return f.reg.Override(ctx, req.Pipeline, st, req.Reason, until)
	}
	return f.reg.Auto(ctx, req.Pipeline, req.Reason)
}

func (f *fakeControls) requests() []OverrideRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]OverrideRequest(nil), f.reqs...)
}

type fakeAudit struct{ entries []AuditEntry }

func (f fakeAudit) Entries(_ context.Context, limit int) ([]AuditEntry, error) {
	return f.entries[:min(limit, len(f.entries))], nil
}

type fakeFaults struct {
	mu sync.Mutex
	ds []Downstream
}

func (f *fakeFaults) Downstreams() []Downstream {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Downstream(nil), f.ds...)
}

func (f *fakeFaults) Set(_ context.Context, name string, k Knobs) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.ds {
		if f.ds[i].Name == name {
			f.ds[i].Knobs = k
			return nil
		}
	}
	return errors.New("no such downstream")
}

// pipelineSnap is a busy pipeline: calls, retries, a failure, an open
// breaker, a recent call with two attempts and a fallback.
func pipelineSnap(name string, st resilience.State) telemetry.PipelineSnapshot {
	ps := telemetry.PipelineSnapshot{Name: name, Time: t0, Bound: t0.Add(-time.Hour)}
	w := &ps.Windows[telemetry.Window10s]
	w.Span = 10 * time.Second
	w.Counts.Calls[resilience.OutcomeSuccess] = 90
	w.Counts.Calls[resilience.OutcomeFailure] = 10
	w.Counts.Attempts[resilience.OutcomeSuccess] = 90
	w.Counts.Attempts[resilience.OutcomeFailure] = 40
	w.Counts.Retries = 30
	w.CallsPerSecond, w.RetriesPerSecond = 10, 3
	w.RejectionsPerSecond[telemetry.RejectBreakerOpen] = 0.5
	w.EffectiveSuccessRate, w.ActualSuccessRate, w.Amplification = 0.9, 90.0/130, 1.3
	w.Latency = telemetry.Percentiles{Count: 100, P50: 38 * time.Millisecond, P99: 410 * time.Millisecond}
	ps.Seconds = telemetry.Series{Start: t0.Add(-120 * time.Second), Step: time.Second}
	for i := range 120 {
		ps.Seconds.Points = append(ps.Seconds.Points, telemetry.Point{Calls: uint64(5 + i%7)})
	}
	ps.Hour = telemetry.Series{Start: t0.Add(-time.Hour), Step: 10 * time.Second}
	for i := range 360 {
		ps.Hour.Points = append(ps.Hour.Points, telemetry.Point{
			Calls: 100, Successes: uint64(80 + i%20), Attempts: 130, Rejections: 2,
			P50: time.Duration(30+i%10) * time.Millisecond, P99: time.Duration(300+i%50) * time.Millisecond,
		})
	}
	ps.Totals.Backoff = telemetry.Histogram{Count: 12, Buckets: []telemetry.HistogramBucket{
		{Lower: 100 * time.Millisecond, Upper: 104 * time.Millisecond, Count: 7},
		{Lower: 200 * time.Millisecond, Upper: 208 * time.Millisecond, Count: 5},
	}}
	ps.Totals.AttemptsPerCall = [telemetry.MaxAttemptsTracked]uint64{70, 20, 10}
	ps.Breaker = telemetry.BreakerSnapshot{State: st, Since: t0.Add(-30 * time.Second),
		Transitions: []telemetry.Transition{
			{Time: t0.Add(-10 * time.Minute), From: resilience.StateClosed, To: resilience.StateOpen, Reason: resilience.ReasonAuto},
			{Time: t0.Add(-9 * time.Minute), From: resilience.StateOpen, To: resilience.StateHalfOpen, Reason: resilience.ReasonAuto},
			{Time: t0.Add(-8 * time.Minute), From: resilience.StateHalfOpen, To: resilience.StateClosed, Reason: resilience.ReasonAuto},
			{Time: t0.Add(-30 * time.Second), From: resilience.StateClosed, To: st, Reason: resilience.ReasonAuto},
		},
		Live: &telemetry.BreakerLive{State: st, Calls: 100, FailureRate: 0.62},
	}
	at := t0.Add(-2 * time.Second)
	ps.Recent = []telemetry.RecentEvent{
		{Kind: resilience.KindAttemptStart, Time: at, Call: 4812, Attempt: 1},
		{Kind: resilience.KindAttemptEnd, Time: at, Call: 4812, Attempt: 1, Outcome: resilience.OutcomeFailure, Duration: 38 * time.Millisecond, Err: errors.New("503 Service Unavailable")},
		{Kind: resilience.KindRetryScheduled, Time: at, Call: 4812, Attempt: 1, Delay: 212 * time.Millisecond},
		{Kind: resilience.KindAttemptEnd, Time: at, Call: 4812, Attempt: 2, Outcome: resilience.OutcomeTimeout, Duration: 300 * time.Millisecond},
		{Kind: resilience.KindRejected, Time: at, Call: 4812, Attempt: 3, Reason: resilience.ReasonBreakerOpen},
		{Kind: resilience.KindFallback, Time: at, Call: 4812, Reason: resilience.ReasonFallbackStale},
		{Kind: resilience.KindCallEnd, Time: at, Call: 4812, Attempt: 3, Outcome: resilience.OutcomeSuccess, Duration: 600 * time.Millisecond},
		{Kind: resilience.KindAttemptEnd, Time: at, Call: 4813, Attempt: 1, Outcome: resilience.OutcomeSuccess, Duration: 20 * time.Millisecond},
		{Kind: resilience.KindCallEnd, Time: at, Call: 4813, Attempt: 1, Outcome: resilience.OutcomeSuccess, Duration: 20 * time.Millisecond},
	}
	return ps
}

// env is a Server mounted on echo with fakes around it.
type env struct {
	t        *testing.T
	srv      *Server
	e        *echo.Echo
	stats    *fakeStats
	controls *fakeControls
	faults   *fakeFaults
	reg      *resilience.Registry
	clock    *resiliencetest.Clock
}

// newEnv serves two pipelines, payments (with a breaker in the registry)
// and search (not in the registry), with the demo's faults on.
func newEnv(t *testing.T, mod ...func(*Config)) *env {
	t.Helper()
	clock := resiliencetest.NewClock(t0)
	reg := &resilience.Registry{}
	br, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("payments", resilience.Config{Policies: []resilience.Policy{br}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	ev := &env{
		t: t, e: echo.New(), reg: reg, clock: clock,
		stats:    newFakeStats(pipelineSnap("payments", resilience.StateOpen), pipelineSnap("search", resilience.StateClosed)),
		controls: &fakeControls{reg: reg},
		faults: &fakeFaults{ds: []Downstream{
			{Name: "payments", Description: "intermittent outages", Knobs: Knobs{ErrorRate: 0.05, LatencyMS: 40}},
		}},
	}
	cfg := Config{
		Stats: ev.stats, Registry: reg, Controls: ev.controls, Faults: ev.faults,
		Audit: fakeAudit{entries: []AuditEntry{
			{At: t0, Actor: "ana", Action: "override", Pipeline: "payments", From: "closed", To: "forced_open", Reason: "vendor incident", Until: t0.Add(time.Hour)},
		}},
		AdminToken: testToken, Title: "Fusebox · test", Clock: clock, Location: time.UTC,
	}
	for _, m := range mod {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	srv.Register(ev.e)
	ev.srv = srv
	return ev
}

// req is a request to make in a test.
type req struct {
	method, path, body string
	bearer             string
	session            string // a session cookie value
	csrf               string // X-CSRF-Token header
	form               url.Values
}

func (ev *env) do(r req) *httptest.ResponseRecorder {
	ev.t.Helper()
	var hr *http.Request
	switch {
	case r.form != nil:
		hr = httptest.NewRequest(r.method, r.path, strings.NewReader(r.form.Encode()))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		hr = httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
		if r.body != "" {
			hr.Header.Set("Content-Type", "application/json")
		}
	}
	if r.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if r.session != "" {
		hr.AddCookie(&http.Cookie{Name: sessionCookie, Value: r.session})
	}
	if r.csrf != "" {
		hr.Header.Set(csrfHeader, r.csrf)
	}
	rec := httptest.NewRecorder()
	ev.e.ServeHTTP(rec, hr)
	return rec
}

// login logs in through the form and returns the session cookie's value.
func (ev *env) login(name string) string {
	ev.t.Helper()
	rec := ev.do(req{method: http.MethodPost, path: "/login", form: url.Values{"token": {testToken}, "name": {name}, "next": {"/"}}})
	if rec.Code != http.StatusSeeOther {
		ev.t.Fatalf("POST /login: status %d, want 303; body %s", rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	ev.t.Fatal("POST /login set no session cookie")
	return ""
}
