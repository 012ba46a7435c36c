package otelexport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fusebox-dev/fusebox/internal/callid"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry"
)

var traceEpoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// autoClock is a fake clock on which a wait passes at once: NewTimer moves
// the time to the timer's deadline. The function under test moves time with
// Advance to take a duration. So a whole call, retries and timeouts
// included, runs deterministically on the calling goroutine.
type autoClock struct{ *resiliencetest.Clock }

func (c autoClock) NewTimer(d time.Duration) resilience.Timer {
	t := c.Clock.NewTimer(d)
	c.Clock.Advance(d)
	return t
}

func newTracingRecorder(t *testing.T, opts ...sdktrace.TracerProviderOption) (*Tracing, *tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(sr)}, opts...)...)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr, err := NewTracing(tp, TracingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return tr, sr, tp
}

func mustPipeline(t testing.TB, name string, clock resilience.Clock, obs resilience.Observer, policies ...resilience.Policy) *resilience.Pipeline {
	t.Helper()
	p, err := resilience.New(name, resilience.Config{Policies: policies, Observers: []resilience.Observer{obs}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRetry(t testing.TB, attempts int) *resilience.Retry {
	t.Helper()
	r, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: attempts,
		Backoff:     resilience.BackoffConfig{Base: 100 * time.Millisecond, Jitter: resilience.JitterNone},
		Budget:      resilience.BudgetConfig{Disabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustTimeout(t testing.TB, d time.Duration) *resilience.Timeout {
	t.Helper()
	to, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// attrs returns a span's or event's attributes as a map of their values.
func attrs(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

func onlySpan(t *testing.T, sr *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("ended spans named %q: %d, want 1", name, len(found))
	}
	return found[0]
}

type wantEvent struct {
	name  string
	at    time.Duration // after the call's start
	attrs map[string]any
}

func checkEvents(t *testing.T, span sdktrace.ReadOnlySpan, start time.Time, want []wantEvent) {
	t.Helper()
	got := span.Events()
	if len(got) != len(want) {
		var names []string
		for _, e := range got {
			names = append(names, e.Name)
		}
		t.Fatalf("span events %v, want %d events", names, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name {
			t.Errorf("event %d: name %q, want %q", i, g.Name, w.name)
		}
		if at := g.Time.Sub(start); at != w.at {
			t.Errorf("event %d (%s): at +%v, want +%v", i, w.name, at, w.at)
		}
		ga := attrs(g.Attributes)
		for k, v := range w.attrs {
			if ga[k] != v {
				t.Errorf("event %d (%s): attribute %s = %v (%T), want %v (%T)", i, w.name, k, ga[k], ga[k], v, v)
			}
		}
	}
}

func TestTracingRecordsACallWithRetriesAndATimeoutAsOneSpan(t *testing.T) {
	tr, sr, tp := newTracingRecorder(t)
	clock := autoClock{resiliencetest.NewClock(traceEpoch)}
	p := mustPipeline(t, "payments", clock, tr, mustRetry(t, 3), mustTimeout(t, 50*time.Millisecond))

	ctx, caller := tp.Tracer("test").Start(context.Background(), "caller")
	attempt := 0
	err := resilience.Run(ctx, p, func(ctx context.Context) error {
		attempt++
		switch attempt {
		case 1: // hangs until the attempt timeout cuts it
			clock.Advance(50 * time.Millisecond)
			<-ctx.Done()
			return ctx.Err()
		case 2:
			clock.Advance(10 * time.Millisecond)
			return errors.New("connection reset")
		default:
			clock.Advance(5 * time.Millisecond)
			return nil
		}
	})
	caller.End()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	span := onlySpan(t, sr, SpanCall)
	if got, want := span.Parent().SpanID(), caller.SpanContext().SpanID(); got != want {
		t.Errorf("parent span %v, want the caller's %v", got, want)
	}
	if got, want := span.SpanContext().TraceID(), caller.SpanContext().TraceID(); got != want {
		t.Errorf("trace %v, want the caller's %v", got, want)
	}
	if span.SpanKind() != trace.SpanKindInternal {
		t.Errorf("span kind %v, want internal", span.SpanKind())
	}
	if !span.StartTime().Equal(traceEpoch) {
		t.Errorf("span starts at %v, want %v", span.StartTime(), traceEpoch)
	}
	if got := span.EndTime().Sub(span.StartTime()); got != 365*time.Millisecond {
		t.Errorf("span lasts %v, want 365ms", got)
	}
	if span.Status().Code != codes.Unset {
		t.Errorf("status %v %q, want unset for a success", span.Status().Code, span.Status().Description)
	}
	sa := attrs(span.Attributes())
	for k, v := range map[string]any{AttrPipeline: "payments", AttrOutcome: "success", AttrAttempts: int64(3)} {
		if sa[k] != v {
			t.Errorf("span attribute %s = %v, want %v", k, sa[k], v)
		}
	}
	if id, ok := sa[AttrCall].(int64); !ok || id <= 0 {
		t.Errorf("span attribute %s = %v, want the call's id", AttrCall, sa[AttrCall])
	}
	checkEvents(t, span, traceEpoch, []wantEvent{
		{EventAttempt, 50 * time.Millisecond, map[string]any{AttrAttempt: int64(1), AttrOutcome: "timeout", AttrDuration: 50.0}},
		{EventTimeout, 50 * time.Millisecond, map[string]any{AttrAttempt: int64(1), AttrTimeoutScope: "attempt", AttrTimeout: 50.0}},
		{EventRetryScheduled, 50 * time.Millisecond, map[string]any{AttrAttempt: int64(1), AttrRetryDelay: 100.0}},
		{EventAttempt, 160 * time.Millisecond, map[string]any{AttrAttempt: int64(2), AttrOutcome: "failure", AttrDuration: 10.0,
			AttrErrorType: "*errors.errorString", AttrErrorMessage: "connection reset"}},
		{EventRetryScheduled, 160 * time.Millisecond, map[string]any{AttrAttempt: int64(2), AttrRetryDelay: 200.0}},
		{EventAttempt, 365 * time.Millisecond, map[string]any{AttrAttempt: int64(3), AttrOutcome: "success", AttrDuration: 5.0}},
	})
	if n := tr.OpenCalls("payments"); n != 0 {
		t.Errorf("open calls after the call ended: %d, want 0", n)
	}
}

func TestTracingSetsTheStatusFromTheOutcome(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name        string
		policies    func(t *testing.T) []resilience.Policy
		fn          func(ctx context.Context, clock autoClock, cancel context.CancelFunc) error
		wantOutcome string
		wantStatus  codes.Code
		wantDesc    string
	}{
		{
			name:        "a success leaves the status unset",
			policies:    func(t *testing.T) []resilience.Policy { return nil },
			fn:          func(context.Context, autoClock, context.CancelFunc) error { return nil },
			wantOutcome: "success", wantStatus: codes.Unset,
		},
		{
			name:     "a failure after retries is an error described by the retry error",
			policies: func(t *testing.T) []resilience.Policy { return []resilience.Policy{mustRetry(t, 2)} },
			fn: func(context.Context, autoClock, context.CancelFunc) error {
				return boom
			},
			wantOutcome: "failure", wantStatus: codes.Error,
			wantDesc: "resilience: gave up after 2 attempt(s) (max attempts): boom",
		},
		{
			name:     "a call timeout is an error",
			policies: func(t *testing.T) []resilience.Policy { return []resilience.Policy{mustTimeout(t, time.Second)} },
			fn: func(ctx context.Context, clock autoClock, _ context.CancelFunc) error {
				clock.Advance(time.Second)
				<-ctx.Done()
				return ctx.Err()
			},
			wantOutcome: "timeout", wantStatus: codes.Error,
			wantDesc: "resilience: call timed out after 1s",
		},
		{
			name:     "the caller's cancellation is an error",
			policies: func(t *testing.T) []resilience.Policy { return nil },
			fn: func(ctx context.Context, _ autoClock, cancel context.CancelFunc) error {
				cancel()
				return ctx.Err()
			},
			wantOutcome: "canceled", wantStatus: codes.Error, wantDesc: "context canceled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, sr, _ := newTracingRecorder(t)
			clock := autoClock{resiliencetest.NewClock(traceEpoch)}
			p := mustPipeline(t, "inventory", clock, tr, tt.policies(t)...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_ = resilience.Run(ctx, p, func(ctx context.Context) error { return tt.fn(ctx, clock, cancel) })
			span := onlySpan(t, sr, SpanCall)
			if got := attrs(span.Attributes())[AttrOutcome]; got != tt.wantOutcome {
				t.Errorf("outcome %v, want %s", got, tt.wantOutcome)
			}
			if st := span.Status(); st.Code != tt.wantStatus || st.Description != tt.wantDesc {
				t.Errorf("status %v %q, want %v %q", st.Code, st.Description, tt.wantStatus, tt.wantDesc)
			}
		})
	}
}

func TestTracingRecordsABulkheadRejection(t *testing.T) {
	tr, sr, _ := newTracingRecorder(t)
	clock := resiliencetest.NewClock(traceEpoch)
	bh, err := resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPipeline(t, "search", clock, tr, bh)

	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- resilience.Run(context.Background(), p, func(context.Context) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	err = resilience.Run(context.Background(), p, func(context.Context) error { return nil })
	close(release)
	if err2 := <-done; err2 != nil {
		t.Fatalf("first call: %v", err2)
	}
	if !errors.Is(err, resilience.ErrBulkheadFull) {
		t.Fatalf("second call: %v, want ErrBulkheadFull", err)
	}

	var rejected sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if attrs(s.Attributes())[AttrOutcome] == "rejected" {
			rejected = s
		}
	}
	if rejected == nil {
		t.Fatalf("no span of a rejected call among %d spans", len(sr.Ended()))
	}
	if st := rejected.Status(); st.Code != codes.Error || st.Description != resilience.ErrBulkheadFull.Error() {
		t.Errorf("status %v %q, want error %q", st.Code, st.Description, resilience.ErrBulkheadFull)
	}
	checkEvents(t, rejected, traceEpoch, []wantEvent{
		{EventRejected, 0, map[string]any{AttrAttempt: int64(1), AttrReason: "bulkhead_full"}},
	})
}

func TestTracingRecordsEventsNoPolicyEmitsYet(t *testing.T) {
	// Breaker transitions and fallbacks come from policies of their own;
	// these events are what those policies emit.
	tr, sr, tp := newTracingRecorder(t)
	obs, err := tr.Bind("orders")
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) time.Time { return traceEpoch.Add(d) }
	ctx := context.Background()
	call := func(e resilience.Event) resilience.Event { e.Pipeline, e.Call = "orders", 7; return e }
	for _, e := range []resilience.Event{
		{Kind: resilience.KindBreakerTransition, Attempt: 1, From: resilience.StateOpen, To: resilience.StateHalfOpen, Reason: resilience.ReasonAuto, Time: at(0)},
		{Kind: resilience.KindAttemptStart, Attempt: 1, Time: at(0)},
		{Kind: resilience.KindAttemptEnd, Attempt: 1, Outcome: resilience.OutcomeFailure, Duration: 20 * time.Millisecond, Err: errors.New("503"), Time: at(20 * time.Millisecond)},
		{Kind: resilience.KindBreakerTransition, Attempt: 1, From: resilience.StateHalfOpen, To: resilience.StateOpen, Reason: resilience.ReasonAuto, Time: at(20 * time.Millisecond)},
		{Kind: resilience.KindBudgetExhausted, Attempt: 1, Reason: resilience.ReasonRetryBudget, Time: at(20 * time.Millisecond)},
		{Kind: resilience.KindFallback, Attempt: 1, Reason: resilience.ReasonFallbackStale, Time: at(21 * time.Millisecond)},
		{Kind: resilience.KindCallEnd, Attempt: 1, Outcome: resilience.OutcomeSuccess, Duration: 21 * time.Millisecond, Time: at(21 * time.Millisecond)},
	} {
		obs.Observe(ctx, call(e))
	}

	// An operator's override happens outside any call, under the span of
	// the request that made it.
	opCtx, op := tp.Tracer("test").Start(ctx, "PUT /api/v1/pipelines/{name}/breaker")
	obs.Observe(opCtx, resilience.Event{Kind: resilience.KindBreakerTransition, Pipeline: "orders",
		From: resilience.StateOpen, To: resilience.StateForcedClosed, Reason: resilience.ReasonManual,
		Actor: "alice", Message: "downstream fixed", Time: at(time.Minute)})
	op.End()
	// Without a span in the context it goes nowhere, and nothing fails.
	obs.Observe(ctx, resilience.Event{Kind: resilience.KindBreakerTransition, Pipeline: "orders",
		From: resilience.StateForcedClosed, To: resilience.StateClosed, Reason: resilience.ReasonManual, Time: at(2 * time.Minute)})

	span := onlySpan(t, sr, SpanCall)
	if !span.StartTime().Equal(traceEpoch) {
		t.Errorf("the span starts at %v, want the first event's time %v", span.StartTime(), traceEpoch)
	}
	checkEvents(t, span, traceEpoch, []wantEvent{
		{EventBreakerTransition, 0, map[string]any{AttrBreakerFrom: "open", AttrBreakerTo: "half_open", AttrReason: "auto"}},
		{EventAttempt, 20 * time.Millisecond, map[string]any{AttrAttempt: int64(1), AttrOutcome: "failure", AttrErrorMessage: "503"}},
		{EventBreakerTransition, 20 * time.Millisecond, map[string]any{AttrBreakerFrom: "half_open", AttrBreakerTo: "open", AttrReason: "auto"}},
		{EventBudgetExhausted, 20 * time.Millisecond, map[string]any{AttrAttempt: int64(1), AttrReason: "retry_budget"}},
		{EventFallback, 21 * time.Millisecond, map[string]any{AttrReason: "stale_cache"}},
	})
	checkEvents(t, onlySpan(t, sr, "PUT /api/v1/pipelines/{name}/breaker"), traceEpoch, []wantEvent{
		{EventBreakerTransition, time.Minute, map[string]any{AttrBreakerFrom: "open", AttrBreakerTo: "forced_closed",
			AttrReason: "manual", AttrBreakerActor: "alice", AttrBreakerMessage: "downstream fixed"}},
	})
	if n := len(sr.Ended()); n != 2 {
		t.Errorf("%d spans ended, want 2", n)
	}
}

func TestTracingBoundsOpenCallsWhoseIdsComeFromSeveralCounters(t *testing.T) {
	// A call counted on a lagging counter has a smaller id than the open
	// calls it joins: the bound holds all the same.
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr, err := NewTracing(tp, TracingConfig{MaxOpenCalls: numCallShards})
	if err != nil {
		t.Fatal(err)
	}
	o, err := tr.Bind("flaky")
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []uint64{callid.Make(7, 1), callid.Make(3, 1), callid.Make(0, 1)} {
		o.Observe(context.Background(), resilience.Event{Kind: resilience.KindAttemptStart, Pipeline: "flaky", Call: id, Attempt: 1, Time: traceEpoch})
		if n := tr.OpenCalls("flaky"); n != 1 {
			t.Fatalf("open calls after the start of call %d of one shard: %d, want the bound 1", i+1, n)
		}
	}
	if n := len(sr.Ended()); n != 2 {
		t.Errorf("%d abandoned spans ended, want 2", n)
	}
}

func TestTracingBoundsTheCallsWhoseEndNeverArrives(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr, err := NewTracing(tp, TracingConfig{MaxOpenCalls: 32})
	if err != nil {
		t.Fatal(err)
	}
	clock := autoClock{resiliencetest.NewClock(traceEpoch)}
	p := mustPipeline(t, "flaky", clock, tr)

	panicking := func() {
		defer func() { _ = recover() }()
		_ = resilience.Run(context.Background(), p, func(context.Context) error { panic("downstream client bug") })
	}
	panicking()
	if n := tr.OpenCalls("flaky"); n != 1 {
		t.Fatalf("open calls after a panic: %d, want 1", n)
	}
	for range 200 {
		panicking()
	}
	if n := tr.OpenCalls("flaky"); n != 32 {
		t.Errorf("open calls after 201 panics: %d, want the bound 32", n)
	}
	ended := sr.Ended()
	if len(ended) != 201-32 {
		t.Fatalf("%d abandoned spans ended, want %d", len(ended), 201-32)
	}
	for _, s := range ended {
		if attrs(s.Attributes())[AttrAbandoned] != true || s.Status().Code != codes.Error {
			t.Fatalf("evicted span has attributes %v and status %v; want abandoned and error", attrs(s.Attributes()), s.Status())
		}
	}
	// The oldest calls go first: the first evicted has the smallest id of
	// the calls counted on its counter (see package internal/callid).
	first := attrs(ended[0].Attributes())[AttrCall].(int64)
	for _, s := range ended[1:] {
		if id := attrs(s.Attributes())[AttrCall].(int64); callid.Stripe(uint64(id)) == callid.Stripe(uint64(first)) && id < first {
			t.Errorf("call %d was evicted after call %d", id, first)
		}
	}
	// Calls that end keep working beside the abandoned ones.
	if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	last := sr.Ended()[len(sr.Ended())-1]
	if attrs(last.Attributes())[AttrOutcome] != "success" {
		t.Errorf("the last span has attributes %v, want a success", attrs(last.Attributes()))
	}
}

func TestTracingEndsASpanWhoseStartWasEvicted(t *testing.T) {
	tr, sr, _ := newTracingRecorder(t)
	obs, err := tr.Bind("late")
	if err != nil {
		t.Fatal(err)
	}
	obs.Observe(context.Background(), resilience.Event{Kind: resilience.KindCallEnd, Pipeline: "late", Call: 3,
		Attempt: 2, Outcome: resilience.OutcomeFailure, Duration: 300 * time.Millisecond, Time: traceEpoch})
	span := onlySpan(t, sr, SpanCall)
	if got := span.StartTime(); !got.Equal(traceEpoch.Add(-300 * time.Millisecond)) {
		t.Errorf("span starts at %v, want the call's start %v", got, traceEpoch.Add(-300*time.Millisecond))
	}
	if span.Status().Code != codes.Error || span.Status().Description != "failure" {
		t.Errorf("status %v, want error \"failure\"", span.Status())
	}
}

func TestTracingMakesRootSpansWithoutACallerSpan(t *testing.T) {
	tr, sr, _ := newTracingRecorder(t)
	p := mustPipeline(t, "root", autoClock{resiliencetest.NewClock(traceEpoch)}, tr)
	if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if span := onlySpan(t, sr, SpanCall); span.Parent().IsValid() {
		t.Errorf("parent %v, want none", span.Parent())
	}
}

func TestTracingWithTheSamplerOffKeepsNothing(t *testing.T) {
	tr, sr, _ := newTracingRecorder(t, sdktrace.WithSampler(sdktrace.NeverSample()))
	p := mustPipeline(t, "quiet", autoClock{resiliencetest.NewClock(traceEpoch)}, tr, mustRetry(t, 2))
	for range 10 {
		_ = resilience.Run(context.Background(), p, func(context.Context) error { return errors.New("no") })
	}
	if n := len(sr.Ended()); n != 0 {
		t.Errorf("%d spans recorded, want 0", n)
	}
	if n := tr.OpenCalls("quiet"); n != 0 {
		t.Errorf("%d open calls, want 0", n)
	}
}

func TestTracingRejectsBadInput(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tests := []struct {
		name string
		tp   trace.TracerProvider
		cfg  TracingConfig
		want string
	}{
		{"a nil provider is an error", nil, TracingConfig{}, "TracerProvider must not be nil"},
		{"a negative bound is an error naming it", tp, TracingConfig{MaxOpenCalls: -1}, "MaxOpenCalls = -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTracing(tt.tp, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	t.Run("binding a pipeline twice is an error", func(t *testing.T) {
		tr, err := NewTracing(tp, TracingConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := resilience.New("twice", resilience.Config{Observers: []resilience.Observer{tr}}); err != nil {
			t.Fatal(err)
		}
		_, err = resilience.New("twice", resilience.Config{Observers: []resilience.Observer{tr}})
		if !errors.Is(err, telemetry.ErrAlreadyBound) || !strings.Contains(err.Error(), `"twice"`) {
			t.Errorf("second pipeline: %v, want an already-bound error", err)
		}
	})
}

func TestTracingOffObservesNothing(t *testing.T) {
	var nilTracing *Tracing
	tr, err := NewTracing(noop.NewTracerProvider(), TracingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		tr   *Tracing
	}{{"a nil tracing", nilTracing}, {"a tracing on a no-op provider", tr}} {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := tt.tr.Bind("p")
			if err != nil {
				t.Fatal(err)
			}
			e := resilience.Event{Kind: resilience.KindAttemptStart, Pipeline: "p", Call: 1, Attempt: 1}
			obs.Observe(context.Background(), e)
			tt.tr.Observe(context.Background(), e)
			if n := tt.tr.OpenCalls("p"); n != 0 {
				t.Errorf("open calls %d, want 0", n)
			}
			if allocs := testing.AllocsPerRun(100, func() { obs.Observe(context.Background(), e) }); allocs != 0 {
				t.Errorf("%v allocations per event, want 0", allocs)
			}
		})
	}
}

func TestTracingUnderConcurrentCalls(t *testing.T) {
	tr, sr, _ := newTracingRecorder(t)
	clock := resiliencetest.NewClock(traceEpoch)
	const pipelines, workers, calls = 3, 8, 200
	ps := make([]*resilience.Pipeline, pipelines)
	for i := range ps {
		ps[i] = mustPipeline(t, fmt.Sprintf("p%d", i), clock, tr, mustRetry(t, 2))
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				p := ps[(w+i)%pipelines]
				n := 0
				_ = resilience.Run(context.Background(), p, func(context.Context) error {
					n++
					if i%5 == 0 && n == 1 {
						return resilience.RetryAfterError(errors.New("busy"), 0)
					}
					return nil
				})
			}
		})
	}
	// Retries wait on the fake clock: keep it moving until all are done.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			clock.Advance(time.Second)
		}
	}
	spans := sr.Ended()
	if len(spans) != workers*calls {
		t.Errorf("%d spans, want %d", len(spans), workers*calls)
	}
	seen := make(map[string]bool)
	for _, s := range spans {
		a := attrs(s.Attributes())
		key := fmt.Sprintf("%v/%v", a[AttrPipeline], a[AttrCall])
		if seen[key] {
			t.Fatalf("two spans for call %s", key)
		}
		seen[key] = true
	}
	for _, p := range ps {
		if n := tr.OpenCalls(p.Name()); n != 0 {
			t.Errorf("pipeline %s: %d open calls, want 0", p.Name(), n)
		}
	}
}

