package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

var (
	brStart   = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	errBrDown = errors.New("downstream failed")
)

const (
	stClosed       = resilience.StateClosed
	stOpen         = resilience.StateOpen
	stHalfOpen     = resilience.StateHalfOpen
	stForcedOpen   = resilience.StateForcedOpen
	stForcedClosed = resilience.StateForcedClosed
)

// brLog records events; it is safe for concurrent use.
type brLog struct {
	mu     sync.Mutex
	events []resilience.Event
	// transitionsOnly drops every other event.
	transitionsOnly bool
}

func (l *brLog) Observe(_ context.Context, e resilience.Event) {
	if l.transitionsOnly && e.Kind != resilience.KindBreakerTransition {
		return
	}
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *brLog) of(k resilience.Kind) []resilience.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []resilience.Event
	for _, e := range l.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// brMove is the gist of a transition event.
type brMove struct {
	From, To resilience.State
	Reason   resilience.Reason
}

func (m brMove) String() string { return fmt.Sprintf("%s->%s(%s)", m.From, m.To, m.Reason) }

func (l *brLog) moves() []brMove {
	var out []brMove
	for _, e := range l.of(resilience.KindBreakerTransition) {
		out = append(out, brMove{e.From, e.To, e.Reason})
	}
	return out
}

// brTB is what the fixture needs of a *testing.T or a *rapid.T.
type brTB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// brFixture is a pipeline holding only a breaker, on a fake clock.
type brFixture struct {
	t   brTB
	clk *resiliencetest.Clock
	b   *resilience.Breaker
	p   *resilience.Pipeline
	log *brLog
}

