package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry/internal/calltest"
)

var epoch = calltest.Epoch

func newTestAggregator(t testing.TB, cfg AggregatorConfig) (*Aggregator, *resiliencetest.Clock) {
	t.Helper()
	clock := resiliencetest.NewClock(epoch)
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	a, err := NewAggregator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, clock
}

func mustBind(t testing.TB, a *Aggregator, name string) resilience.Observer {
	t.Helper()
	return calltest.Bind(t, a, name)
}

func mustSnapshot(t testing.TB, a *Aggregator, name string) PipelineSnapshot {
	t.Helper()
	s, err := a.Pipeline(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// call emits the events of one call with the given attempt outcomes; the
// call ends with the last one.
func call(o resilience.Observer, id uint64, at time.Time, d time.Duration, outcomes ...resilience.Outcome) {
	calltest.Call(o, id, at, d, outcomes...)
}

func TestAggregatorRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, a *Aggregator) error
		want error
		text string
	}{
		{"binding a name twice is an error", func(t *testing.T, a *Aggregator) error {
			mustBind(t, a, "db")
			_, err := a.Bind("db")
			return err
		}, ErrAlreadyBound, `"db"`},
		{"binding an empty name is an error", func(t *testing.T, a *Aggregator) error {
			_, err := a.Bind(" ")
			return err
		}, nil, "must not be empty"},
		{"asking for an unknown pipeline is a not-found error", func(t *testing.T, a *Aggregator) error {
			_, err := a.Pipeline("nope")
			return err
		}, ErrUnknownPipeline, `"nope"`},
		{"a shard count that is not a power of two is an error", func(t *testing.T, a *Aggregator) error {
			_, err := NewAggregator(AggregatorConfig{Shards: 3})
			return err
		}, nil, "AggregatorConfig.Shards = 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newTestAggregator(t, AggregatorConfig{})
			err := tt.run(t, a)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if !containsStr(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

func containsStr(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || containsStr(s[1:], sub)))
}

func TestAggregatorIsBoundOncePerPipelineByTheCore(t *testing.T) {
	a, clock := newTestAggregator(t, AggregatorConfig{})
	p, err := resilience.New("api", resilience.Config{Observers: []resilience.Observer{a}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := resilience.New("api", resilience.Config{Observers: []resilience.Observer{a}, Clock: clock}); !errors.Is(err, ErrAlreadyBound) {
		t.Errorf("second pipeline of the same name: err = %v, want ErrAlreadyBound", err)
	}
	s := mustSnapshot(t, a, "api")
	if got := s.Totals.Calls[resilience.OutcomeSuccess]; got != 1 {
		t.Errorf("successful calls = %d, want 1 (no double counting)", got)
	}
}

func TestAFoldedLastAttemptCountsAndShowsAsItsOwnEvent(t *testing.T) {
	// The pipeline folds the last attempt of each call into the call's
	// end for the bound aggregator; the same events, each on its own,
	// reach the reference through a plain observer.
	a, err := NewAggregator(AggregatorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewAggregator(AggregatorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mustBind(t, ref, "api")
	plain := resilience.ObserverFunc(func(ctx context.Context, e resilience.Event) { ref.Observe(ctx, e) })
	retry, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 3, Backoff: resilience.BackoffConfig{Base: 1, Max: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("api", resilience.Config{Policies: []resilience.Policy{retry}, Observers: []resilience.Observer{a, plain}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, failures := range []int{0, 1, 5, 0} {
		_ = resilience.Run(context.Background(), p, func(context.Context) error {
			if n++; failures > 0 {
				failures--
				return errors.New("unavailable")
			}
			return nil
		})
	}
	got, want := mustSnapshot(t, a, "api"), mustSnapshot(t, ref, "api")
	if got.Totals.Counts != want.Totals.Counts {
		t.Errorf("counts with the last attempt folded = %+v, want %+v", got.Totals.Counts, want.Totals.Counts)
	}
	if got.Totals.Attempts[resilience.OutcomeSuccess] != 3 || got.Totals.Attempts[resilience.OutcomeFailure] != 4 {
		t.Errorf("attempts = %v, want 3 successes and 4 failures", got.Totals.Attempts)
	}
	if !slices.Equal(got.Recent, want.Recent) {
		t.Errorf("recent events with the last attempt folded:\n%+v\nwant\n%+v", got.Recent, want.Recent)
	}
}

func TestAggregatorSeparatesEffectiveFromActualSuccess(t *testing.T) {
	a, clock := newTestAggregator(t, AggregatorConfig{})
	o := mustBind(t, a, "db")
	ok, fail := resilience.OutcomeSuccess, resilience.OutcomeFailure
	// 4 calls: one clean success, two that succeed on retry, one that fails
	// three times: 4 calls, 8 attempts, 3 successful calls, 3 successful attempts.
	call(o, 1, epoch, time.Millisecond, ok)
	call(o, 2, epoch, time.Millisecond, fail, ok)
	call(o, 3, epoch, time.Millisecond, fail, ok)
	call(o, 4, epoch, time.Millisecond, fail, fail, fail)
	clock.Advance(500 * time.Millisecond)
	s := mustSnapshot(t, a, "db")
	w := s.Windows[Window10s]
	checks := []struct {
		name      string
		got, want float64
	}{
		{"effective success rate", w.EffectiveSuccessRate, 0.75},
		{"actual success rate", w.ActualSuccessRate, 3.0 / 8},
		{"retry amplification", w.Amplification, 2},
		{"calls per second", w.CallsPerSecond, 0.4},
		{"retries per second", w.RetriesPerSecond, 0.4},
		{"total effective rate", s.Totals.EffectiveSuccessRate(), 0.75},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if got := s.Totals.AttemptsPerCall[:3]; !slices.Equal(got, []uint64{1, 2, 1}) {
		t.Errorf("attempts per call = %v, want [1 2 1]", got)
	}
	if s.Totals.Backoff.Count != 4 || s.Totals.Backoff.Sum != 400*time.Millisecond {
		t.Errorf("backoff = %d delays summing %v, want 4 summing 400ms", s.Totals.Backoff.Count, s.Totals.Backoff.Sum)
	}
}

func TestAggregatorRollsWindowsOverWithTheClock(t *testing.T) {
	a, clock := newTestAggregator(t, AggregatorConfig{})
	o := mustBind(t, a, "db")
	// One call per second for 6 minutes.
	for i := range 360 {
		call(o, uint64(i+1), epoch.Add(time.Duration(i)*time.Second), time.Duration(i+1)*time.Millisecond, resilience.OutcomeSuccess)
	}
	clock.Advance(359 * time.Second)
	s := mustSnapshot(t, a, "db")
	for _, tt := range []struct {
		w    Window
		want uint64
	}{{Window10s, 10}, {Window1m, 60}, {Window5m, 300}} {
		if got := s.Windows[tt.w].Counts.CallCount(); got != tt.want {
			t.Errorf("%v window: %d calls, want %d", tt.w, got, tt.want)
		}
	}
	if got := s.Totals.CallCount(); got != 360 {
		t.Errorf("total calls = %d, want 360", got)
	}
	if n := len(s.Seconds.Points); n != sparkSeconds {
		t.Fatalf("per-second series has %d points, want %d", n, sparkSeconds)
	}
	for i, p := range s.Seconds.Points {
		if p.Calls != 1 {
			t.Fatalf("second %d of the series: %d calls, want 1", i, p.Calls)
		}
	}
	if want := epoch.Add(240 * time.Second); !s.Seconds.Start.Equal(want) {
		t.Errorf("series starts at %v, want %v", s.Seconds.Start, want)
	}
	var hourCalls uint64
	for _, p := range s.Hour.Points {
		hourCalls += p.Calls
	}
	if hourCalls != 360 {
		t.Errorf("hour series holds %d calls, want 360", hourCalls)
	}
	// The 10 s latency window holds the slot in progress (seconds 350-359)
	// and the one before (340-349): calls of 341-360 ms.
	if p := s.Windows[Window10s].Latency; p.Count != 20 || p.P50 < 343*time.Millisecond || p.P50 > 357*time.Millisecond {
		t.Errorf("10s latency = %+v, want 20 calls, p50 about 350ms", p)
	}
	// Ten minutes of silence empty every window but not the totals.
	clock.Advance(10 * time.Minute)
	s = mustSnapshot(t, a, "db")
	for w := range NumWindows {
		if got := s.Windows[w].Counts.CallCount(); got != 0 {
			t.Errorf("%v window after silence: %d calls, want 0", w, got)
		}
	}
	if got := s.Totals.CallCount(); got != 360 {
		t.Errorf("total calls after silence = %d, want 360", got)
	}
}

func TestAggregatorCountsRejectionsTimeoutsAndFallbacks(t *testing.T) {
	a, clock := newTestAggregator(t, AggregatorConfig{})
	o := mustBind(t, a, "db")
	ctx := context.Background()
	for _, e := range []resilience.Event{
		{Kind: resilience.KindRejected, Reason: resilience.ReasonBreakerOpen},
		{Kind: resilience.KindRejected, Reason: resilience.ReasonBreakerOpen},
		{Kind: resilience.KindRejected, Reason: resilience.ReasonBulkheadFull},
		{Kind: resilience.KindBudgetExhausted, Reason: resilience.ReasonRetryBudget},
		{Kind: resilience.KindRejected, Reason: resilience.ReasonRateLimited},
		{Kind: resilience.KindRejected, Reason: resilience.ReasonRateLimited},
		{Kind: resilience.KindRejected, Reason: resilience.ReasonRateLimited},
		{Kind: resilience.KindRejected, Reason: resilience.ReasonLimitExceeded},
		{Kind: resilience.KindRejected, Reason: resilience.ReasonLimitExceeded},
		{Kind: resilience.KindRejected, Reason: resilience.ReasonLimitExceeded},
		{Kind: resilience.KindRejected, Reason: resilience.ReasonLimitExceeded},
		{Kind: resilience.KindTimeout, Scope: resilience.ScopeAttempt},
		{Kind: resilience.KindTimeout, Scope: resilience.ScopeCall},
		{Kind: resilience.KindTimeout, Scope: resilience.ScopeCall},
		{Kind: resilience.KindFallback, Reason: resilience.ReasonFallbackFunc},
		{Kind: resilience.KindTimeout, Scope: 7},            // bad scope: ignored, no panic
		{Kind: resilience.KindCallEnd, Outcome: 9, Call: 2}, // bad outcome: ignored
	} {
		e.Time = epoch
		o.Observe(ctx, e)
	}
	clock.Advance(time.Second)
	s := mustSnapshot(t, a, "db")
	want := Counts{Rejections: [NumRejections]uint64{2, 1, 1, 3, 4}, Timeouts: [NumScopes]uint64{2, 1}, Fallbacks: 1}
	if s.Totals.Counts != want {
		t.Errorf("totals = %+v, want %+v", s.Totals.Counts, want)
	}
	for w := range NumWindows {
		if got := s.Windows[w].Counts; got != want {
			t.Errorf("%s window counts = %+v, want %+v", w, got, want)
		}
	}
	if got := s.Windows[Window10s].RejectionsPerSecond[RejectBreakerOpen]; got != 0.2 {
		t.Errorf("breaker rejections per second = %v, want 0.2", got)
	}
	if got := s.Windows[Window10s].RejectionsPerSecond[RejectConcurrencyLimit]; got != 0.4 {
		t.Errorf("concurrency limit rejections per second = %v, want 0.4", got)
	}
	if got := RejectConcurrencyLimit.String(); got != "concurrency_limit" {
		t.Errorf("the reason's label is %q, want concurrency_limit", got)
	}
	hour, err := a.Pipeline("db")
	if err != nil {
		t.Fatal(err)
	}
	var rejected uint64
	for _, p := range hour.Hour.Points {
		rejected += p.Rejections
	}
	if rejected != 11 {
		t.Errorf("the hour series counts %d rejections, want all 11", rejected)
	}
}

func TestAggregatorFollowsTheBreaker(t *testing.T) {
	a, clock := newTestAggregator(t, AggregatorConfig{})
	o := mustBind(t, a, "db")
	ctx := context.Background()
	tr := func(at time.Duration, from, to resilience.State, r resilience.Reason, actor string) {
		o.Observe(ctx, resilience.Event{Kind: resilience.KindBreakerTransition, From: from, To: to, Reason: r,
			Actor: actor, Message: "maintenance", Time: epoch.Add(at)})
	}
	tr(10*time.Second, resilience.StateClosed, resilience.StateOpen, resilience.ReasonAuto, "")
	tr(40*time.Second, resilience.StateOpen, resilience.StateHalfOpen, resilience.ReasonAuto, "")
	tr(41*time.Second, resilience.StateHalfOpen, resilience.StateClosed, resilience.ReasonAuto, "")
	tr(50*time.Second, resilience.StateClosed, resilience.StateForcedOpen, resilience.ReasonManual, "alice")
	clock.Advance(60 * time.Second)
	s := mustSnapshot(t, a, "db")
	b := s.Breaker
	if b.State != resilience.StateForcedOpen || !b.Since.Equal(epoch.Add(50*time.Second)) {
		t.Errorf("state %v since %v, want forced_open since +50s", b.State, b.Since)
	}
	want := [resilience.NumStates]time.Duration{19 * time.Second, 30 * time.Second, time.Second, 10 * time.Second, 0}
	if b.TimeInState != want {
		t.Errorf("time in state = %v, want %v", b.TimeInState, want)
	}
	if len(b.Transitions) != 4 || b.Transitions[3].Actor != "alice" || b.Transitions[3].Message != "maintenance" {
		t.Errorf("timeline = %+v, want 4 transitions, the last by alice", b.Transitions)
	}
	if len(b.TransitionCounts) != 4 {
		t.Errorf("transition counts = %+v, want 4 kinds", b.TransitionCounts)
	}
	// The timeline keeps the last TransitionsKept.
	for i := range 500 {
		tr(time.Minute+time.Duration(i)*time.Millisecond, resilience.StateOpen, resilience.StateHalfOpen, resilience.ReasonAuto, "")
	}
	s = mustSnapshot(t, a, "db")
	if n := len(s.Breaker.Transitions); n != TransitionsKept {
		t.Errorf("timeline holds %d transitions, want %d", n, TransitionsKept)
	}
}

func TestAggregatorKeepsABoundedRingOfRecentEvents(t *testing.T) {
	a, clock := newTestAggregator(t, AggregatorConfig{Shards: 4})
	o := mustBind(t, a, "db")
	for i := range 3000 {
		call(o, uint64(i+1), epoch.Add(time.Duration(i)*time.Millisecond), time.Millisecond,
			resilience.OutcomeFailure, resilience.OutcomeSuccess)
	}
	clock.Advance(time.Minute)
	s := mustSnapshot(t, a, "db")
	if n := len(s.Recent); n != RecentEventsKept {
		t.Fatalf("recent events: %d, want %d", n, RecentEventsKept)
	}
	if !slices.IsSortedFunc(s.Recent, func(x, y RecentEvent) int { return x.Time.Compare(y.Time) }) {
		t.Error("recent events are not in time order")
	}
	// The last call's events are all there, in order: attempt end (failure),
	// retry scheduled, attempt end (success), call end.
	var last []resilience.Kind
	for _, e := range s.Recent {
		if e.Call == 3000 {
			last = append(last, e.Kind)
		}
	}
	want := []resilience.Kind{resilience.KindAttemptEnd, resilience.KindRetryScheduled, resilience.KindAttemptEnd, resilience.KindCallEnd}
	if !slices.Equal(last, want) {
		t.Errorf("events of the last call = %v, want %v", last, want)
	}
	if snap := a.Snapshot(); snap.Pipelines[0].Recent != nil || snap.Pipelines[0].Hour.Points != nil {
		t.Error("Snapshot fills the detail fields")
	}
}

func TestRecentEventsAreSeenAtOnceAndNeverTwiceWhileCallsRunOnManyGoroutines(t *testing.T) {
	a, _ := newTestAggregator(t, AggregatorConfig{Shards: 4})
	o := mustBind(t, a, "db")
	// Fewer events than a shard collects before moving them to the ring
	// are seen by the next snapshot.
	call(o, 1, epoch, time.Millisecond, resilience.OutcomeSuccess)
	if got := len(mustSnapshot(t, a, "db").Recent); got != 2 {
		t.Fatalf("recent events after one call: %d, want 2 (attempt end, call end)", got)
	}
	const goroutines, calls = 8, 400
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				id := uint64(2 + g*calls + i)
				call(o, id, epoch.Add(time.Duration(id)*time.Microsecond), time.Millisecond,
					resilience.OutcomeFailure, resilience.OutcomeSuccess)
			}
		})
	}
	check := func(final bool) {
		s := mustSnapshot(t, a, "db")
		type key struct {
			call    uint64
			kind    resilience.Kind
			attempt int
		}
		seen := map[key]bool{}
		for _, e := range s.Recent {
			k := key{e.Call, e.Kind, e.Attempt}
			if seen[k] {
				t.Fatalf("event %+v appears twice in one snapshot", k)
			}
			seen[k] = true
		}
		if len(s.Recent) > RecentEventsKept || final && len(s.Recent) != RecentEventsKept {
			t.Fatalf("recent events: %d, want at most %d (exactly, at the end)", len(s.Recent), RecentEventsKept)
		}
	}
	for range 20 {
		check(false)
		runtime.Gosched()
	}
	wg.Wait()
	check(true)
}

func TestAggregatorSortsPipelinesAndAcceptsUnboundEvents(t *testing.T) {
	a, _ := newTestAggregator(t, AggregatorConfig{})
	for _, n := range []string{"b", "c", "a"} {
		mustBind(t, a, n)
	}
	a.Observe(context.Background(), resilience.Event{Kind: resilience.KindCallEnd, Pipeline: "aa", Time: epoch})
	var names []string
	for _, p := range a.Snapshot().Pipelines {
		names = append(names, p.Name)
	}
	if want := []string{"a", "aa", "b", "c"}; !slices.Equal(names, want) {
		t.Errorf("pipelines = %v, want %v", names, want)
	}
	if _, err := a.Bind("aa"); err != nil {
		t.Errorf("binding a name first seen unbound: %v", err)
	}
}

func TestPercentilesAreWithinTheErrorBound(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		values := rapid.SliceOfN(rapid.Int64Range(1, int64(100*time.Second)), 1, 2000).Draw(t, "ns")
		a, err := NewAggregator(AggregatorConfig{Clock: resiliencetest.NewClock(epoch)})
		if err != nil {
			t.Fatal(err)
		}
		o, _ := a.Bind("p")
		for i, v := range values {
			o.Observe(context.Background(), resilience.Event{Kind: resilience.KindCallEnd, Call: uint64(i), Duration: time.Duration(v), Time: epoch})
		}
		s, _ := a.Pipeline("p")
		sorted := slices.Clone(values)
		slices.Sort(sorted)
		lat := s.Windows[Window10s].Latency
		for _, c := range []struct {
			q   float64
			got time.Duration
		}{{0.5, lat.P50}, {0.9, lat.P90}, {0.99, lat.P99}, {0.999, lat.P999}} {
			want := sorted[quantileRank(c.q, uint64(len(sorted)))]
			if rel := math.Abs(float64(c.got)-float64(want)) / float64(want); rel > 0.02 {
				t.Fatalf("p%v = %v, exact %v: relative error %.4f > 2%%", c.q*100, c.got, time.Duration(want), rel)
			}
		}
		if q := s.Totals.Latency.Quantile(0.99); math.Abs(float64(q)-float64(lat.P99)) > 0 {
			t.Fatalf("cumulative p99 %v differs from the window's %v", q, lat.P99)
		}
	})
}

func TestSubscribersGetCoalescedTicksAndNeverBlockObserve(t *testing.T) {
	a, _ := newTestAggregator(t, AggregatorConfig{})
	o := mustBind(t, a, "db")
	ch, cancel := a.Subscribe()
	slow, cancelSlow := a.Subscribe()
	defer cancelSlow()
	// Ten seconds of traffic with nobody reading: Observe goes on, and one
	// tick waits in each channel.
	for i := range 10 {
		call(o, uint64(i+1), epoch.Add(time.Duration(i)*time.Second), time.Millisecond, resilience.OutcomeSuccess)
	}
	for _, c := range []<-chan struct{}{ch, slow} {
		select {
		case <-c:
		default:
			t.Fatal("no tick after seconds of traffic")
		}
		select {
		case <-c:
			t.Fatal("ticks are not coalesced")
		default:
		}
	}
	cancel()
	o.Observe(context.Background(), resilience.Event{Kind: resilience.KindBreakerTransition, To: resilience.StateOpen, Time: epoch.Add(11 * time.Second)})
	select {
	case <-ch:
		t.Error("a cancelled subscription still ticks")
	default:
	}
	select {
	case <-slow:
	default:
		t.Error("no tick on a breaker transition")
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	a, _ := newTestAggregator(t, AggregatorConfig{})
	o := mustBind(t, a, "db")
	err := errors.New("boom")
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		at := epoch.Add(time.Duration(i) * time.Millisecond)
		o.Observe(context.Background(), resilience.Event{Kind: resilience.KindAttemptEnd, Call: uint64(i), Outcome: resilience.OutcomeFailure, Err: err, Time: at})
		o.Observe(context.Background(), resilience.Event{Kind: resilience.KindRetryScheduled, Call: uint64(i), Delay: time.Second, Time: at})
		o.Observe(context.Background(), resilience.Event{Kind: resilience.KindCallEnd, Call: uint64(i), Duration: time.Second, Time: at})
	})
	if allocs != 0 {
		t.Errorf("Observe allocates %v times per call", allocs)
	}
}

// TestMemoryPerPipelineIsBounded measures the heap a bound pipeline takes
// after heavy traffic, and checks it against the 256 KiB budget.
func TestMemoryPerPipelineIsBounded(t *testing.T) {
	a, _ := newTestAggregator(t, AggregatorConfig{Shards: 4})
	const n = 50
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	obs := make([]resilience.Observer, n)
	for i := range obs {
		obs[i] = mustBind(t, a, fmt.Sprintf("p%02d", i))
	}
	for _, o := range obs {
		for j := range 2000 {
			call(o, uint64(j), epoch.Add(time.Duration(j)*time.Second), time.Duration(j)*time.Millisecond, resilience.OutcomeFailure, resilience.OutcomeSuccess)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (after.HeapAlloc - before.HeapAlloc) / n
	t.Logf("heap per pipeline: %d bytes (%.1f KiB) with 4 shards", per, float64(per)/1024)
	if per > 256<<10 {
		t.Errorf("a pipeline takes %d bytes, over 256 KiB", per)
	}
	runtime.KeepAlive(obs)
}

func TestAggregatorUnderConcurrentUse(t *testing.T) {
	a, clock := newTestAggregator(t, AggregatorConfig{})
	const goroutines, calls = 8, 2000
	obs := []resilience.Observer{mustBind(t, a, "a"), mustBind(t, a, "b")}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		var cum []Cumulative
		for {
			select {
			case <-stop:
				return
			default:
			}
			a.Snapshot()
			if _, err := a.Pipeline("a"); err != nil {
				t.Error(err)
			}
			cum = a.ReadCumulative(cum)
			clock.Advance(100 * time.Millisecond)
		}
	}()
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				id := uint64(g*calls + i + 1)
				at := epoch.Add(time.Duration(i) * time.Millisecond)
				call(obs[g%2], id, at, time.Millisecond, resilience.OutcomeFailure, resilience.OutcomeSuccess)
				if i%500 == 0 {
					obs[g%2].Observe(context.Background(), resilience.Event{Kind: resilience.KindBreakerTransition, To: resilience.StateOpen, Time: at})
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	s := a.Snapshot()
	for _, p := range s.Pipelines {
		if got, want := p.Totals.CallCount(), uint64(goroutines/2*calls); got != want {
			t.Errorf("%s: %d calls, want %d", p.Name, got, want)
		}
		if got, want := p.Totals.AttemptCount(), uint64(goroutines*calls); got != want {
			t.Errorf("%s: %d attempts, want %d", p.Name, got, want)
		}
		if got := p.Totals.Latency.Count; got != uint64(goroutines/2*calls) {
			t.Errorf("%s: latency histogram counts %d calls", p.Name, got)
		}
	}
}