func TestTracingAndMetricsFollowABreakerOverride(t *testing.T) {
	clock := autoClock{resiliencetest.NewClock(traceEpoch)}
	agg, err := telemetry.NewAggregator(telemetry.AggregatorConfig{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	tr, sr, tp := newTracingRecorder(t)
	br, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("ledger", resilience.Config{
		Policies:  []resilience.Policy{br},
		Observers: []resilience.Observer{agg, tr},
		Clock:     clock,
	})
	if err != nil {
		t.Fatal(err)
	}

	opCtx, op := tp.Tracer("test").Start(resilience.WithActor(context.Background(), "alice"), "override")
	if err := br.Override(opCtx, resilience.StateForcedOpen, "maintenance", time.Time{}); err != nil {
		t.Fatal(err)
	}
	op.End()
	err = resilience.Run(context.Background(), p, func(context.Context) error { return nil })
	if !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("Run while forced open: %v, want ErrOpen", err)
	}

	checkEvents(t, onlySpan(t, sr, "override"), traceEpoch, []wantEvent{
		{EventBreakerTransition, 0, map[string]any{AttrBreakerFrom: "closed", AttrBreakerTo: "forced_open",
			AttrReason: "manual", AttrBreakerActor: "alice", AttrBreakerMessage: "maintenance"}},
	})
	call := onlySpan(t, sr, SpanCall)
	if st := call.Status(); st.Code != codes.Error || st.Description != resilience.ErrOpen.Error() {
		t.Errorf("status %v, want error %q", st, resilience.ErrOpen)
	}
	if got := attrs(call.Attributes())[AttrOutcome]; got != "rejected" {
		t.Errorf("outcome %v, want rejected", got)
	}
	checkEvents(t, call, traceEpoch, []wantEvent{
		{EventRejected, 0, map[string]any{AttrAttempt: int64(1), AttrReason: "breaker_open"}},
	})

	got := otelValues(t, collectOTel(t, agg))
	for k, v := range map[string]float64{
		"fusebox.breaker.state{pipeline=ledger,state=forced_open}":                              1,
		"fusebox.breaker.state{pipeline=ledger,state=closed}":                                   0,
		"fusebox.breaker.transitions{from=closed,pipeline=ledger,reason=manual,to=forced_open}": 1,
		"fusebox.rejections{pipeline=ledger,reason=breaker_open}":                               1,
		"fusebox.calls{outcome=rejected,pipeline=ledger}":                                       1,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}