func newBrFixture(t brTB, cfg resilience.BreakerConfig, observe bool) *brFixture {
	t.Helper()
	b, err := resilience.NewBreaker(cfg)
	if err != nil {
		t.Fatalf("NewBreaker(%+v): %v", cfg, err)
	}
	f := &brFixture{t: t, clk: resiliencetest.NewClock(brStart), b: b, log: &brLog{}}
	pc := resilience.Config{Policies: []resilience.Policy{b}, Clock: f.clk}
	if observe {
		pc.Observers = []resilience.Observer{f.log}
	}
	f.p, err = resilience.New("payments", pc)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

// call runs one call that takes d on the fake clock and returns result. It
// reports whether the function ran, and the call's error.
func (f *brFixture) call(ctx context.Context, d time.Duration, result error) (ran bool, err error) {
	err = resilience.Run(ctx, f.p, func(context.Context) error {
		ran = true
		f.clk.Advance(d)
		return result
	})
	return ran, err
}

type brOp uint8

const (
	brOpOK       brOp = iota // n successful calls taking d
	brOpFail                 // n failed calls taking d
	brOpRejected             // n calls that must be rejected
	brOpAdvance              // the clock moves on by d
	brOpOpenFor              // the breaker is open for d (Metrics().OpenDuration)
	brOpWindow               // the window holds n calls of which m failed
)

type brStep struct {
	op   brOp
	n, m int
	d    time.Duration
	want resilience.State
}

// brSteps builds the steps of a state machine table; br is its only value.
type brSteps struct{}

var br brSteps

func (brSteps) ok(n int, want resilience.State) brStep { return brStep{op: brOpOK, n: n, want: want} }
func (brSteps) fail(n int, want resilience.State) brStep {
	return brStep{op: brOpFail, n: n, want: want}
}
func (brSteps) slow(n int, d time.Duration, want resilience.State) brStep {
	return brStep{op: brOpOK, n: n, d: d, want: want}
}
func (brSteps) rejected(n int, want resilience.State) brStep {
	return brStep{op: brOpRejected, n: n, want: want}
}
func (brSteps) advance(d time.Duration, want resilience.State) brStep {
	return brStep{op: brOpAdvance, d: d, want: want}
}
func (brSteps) openFor(d time.Duration) brStep { return brStep{op: brOpOpenFor, d: d, want: stOpen} }
func (brSteps) window(calls, failures int) brStep {
	return brStep{op: brOpWindow, n: calls, m: failures, want: stClosed}
}

func (f *brFixture) run(steps []brStep) {
	f.t.Helper()
	ctx := context.Background()
	for i, s := range steps {
		switch s.op {
		case brOpOK, brOpFail:
			var result error
			if s.op == brOpFail {
				result = errBrDown
			}
			for j := 0; j < s.n; j++ {
				if ran, err := f.call(ctx, s.d, result); !ran {
					f.t.Fatalf("step %d, call %d: rejected (%v), want it to run", i, j, err)
				}
			}
		case brOpRejected:
			for j := 0; j < s.n; j++ {
				if ran, err := f.call(ctx, 0, nil); ran || !errors.Is(err, resilience.ErrOpen) {
					f.t.Fatalf("step %d, call %d: ran=%v err=%v, want ErrOpen without running", i, j, ran, err)
				}
			}
		case brOpAdvance:
			f.clk.Advance(s.d)
		case brOpOpenFor:
			if m := f.b.Metrics(); m.OpenDuration != s.d || !m.OpenUntil.Equal(m.Since.Add(s.d)) {
				f.t.Fatalf("step %d: open for %v until %v (since %v), want %v", i, m.OpenDuration, m.OpenUntil, m.Since, s.d)
			}
		case brOpWindow:
			if m := f.b.Metrics(); m.Calls != int64(s.n) || m.Failures != int64(s.m) {
				f.t.Fatalf("step %d: window holds %d calls, %d failed; want %d, %d", i, m.Calls, m.Failures, s.n, s.m)
			}
		}
		if got := f.b.State(); got != s.want {
			f.t.Fatalf("step %d (%+v): state %s, want %s", i, s, got, s.want)
		}
	}
}

func TestBreakerStateMachine(t *testing.T) {
	count := func(size, minCalls int) resilience.BreakerConfig {
		return resilience.BreakerConfig{WindowSize: size, MinimumCalls: minCalls, OpenDuration: 10 * time.Second, HalfOpenProbes: 2}
	}
	tests := []struct {
		name  string
		cfg   resilience.BreakerConfig
		steps []brStep
	}{
		{
			name:  "it trips when the failure rate reaches the threshold once the window holds the minimum calls",
			cfg:   count(10, 4),
			steps: []brStep{br.fail(3, stClosed), br.window(3, 3), br.ok(1, stOpen), br.rejected(3, stOpen)},
		},
		{
			name:  "it does not trip before the window holds the minimum calls, even when every call fails",
			cfg:   count(10, 5),
			steps: []brStep{br.fail(4, stClosed), br.fail(1, stOpen)},
		},
		{
			name:  "it stays closed while the failure rate is below the threshold",
			cfg:   count(10, 4),
			steps: []brStep{br.ok(3, stClosed), br.fail(2, stClosed), br.window(5, 2), br.ok(2, stClosed), br.fail(2, stClosed), br.window(9, 4), br.fail(1, stOpen)},
		},
		{
			name: "a count window forgets the oldest outcomes",
			cfg:  count(4, 4),
			steps: []brStep{br.fail(1, stClosed), br.ok(3, stClosed), br.window(4, 1), br.fail(1, stClosed), br.window(4, 1),
				br.ok(2, stClosed), br.window(4, 1), br.fail(1, stOpen)},
		},
		{
			name: "it trips on the slow-call rate",
			cfg: resilience.BreakerConfig{WindowSize: 4, MinimumCalls: 4, SlowCallDuration: time.Second,
				SlowCallRateThreshold: 0.5},
			steps: []brStep{br.slow(1, time.Second, stClosed), br.slow(1, 999*time.Millisecond, stClosed),
				br.slow(1, 5*time.Second, stClosed), br.ok(1, stOpen)},
		},
		{
			name:  "with the default slow-call rate it trips only when every call is slow",
			cfg:   resilience.BreakerConfig{WindowSize: 3, MinimumCalls: 3, SlowCallDuration: time.Second},
			steps: []brStep{br.slow(2, time.Second, stClosed), br.ok(1, stClosed), br.slow(2, time.Second, stClosed), br.slow(1, time.Second, stOpen)},
		},
		{
			name: "a time window drops the calls of buckets that rolled out",
			cfg:  resilience.BreakerConfig{Window: resilience.WindowTime, WindowDuration: 10 * time.Second, MinimumCalls: 4},
			steps: []brStep{br.fail(3, stClosed), br.advance(10*time.Second, stClosed), br.window(0, 0), br.ok(1, stClosed), br.window(1, 0),
				br.fail(2, stClosed), br.fail(1, stOpen)},
		},
		{
			name:  "a time window keeps the calls of the last seconds",
			cfg:   resilience.BreakerConfig{Window: resilience.WindowTime, WindowDuration: 10 * time.Second, MinimumCalls: 4},
			steps: []brStep{br.fail(3, stClosed), br.advance(9*time.Second, stClosed), br.window(3, 3), br.ok(1, stOpen)},
		},
		{
			name: "a time window rolls one bucket a second",
			cfg:  resilience.BreakerConfig{Window: resilience.WindowTime, WindowDuration: 3 * time.Second, MinimumCalls: 3},
			steps: []brStep{br.fail(1, stClosed), br.advance(time.Second, stClosed), br.ok(1, stClosed), br.advance(time.Second, stClosed),
				br.ok(1, stClosed), br.window(3, 1), br.advance(time.Second, stClosed), br.window(2, 0), br.fail(1, stClosed),
				br.advance(time.Second, stClosed), br.window(2, 1), br.fail(1, stOpen)},
		},
		{
			name:  "an open breaker turns half-open once the open duration has passed",
			cfg:   count(4, 2),
			steps: []brStep{br.fail(2, stOpen), br.openFor(10 * time.Second), br.advance(10*time.Second-1, stOpen), br.rejected(1, stOpen), br.advance(1, stHalfOpen)},
		},
		{
			name: "successful probes close the breaker with an empty window",
			cfg:  count(4, 2),
			steps: []brStep{br.fail(2, stOpen), br.advance(10*time.Second, stHalfOpen), br.ok(1, stHalfOpen), br.ok(1, stClosed), br.window(0, 0),
				br.ok(2, stClosed), br.window(2, 0)},
		},
		{
			name: "failed probes open the breaker again for a longer time, up to the cap",
			cfg: resilience.BreakerConfig{WindowSize: 2, MinimumCalls: 2, OpenDuration: 10 * time.Second,
				OpenBackoff: 2, MaxOpenDuration: 25 * time.Second, HalfOpenProbes: 1},
			steps: []brStep{br.fail(2, stOpen), br.openFor(10 * time.Second),
				br.advance(10*time.Second, stHalfOpen), br.fail(1, stOpen), br.openFor(20 * time.Second),
				br.advance(19*time.Second, stOpen), br.rejected(1, stOpen),
				br.advance(time.Second, stHalfOpen), br.fail(1, stOpen), br.openFor(25 * time.Second),
				br.advance(25*time.Second, stHalfOpen), br.fail(1, stOpen), br.openFor(25 * time.Second),
				br.advance(25*time.Second, stHalfOpen), br.ok(1, stClosed),
				br.fail(2, stOpen), br.openFor(10 * time.Second)},
		},
		{
			name: "probes reopen the breaker only when their failure rate reaches the threshold",
			cfg:  resilience.BreakerConfig{WindowSize: 2, MinimumCalls: 2, OpenDuration: time.Second, HalfOpenProbes: 4},
			steps: []brStep{br.fail(2, stOpen), br.advance(time.Second, stHalfOpen), br.ok(3, stHalfOpen), br.fail(1, stClosed),
				br.fail(2, stOpen), br.advance(time.Second, stHalfOpen), br.ok(1, stHalfOpen), br.fail(1, stHalfOpen), br.ok(1, stHalfOpen), br.fail(1, stOpen)},
		},
		{
			name: "slow probes reopen the breaker",
			cfg: resilience.BreakerConfig{WindowSize: 2, MinimumCalls: 2, OpenDuration: time.Second, HalfOpenProbes: 2,
				SlowCallDuration: time.Second, SlowCallRateThreshold: 0.5},
			steps: []brStep{br.fail(2, stOpen), br.advance(time.Second, stHalfOpen), br.ok(1, stHalfOpen), br.slow(1, time.Second, stOpen)},
		},
		{
			name:  "a half-open breaker reopens when half of its probes fail",
			cfg:   count(4, 2),
			steps: []brStep{br.fail(2, stOpen), br.advance(10*time.Second, stHalfOpen), br.ok(1, stHalfOpen), br.fail(1, stOpen), br.rejected(1, stOpen)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, observe := range []bool{false, true} {
				newBrFixture(t, tc.cfg, observe).run(tc.steps)
			}
		})
	}
}

func TestBreakerOverrides(t *testing.T) {
	cfg := resilience.BreakerConfig{WindowSize: 2, MinimumCalls: 2, OpenDuration: 10 * time.Second, HalfOpenProbes: 1}
	admin := resilience.WithActor(context.Background(), "alice")
	tests := []struct {
		name  string
		do    func(t *testing.T, f *brFixture)
		moves []brMove
	}{
		{
			name: "forced open rejects every call until Auto, which starts closed with an empty window",
			do: func(t *testing.T, f *brFixture) {
				f.run([]brStep{br.fail(1, stClosed)})
				mustOverride(t, f.b, admin, stForcedOpen, "maintenance", time.Time{})
				f.run([]brStep{br.rejected(3, stForcedOpen), br.advance(24*time.Hour, stForcedOpen), br.rejected(1, stForcedOpen)})
				if err := f.b.Auto(admin, "done"); err != nil {
					t.Fatal(err)
				}
				f.run([]brStep{br.window(0, 0), br.fail(1, stClosed), br.fail(1, stOpen)})
			},
			moves: []brMove{{stClosed, stForcedOpen, resilience.ReasonManual}, {stForcedOpen, stClosed, resilience.ReasonManual},
				{stClosed, stOpen, resilience.ReasonAuto}},
		},
		{
			name: "forced closed lets every call through and never trips",
			do: func(t *testing.T, f *brFixture) {
				f.run([]brStep{br.fail(2, stOpen)})
				mustOverride(t, f.b, admin, stForcedClosed, "let it through", time.Time{})
				f.run([]brStep{br.fail(50, stForcedClosed), br.advance(time.Hour, stForcedClosed), br.ok(1, stForcedClosed)})
			},
			moves: []brMove{{stClosed, stOpen, resilience.ReasonAuto}, {stOpen, stForcedClosed, resilience.ReasonManual}},
		},
		{
			name: "a time-boxed override runs out by itself and the breaker starts closed",
			do: func(t *testing.T, f *brFixture) {
				mustOverride(t, f.b, admin, stForcedOpen, "deploy", f.clk.Now().Add(time.Minute))
				f.run([]brStep{br.rejected(1, stForcedOpen), br.advance(time.Minute-1, stForcedOpen), br.rejected(1, stForcedOpen)})
				f.clk.Advance(1)
				f.run([]brStep{br.ok(1, stClosed), br.window(1, 0)})
			},
			moves: []brMove{{stClosed, stForcedOpen, resilience.ReasonManual}, {stForcedOpen, stClosed, resilience.ReasonExpired}},
		},
		{
			name: "a time-boxed forced closed runs out when State looks",
			do: func(t *testing.T, f *brFixture) {
				mustOverride(t, f.b, admin, stForcedClosed, "deploy", f.clk.Now().Add(time.Minute))
				f.run([]brStep{br.fail(5, stForcedClosed), br.advance(time.Minute, stClosed), br.fail(2, stOpen)})
			},
			moves: []brMove{{stClosed, stForcedClosed, resilience.ReasonManual}, {stForcedClosed, stClosed, resilience.ReasonExpired},
				{stClosed, stOpen, resilience.ReasonAuto}},
		},
		{
			name: "overriding a forced breaker replaces the override",
			do: func(t *testing.T, f *brFixture) {
				mustOverride(t, f.b, admin, stForcedOpen, "first", f.clk.Now().Add(time.Minute))
				mustOverride(t, f.b, admin, stForcedOpen, "second", time.Time{})
				f.run([]brStep{br.advance(time.Hour, stForcedOpen)})
				mustOverride(t, f.b, admin, stForcedClosed, "third", time.Time{})
				f.run([]brStep{br.ok(1, stForcedClosed)})
				if ov := f.b.Metrics().Override; ov == nil || ov.Reason != "third" || ov.State != stForcedClosed {
					t.Fatalf("override %+v, want the third", ov)
				}
			},
			moves: []brMove{{stClosed, stForcedOpen, resilience.ReasonManual}, {stForcedOpen, stForcedOpen, resilience.ReasonManual},
				{stForcedOpen, stForcedClosed, resilience.ReasonManual}},
		},
		{
			name: "Auto on a breaker that is not forced does nothing",
			do: func(t *testing.T, f *brFixture) {
				f.run([]brStep{br.fail(2, stOpen)})
				if err := f.b.Auto(admin, "noop"); err != nil {
					t.Fatal(err)
				}
				f.run([]brStep{br.rejected(1, stOpen)})
			},
			moves: []brMove{{stClosed, stOpen, resilience.ReasonAuto}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newBrFixture(t, cfg, true)
			tc.do(t, f)
			if got := f.log.moves(); fmt.Sprint(got) != fmt.Sprint(tc.moves) {
				t.Fatalf("transitions %v, want %v", got, tc.moves)
			}
		})
	}
}

func mustOverride(t *testing.T, b *resilience.Breaker, ctx context.Context, s resilience.State, reason string, until time.Time) {
	t.Helper()
	if err := b.Override(ctx, s, reason, until); err != nil {
		t.Fatalf("Override(%s, %q, %v): %v", s, reason, until, err)
	}
}

func TestBreakerOverrideRejectsWhatItCannotDo(t *testing.T) {
	f := newBrFixture(t, resilience.BreakerConfig{}, true)
	ctx := context.Background()
	for _, s := range []resilience.State{stClosed, stOpen, stHalfOpen, resilience.State(9)} {
		err := f.b.Override(ctx, s, "why", time.Time{})
		if err == nil || !strings.Contains(err.Error(), s.String()) {
			t.Errorf("Override(%s) = %v, want an error naming %q", s, err, s)
		}
	}
	if err := f.b.Override(ctx, stForcedOpen, "late", f.clk.Now()); err == nil {
		t.Error("Override until now succeeded, want an error")
	}
	if got := f.b.State(); got != stClosed {
		t.Errorf("state %s after refused overrides, want closed", got)
	}
	if got := f.log.of(resilience.KindBreakerTransition); len(got) != 0 {
		t.Errorf("refused overrides reported %d transitions", len(got))
	}
}

func TestBreakerEvents(t *testing.T) {
	f := newBrFixture(t, resilience.BreakerConfig{WindowSize: 2, MinimumCalls: 2, OpenDuration: 10 * time.Second, HalfOpenProbes: 1}, true)
	ctx := context.Background()
	f.run([]brStep{br.fail(2, stOpen), br.rejected(1, stOpen)})
	tripAt := f.clk.Now()
	f.clk.Advance(10 * time.Second)
	halfAt := f.clk.Now()
	f.run([]brStep{br.ok(1, stClosed)})
	admin := resilience.WithActor(ctx, "bob")
	until := f.clk.Now().Add(time.Hour)
	mustOverride(t, f.b, admin, stForcedOpen, "incident 42", until)
	forcedAt := f.clk.Now()
	f.clk.Advance(time.Hour)
	if got := f.b.State(); got != stClosed {
		t.Fatalf("state %s after the override ran out, want closed", got)
	}

	want := []resilience.Event{
		{Kind: resilience.KindBreakerTransition, Pipeline: "payments", From: stClosed, To: stOpen, Reason: resilience.ReasonAuto, Time: tripAt},
		{Kind: resilience.KindBreakerTransition, Pipeline: "payments", From: stOpen, To: stHalfOpen, Reason: resilience.ReasonAuto, Time: halfAt},
		{Kind: resilience.KindBreakerTransition, Pipeline: "payments", From: stHalfOpen, To: stClosed, Reason: resilience.ReasonAuto, Time: halfAt},
		{Kind: resilience.KindBreakerTransition, Pipeline: "payments", From: stClosed, To: stForcedOpen, Reason: resilience.ReasonManual,
			Actor: "bob", Message: "incident 42", Time: forcedAt},
		{Kind: resilience.KindBreakerTransition, Pipeline: "payments", From: stForcedOpen, To: stClosed, Reason: resilience.ReasonExpired,
			Actor: "bob", Message: "incident 42", Time: until},
	}
	got := f.log.of(resilience.KindBreakerTransition)
	if len(got) != len(want) {
		t.Fatalf("%d transitions %v, want %d", len(got), f.log.moves(), len(want))
	}
	for i := range want {
		g := got[i]
		g.Call, g.Attempt = 0, 0 // in-call transitions carry the call's numbers
		if g != want[i] {
			t.Errorf("transition %d:\n got %+v\nwant %+v", i, g, want[i])
		}
	}
	ends := f.log.of(resilience.KindCallEnd)
	if got[0].Call != ends[1].Call || got[0].Attempt != 1 {
		t.Errorf("trip reported for call %d attempt %d, want the second call's first attempt", got[0].Call, got[0].Attempt)
	}
	rej := f.log.of(resilience.KindRejected)
	if len(rej) != 1 || rej[0].Reason != resilience.ReasonBreakerOpen || !errors.Is(rej[0].Err, resilience.ErrOpen) || rej[0].Call != ends[2].Call {
		t.Fatalf("rejections %+v, want one for call 3 with ReasonBreakerOpen", rej)
	}
	if len(ends) != 4 || ends[2].Outcome != resilience.OutcomeRejected {
		t.Fatalf("call ends %+v, want 4 with the third rejected", ends)
	}
}

// TestBreakerObserversRunOutsideItsLocks calls back into the breaker from
// an observer, which would deadlock if the breaker held a lock.
func TestBreakerObserversRunOutsideItsLocks(t *testing.T) {
	clk := resiliencetest.NewClock(brStart)
	b, err := resilience.NewBreaker(resilience.BreakerConfig{WindowSize: 1, MinimumCalls: 1, OpenDuration: time.Second, HalfOpenProbes: 1})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	obs := resilience.ObserverFunc(func(ctx context.Context, e resilience.Event) {
		m := b.Metrics()
		_ = b.String()
		seen = append(seen, e.Kind.String()+":"+m.State.String())
		if e.Kind == resilience.KindBreakerTransition && e.To == stClosed && e.Reason == resilience.ReasonAuto {
			if err := b.Override(ctx, stForcedClosed, "from observer", time.Time{}); err != nil {
				t.Error(err)
			}
		}
	})
	p, err := resilience.New("payments", resilience.Config{Policies: []resilience.Policy{b}, Observers: []resilience.Observer{obs}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = resilience.Run(ctx, p, func(context.Context) error { return errBrDown })
	_ = resilience.Run(ctx, p, func(context.Context) error { return nil })
	clk.Advance(time.Second)
	_ = resilience.Run(ctx, p, func(context.Context) error { return nil })
	if got := b.State(); got != stForcedClosed {
		t.Fatalf("state %s, want forced_closed set by the observer", got)
	}
	if len(seen) == 0 {
		t.Fatal("observer saw nothing")
	}
}

// TestBreakerIgnoresCallsThatStartedBeforeATransition blocks a call inside
// the function while the breaker changes state; its outcome must count
// neither in the new window nor as a probe.
func TestBreakerIgnoresCallsThatStartedBeforeATransition(t *testing.T) {
	cfg := resilience.BreakerConfig{WindowSize: 1, MinimumCalls: 1, OpenDuration: time.Second, HalfOpenProbes: 1}
	tests := []struct {
		name string
		// meanwhile changes the state while the stale call is in flight.
		meanwhile func(t *testing.T, f *brFixture)
		result    error
		want      resilience.State
		window    int64
	}{
		{
			name: "a failure that started before an override and Auto does not trip the fresh window",
			meanwhile: func(t *testing.T, f *brFixture) {
				mustOverride(t, f.b, context.Background(), stForcedOpen, "x", time.Time{})
				if err := f.b.Auto(context.Background(), "y"); err != nil {
					t.Fatal(err)
				}
			},
			result: errBrDown, want: stClosed, window: 0,
		},
		{
			name: "a success that started while closed does not count as a probe",
			meanwhile: func(t *testing.T, f *brFixture) {
				f.run([]brStep{br.fail(1, stOpen), br.advance(time.Second, stHalfOpen)})
			},
			result: nil, want: stHalfOpen, window: 0,
		},
		{
			name: "a failure that started while closed does not reopen a breaker that closed meanwhile",
			meanwhile: func(t *testing.T, f *brFixture) {
				f.run([]brStep{br.fail(1, stOpen), br.advance(time.Second, stHalfOpen), br.ok(1, stClosed)})
			},
			result: errBrDown, want: stClosed, window: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newBrFixture(t, cfg, true)
			entered, release := make(chan struct{}), make(chan struct{})
			done := make(chan error)
			go func() {
				done <- resilience.Run(context.Background(), f.p, func(context.Context) error {
					close(entered)
					<-release
					return tc.result
				})
			}()
			<-entered
			tc.meanwhile(t, f)
			moves := len(f.log.moves())
			close(release)
			if err := <-done; err != tc.result {
				t.Fatalf("stale call returned %v, want %v", err, tc.result)
			}
			if got := f.b.State(); got != tc.want {
				t.Fatalf("state %s, want %s", got, tc.want)
			}
			if m := f.b.Metrics(); m.Calls != tc.window {
				t.Fatalf("window holds %d calls, want %d", m.Calls, tc.window)
			}
			if got := f.log.moves(); len(got) != moves {
				t.Fatalf("the stale call caused transitions %v", got[moves:])
			}
		})
	}
}

func TestBreakerCountsFailuresAsConfigured(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	timedOut, cancel2 := context.WithCancelCause(context.Background())
	cancel2(&resilience.TimeoutError{Scope: resilience.ScopeCall, Timeout: time.Second, Err: context.DeadlineExceeded})
	errTeapot := errors.New("teapot")
	pastDeadline, cancel3 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel3()
	tests := []struct {
		name      string
		ctx       context.Context
		err       error
		isFailure func(error) bool
		failure   bool
	}{
		{name: "an error is a failure", ctx: context.Background(), err: errBrDown, failure: true},
		{name: "success is not a failure", ctx: context.Background(), err: nil, failure: false},
		{name: "the caller's cancellation is not a failure", ctx: canceled, err: context.Canceled, failure: false},
		{name: "a resilience timeout is a failure", ctx: timedOut, err: context.DeadlineExceeded, failure: true},
		{name: "a timeout error is a failure", ctx: context.Background(), err: &resilience.TimeoutError{Err: context.DeadlineExceeded}, failure: true},
		{name: "an inner breaker's rejection is not a failure", ctx: context.Background(), err: fmt.Errorf("inner: %w", resilience.ErrOpen), failure: false},
		{name: "a bulkhead rejection is not a failure", ctx: context.Background(), err: resilience.ErrBulkheadFull, failure: false},
		{name: "IsFailure decides when set", ctx: context.Background(), err: errTeapot,
			isFailure: func(err error) bool { return !errors.Is(err, errTeapot) }, failure: false},
		{name: "the caller's cancellation is not counted even when IsFailure would", ctx: canceled, err: context.Canceled,
			isFailure: func(error) bool { return true }, failure: false},
		{name: "the caller's deadline running out is a failure", ctx: pastDeadline, err: context.DeadlineExceeded, failure: true},
		{name: "IsFailure may count what the default would not", ctx: context.Background(), err: errTeapot,
			isFailure: func(err error) bool { return errors.Is(err, errTeapot) }, failure: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newBrFixture(t, resilience.BreakerConfig{WindowSize: 1, MinimumCalls: 1, IsFailure: tc.isFailure}, false)
			_, _ = f.call(tc.ctx, 0, tc.err)
			if got := f.b.State() == stOpen; got != tc.failure {
				t.Fatalf("tripped = %v, want %v", got, tc.failure)
			}
		})
	}
}

func TestBreakerCountsAPanickingProbeAsAFailure(t *testing.T) {
	f := newBrFixture(t, resilience.BreakerConfig{WindowSize: 1, MinimumCalls: 1, OpenDuration: time.Second, HalfOpenProbes: 1}, false)
	f.run([]brStep{br.fail(1, stOpen), br.advance(time.Second, stHalfOpen)})
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the probe's panic", r)
			}
		}()
		_ = resilience.Run(context.Background(), f.p, func(context.Context) error { panic("boom") })
	}()
	if got := f.b.State(); got != stOpen {
		t.Fatalf("state %s after a panicking probe, want open", got)
	}
}

func TestBreakerCountsAPanickingCallAsAFailureWhenClosed(t *testing.T) {
	tests := []struct {
		name string
		cfg  resilience.BreakerConfig
	}{
		{name: "count window", cfg: resilience.BreakerConfig{WindowSize: 2, MinimumCalls: 2}},
		{name: "time window", cfg: resilience.BreakerConfig{Window: resilience.WindowTime, WindowDuration: 10 * time.Second, MinimumCalls: 2}},
		{name: "count window with slow calls", cfg: resilience.BreakerConfig{WindowSize: 2, MinimumCalls: 2, SlowCallDuration: time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newBrFixture(t, tc.cfg, false)
			for i := range 2 {
				func() {
					defer func() {
						if r := recover(); r != "boom" {
							t.Fatalf("call %d: recovered %v, want the call's panic", i, r)
						}
					}()
					_ = resilience.Run(context.Background(), f.p, func(context.Context) error { panic("boom") })
				}()
			}
			if got := f.b.State(); got != stOpen {
				t.Fatalf("state %s after two panicking calls in a window of two, want open", got)
			}
			if m := f.b.Metrics(); m.Failures != 2 {
				t.Fatalf("failures %d, want 2", m.Failures)
			}
		})
	}
}

func TestBreakerMetrics(t *testing.T) {
	f := newBrFixture(t, resilience.BreakerConfig{WindowSize: 10, MinimumCalls: 4, OpenDuration: 10 * time.Second,
		SlowCallDuration: time.Second, SlowCallRateThreshold: 0.9}, false)
	f.run([]brStep{br.ok(1, stClosed), br.slow(1, 2*time.Second, stClosed), br.fail(1, stClosed)})
	m := f.b.Metrics()
	want := resilience.BreakerMetrics{State: stClosed, Calls: 3, Failures: 1, Slow: 1, FailureRate: 1.0 / 3, SlowCallRate: 1.0 / 3}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Fatalf("closed metrics\n got %+v\nwant %+v", m, want)
	}
	f.run([]brStep{br.fail(1, stOpen)})
	m = f.b.Metrics()
	if m.State != stOpen || m.Generation != 1 || m.Calls != 4 || m.Failures != 2 || m.FailureRate != 0.5 ||
		!m.Since.Equal(f.clk.Now()) || !m.OpenUntil.Equal(f.clk.Now().Add(10*time.Second)) || m.Override != nil {
		t.Fatalf("open metrics %+v, want the window that tripped and the open period", m)
	}
	ctx := resilience.WithActor(context.Background(), "carol")
	until := f.clk.Now().Add(time.Hour)
	mustOverride(t, f.b, ctx, stForcedOpen, "why not", until)
	m = f.b.Metrics()
	wantOv := resilience.BreakerOverride{State: stForcedOpen, Reason: "why not", Actor: "carol", Since: f.clk.Now(), Until: until}
	if m.State != stForcedOpen || m.Override == nil || *m.Override != wantOv || m.Calls != 0 {
		t.Fatalf("forced metrics %+v (override %+v), want %+v", m, m.Override, wantOv)
	}
}

func TestNewBreakerRejectsInvalidSettings(t *testing.T) {
	tests := []struct {
		name  string
		cfg   resilience.BreakerConfig
		field string
	}{
		{"an unknown window type", resilience.BreakerConfig{Window: 7}, "Breaker.Window"},
		{"a negative window size", resilience.BreakerConfig{WindowSize: -1}, "Breaker.WindowSize"},
		{"a window too large", resilience.BreakerConfig{WindowSize: 2_000_000}, "Breaker.WindowSize"},
		{"a negative window duration", resilience.BreakerConfig{Window: resilience.WindowTime, WindowDuration: -time.Second}, "Breaker.WindowDuration"},
		{"a window duration of part seconds", resilience.BreakerConfig{Window: resilience.WindowTime, WindowDuration: 1500 * time.Millisecond}, "Breaker.WindowDuration"},
		{"a failure rate threshold above one", resilience.BreakerConfig{FailureRateThreshold: 1.5}, "Breaker.FailureRateThreshold"},
		{"a negative failure rate threshold", resilience.BreakerConfig{FailureRateThreshold: -0.1}, "Breaker.FailureRateThreshold"},
		{"a negative slow call duration", resilience.BreakerConfig{SlowCallDuration: -1}, "Breaker.SlowCallDuration"},
		{"a slow call rate threshold above one", resilience.BreakerConfig{SlowCallRateThreshold: 2}, "Breaker.SlowCallRateThreshold"},
		{"negative minimum calls", resilience.BreakerConfig{MinimumCalls: -1}, "Breaker.MinimumCalls"},
		{"more minimum calls than a count window holds", resilience.BreakerConfig{WindowSize: 10, MinimumCalls: 11}, "Breaker.MinimumCalls"},
		{"negative half-open probes", resilience.BreakerConfig{HalfOpenProbes: -1}, "Breaker.HalfOpenProbes"},
		{"a negative open duration", resilience.BreakerConfig{OpenDuration: -time.Second}, "Breaker.OpenDuration"},
		{"an open backoff below one", resilience.BreakerConfig{OpenBackoff: 0.5}, "Breaker.OpenBackoff"},
		{"a negative max open duration", resilience.BreakerConfig{MaxOpenDuration: -1}, "Breaker.MaxOpenDuration"},
		{"a max open duration shorter than the open duration", resilience.BreakerConfig{OpenDuration: time.Minute, MaxOpenDuration: time.Second}, "Breaker.MaxOpenDuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := resilience.NewBreaker(tc.cfg)
			var ce *resilience.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("NewBreaker = %v, %v; want a *ConfigError for %s", b, err, tc.field)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestNewBreakerResolvesDefaults(t *testing.T) {
	tests := []struct {
		name string
		cfg  resilience.BreakerConfig
		want string
	}{
		{"the zero value", resilience.BreakerConfig{},
			"breaker count window 100 calls, ≥ 20 calls, 50 % failures, open 30s, 5 probes"},
		{"a small count window lowers the default minimum calls", resilience.BreakerConfig{WindowSize: 8},
			"breaker count window 8 calls, ≥ 8 calls, 50 % failures, open 30s, 5 probes"},
		{"a time window with slow calls and backoff",
			resilience.BreakerConfig{Window: resilience.WindowTime, FailureRateThreshold: 0.25, SlowCallDuration: 2 * time.Second,
				OpenDuration: 10 * time.Second, OpenBackoff: 2, HalfOpenProbes: 3},
			"breaker time window 1m0s, ≥ 20 calls, 25 % failures, 100 % slow ≥ 2s, open 10s ×2 up to 1m40s, 3 probes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := resilience.NewBreaker(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
		})
	}
	b, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got := b.Config()
	got.IsFailure = nil
	want := resilience.BreakerConfig{WindowSize: 100, FailureRateThreshold: 0.5, SlowCallRateThreshold: 1, MinimumCalls: 20,
		HalfOpenProbes: 5, OpenDuration: 30 * time.Second, OpenBackoff: 1, MaxOpenDuration: 300 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Config() = %+v, want %+v", got, want)
	}
}

func TestBreakerBelongsToOnePipeline(t *testing.T) {
	b, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resilience.New("first", resilience.Config{Policies: []resilience.Policy{b}}); err != nil {
		t.Fatal(err)
	}
	_, err = resilience.New("second", resilience.Config{Policies: []resilience.Policy{b}})
	var ce *resilience.ConfigError
	if !errors.As(err, &ce) || ce.Field != "Pipeline.Policies[0]" || !strings.Contains(err.Error(), "first") {
		t.Fatalf("binding to a second pipeline: %v, want a *ConfigError naming the first", err)
	}
}

func TestBreakerAllocatesNothingPerCall(t *testing.T) {
	ctx := context.Background()
	nop := resilience.ObserverFunc(func(context.Context, resilience.Event) {})
	fn := func(context.Context) error { return nil }
	for _, observers := range [][]resilience.Observer{nil, {nop}} {
		for _, cfg := range []resilience.BreakerConfig{{}, {Window: resilience.WindowTime, SlowCallDuration: time.Second}} {
			b, err := resilience.NewBreaker(cfg)
			if err != nil {
				t.Fatal(err)
			}
			p, err := resilience.New("payments", resilience.Config{Policies: []resilience.Policy{b}, Observers: observers,
				Clock: resiliencetest.NewClock(brStart)})
			if err != nil {
				t.Fatal(err)
			}
			if a := testing.AllocsPerRun(1000, func() { _ = resilience.Run(ctx, p, fn) }); a != 0 {
				t.Errorf("%s, %d observers: %v allocations per admitted call, want 0", b, len(observers), a)
			}
			mustOverride(t, b, ctx, stForcedOpen, "test", time.Time{})
			if a := testing.AllocsPerRun(1000, func() { _ = resilience.Run(ctx, p, fn) }); a != 0 {
				t.Errorf("%s, %d observers: %v allocations per rejected call, want 0", b, len(observers), a)
			}
		}
	}
}

// A breaker opens after too many failures, lets a probe through once the
// open period has passed, and can be forced by an operator.
func ExampleBreaker() {
	clock := resiliencetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	breaker, err := resilience.NewBreaker(resilience.BreakerConfig{
		WindowSize: 4, MinimumCalls: 4, OpenDuration: 10 * time.Second, HalfOpenProbes: 1,
	})
	if err != nil {
		panic(err)
	}
	transitions := resilience.ObserverFunc(func(_ context.Context, e resilience.Event) {
		if e.Kind == resilience.KindBreakerTransition {
			fmt.Println(strings.TrimSpace(fmt.Sprintf("%s -> %s (%s) %s", e.From, e.To, e.Reason, e.Actor)))
		}
	})
	p, err := resilience.New("payments", resilience.Config{
		Policies:  []resilience.Policy{breaker},
		Observers: []resilience.Observer{transitions},
		Clock:     clock,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	down := func(context.Context) error { return errors.New("503 Service Unavailable") }
	up := func(context.Context) error { return nil }

	for range 4 {
		_ = resilience.Run(ctx, p, down)
	}
	fmt.Println(resilience.Run(ctx, p, up))
	clock.Advance(10 * time.Second)
	fmt.Println(resilience.Run(ctx, p, up))

	ops := resilience.WithActor(ctx, "alice")
	_ = breaker.Override(ops, resilience.StateForcedOpen, "failover drill", clock.Now().Add(time.Hour))
	m := breaker.Metrics()
	fmt.Println(m.State, m.Override.Reason, m.Override.Until.Sub(m.Override.Since))
	fmt.Println(breaker)
	// Output:
	// closed -> open (auto)
	// resilience: circuit breaker is open
	// open -> half_open (auto)
	// half_open -> closed (auto)
	// <nil>
	// closed -> forced_open (manual) alice
	// forced_open failover drill 1h0m0s
	// breaker count window 4 calls, ≥ 4 calls, 50 % failures, open 10s, 1 probe
}

func TestBreakerKeepsReportingAfterAnObserverPanics(t *testing.T) {
	b, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var moves []brMove
	panicky := resilience.ObserverFunc(func(_ context.Context, e resilience.Event) {
		if e.Kind != resilience.KindBreakerTransition {
			return
		}
		moves = append(moves, brMove{e.From, e.To, e.Reason})
		if len(moves) == 1 {
			panic("observer failed")
		}
	})
	if _, err := resilience.New("payments", resilience.Config{Policies: []resilience.Policy{b},
		Observers: []resilience.Observer{panicky}, Clock: resiliencetest.NewClock(brStart)}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	func() {
		defer func() {
			if r := recover(); r != "observer failed" {
				t.Fatalf("recovered %v, want the observer's panic", r)
			}
		}()
		_ = b.Override(ctx, stForcedOpen, "first", time.Time{})
	}()
	if err := b.Auto(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	want := []brMove{{stClosed, stForcedOpen, resilience.ReasonManual}, {stForcedOpen, stClosed, resilience.ReasonManual}}
	if fmt.Sprint(moves) != fmt.Sprint(want) {
		t.Fatalf("observer saw %v, want %v", moves, want)
	}
}

func TestBreakerHalfOpenProbeCancelledByTheCallerGivesItsSlotToTheNextCall(t *testing.T) {
	f := newBrFixture(t, resilience.BreakerConfig{WindowSize: 2, MinimumCalls: 2, HalfOpenProbes: 1, OpenDuration: time.Second}, false)
	for range 2 {
		_, _ = f.call(context.Background(), 0, errBrDown)
	}
	f.clk.Advance(time.Second)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if ran, _ := f.call(canceled, 0, context.Canceled); !ran {
		t.Fatal("the first half-open call was not let through")
	}
	if got := f.b.State(); got != resilience.StateHalfOpen {
		t.Fatalf("state after a cancelled probe = %s, want half_open", got)
	}
	if ran, err := f.call(context.Background(), 0, nil); !ran || err != nil {
		t.Fatalf("next call: ran %v, err %v; want it to take the probe slot", ran, err)
	}
	if got := f.b.State(); got != resilience.StateClosed {
		t.Errorf("state after a successful probe = %s, want closed", got)
	}
}
