package resilience_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// hedgedFn is a function whose n-th invocation (from 1) blocks until its
// context ends when slow(n), and succeeds otherwise; started receives n as
// each invocation starts.
type hedgedFn struct {
	n       atomic.Int32
	slow    func(n int) bool
	started chan int
	causes  chan error
}

func newHedgedFn(slow func(int) bool) *hedgedFn {
	return &hedgedFn{slow: slow, started: make(chan int, 64), causes: make(chan error, 64)}
}

func (f *hedgedFn) call(ctx context.Context) (int, error) {
	n := int(f.n.Add(1))
	f.started <- n
	if f.slow(n) {
		<-ctx.Done()
		f.causes <- context.Cause(ctx)
		return 0, ctx.Err()
	}
	return n, nil
}

func hedged(t *testing.T, cfg resilience.HedgeConfig, clk *resiliencetest.Clock, log *eventLog, more ...resilience.Policy) (*resilience.Hedge, *resilience.Pipeline) {
	t.Helper()
	h := must[*resilience.Hedge](t)(resilience.NewHedge(cfg))
	return h, mustPipeline(t, "hedged", resilience.Config{Policies: append([]resilience.Policy{h}, more...), Clock: clk, Observers: []resilience.Observer{log}})
}

func hedgeReasons(log *eventLog) []string {
	var out []string
	for _, e := range log.of(resilience.KindHedge) {
		out = append(out, e.Reason.String())
	}
	return out
}

func TestHedgeTheFirstSuccessWinsAndTheOthersAreCancelled(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	_, p := hedged(t, resilience.HedgeConfig{Delay: 100 * time.Millisecond, MaxHedges: 3}, clk, &log)
	f := newHedgedFn(func(n int) bool { return n == 1 })
	type res struct {
		v   int
		err error
	}
	out := make(chan res, 1)
	go func() {
		v, err := resilience.DoHedged(context.Background(), p, f.call)
		out <- res{v, err}
	}()
	<-f.started
	clk.BlockUntil(1)
	clk.Advance(100 * time.Millisecond)
	r := <-out
	if r.err != nil || r.v != 2 {
		t.Fatalf("DoHedged = %d, %v; want the hedge's answer 2", r.v, r.err)
	}
	if cause := <-f.causes; !errors.Is(cause, resilience.ErrHedgeLost) {
		t.Errorf("the slow attempt was cancelled with %v, want ErrHedgeLost", cause)
	}
	if got, want := hedgeReasons(&log), []string{"hedge_started", "hedge_won", "hedge_canceled"}; !slices.Equal(got, want) {
		t.Errorf("hedge events %v, want %v", got, want)
	}
	ends := log.of(resilience.KindCallEnd)
	if len(ends) != 1 || ends[0].Outcome != resilience.OutcomeSuccess {
		t.Errorf("call ends %+v, want one success", ends)
	}
	if f.n.Load() != 2 {
		t.Errorf("%d attempts, want 2: the winner stopped further hedges", f.n.Load())
	}
}

func TestHedgeNeverExceedsMaxHedges(t *testing.T) {
	for maxHedges := 1; maxHedges <= 4; maxHedges++ {
		clk := resiliencetest.NewClock(epoch)
		var log eventLog
		_, p := hedged(t, resilience.HedgeConfig{Delay: 10 * time.Millisecond, MaxHedges: maxHedges}, clk, &log)
		f := newHedgedFn(func(int) bool { return true })
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan error, 1)
		go func() {
			out <- resilience.RunHedged(ctx, p, func(ctx context.Context) error { _, err := f.call(ctx); return err })
		}()
		<-f.started
		for range maxHedges {
			clk.BlockUntil(1)
			clk.Advance(10 * time.Millisecond)
			<-f.started
		}
		if n := clk.Timers(); n != 0 {
			t.Errorf("MaxHedges %d: %d timers armed after the last hedge, want none", maxHedges, n)
		}
		clk.Advance(time.Hour)
		cancel()
		if err := <-out; !errors.Is(err, context.Canceled) {
			t.Errorf("MaxHedges %d: a cancelled call = %v, want context.Canceled", maxHedges, err)
		}
		if got := int(f.n.Load()); got != maxHedges+1 {
			t.Errorf("MaxHedges %d: %d attempts, want %d", maxHedges, got, maxHedges+1)
		}
	}
}

func TestHedgeIsBoundedByTheBudget(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	refused := make(chan struct{}, 1)
	// The budget allows 1 hedge in its window (0.1/s over 10s) plus 1 % of calls.
	h := must[*resilience.Hedge](t)(resilience.NewHedge(resilience.HedgeConfig{Delay: 10 * time.Millisecond, Budget: resilience.BudgetConfig{Ratio: 0.01, MinPerSecond: 0.1}}))
	p := mustPipeline(t, "hedged", resilience.Config{Policies: []resilience.Policy{h}, Clock: clk, Observers: []resilience.Observer{&log,
		resilience.ObserverFunc(func(_ context.Context, e resilience.Event) {
			if e.Kind == resilience.KindBudgetExhausted {
				refused <- struct{}{}
			}
		})}})
	for call := 1; call <= 2; call++ {
		f := newHedgedFn(func(n int) bool { return n == 1 })
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan error, 1)
		go func() {
			out <- resilience.RunHedged(ctx, p, func(ctx context.Context) error { _, err := f.call(ctx); return err })
		}()
		<-f.started
		clk.BlockUntil(1)
		clk.Advance(10 * time.Millisecond)
		if call == 2 {
			<-refused // the hedge was refused; the first attempt runs on alone
			cancel()
		}
		err := <-out
		cancel()
		if call == 1 && err != nil {
			t.Fatalf("call 1: %v", err)
		}
		if call == 2 && (!errors.Is(err, context.Canceled) || f.n.Load() != 1) {
			t.Errorf("call 2 = %v after %d attempts, want cancelled after 1: the budget is spent", err, f.n.Load())
		}
	}
	if got := hedgeReasons(&log); len(got) != 3 {
		t.Errorf("hedge events %v, want only the first call's three", got)
	}
}

func TestHedgeRunAndDoAreNotHedged(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	_, p := hedged(t, resilience.HedgeConfig{Delay: time.Millisecond}, clk, &log)
	if v, err := resilience.Do(context.Background(), p, func(context.Context) (int, error) { return 7, nil }); v != 7 || err != nil {
		t.Fatalf("Do = %d, %v", v, err)
	}
	if clk.Timers() != 0 || len(log.of(resilience.KindHedge)) != 0 {
		t.Error("Do armed a hedge")
	}
}

func TestHedgeDelayFollowsRecentLatencyWithinItsBounds(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	h, p := hedged(t, resilience.HedgeConfig{Percentile: 0.5, MinDelay: 5 * time.Millisecond, MaxDelay: 80 * time.Millisecond}, clk, &log)
	if d := h.Delay(); d != 80*time.Millisecond {
		t.Errorf("delay before any call = %v, want MaxDelay", d)
	}
	for _, lat := range []time.Duration{20 * time.Millisecond, 0, time.Second} {
		want := min(max(lat, 5*time.Millisecond), 80*time.Millisecond)
		for range 300 { // more than the samples kept
			err := resilience.RunHedged(context.Background(), p, func(context.Context) error {
				clk.Advance(lat) // the attempt takes lat; no hedge fires before it returns
				return nil
			})
			if err != nil && lat < 80*time.Millisecond {
				t.Fatal(err)
			}
		}
		if d := h.Delay(); d != want {
			t.Errorf("delay after calls of %v = %v, want %v", lat, d, want)
		}
	}
}

func TestHedgeAllFailingReturnsAnError(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	_, p := hedged(t, resilience.HedgeConfig{Delay: time.Millisecond}, clk, &log)
	if err := resilience.RunHedged(context.Background(), p, func(context.Context) error { return errBoom }); !errors.Is(err, errBoom) {
		t.Errorf("RunHedged of a failure = %v, want errBoom", err)
	}
	for _, cfg := range []resilience.HedgeConfig{{Delay: -1}, {Percentile: 1}, {MaxHedges: 11}, {MinDelay: time.Second, MaxDelay: time.Millisecond}} {
		if _, err := resilience.NewHedge(cfg); err == nil {
			t.Errorf("NewHedge(%+v) succeeded", cfg)
		}
	}
}
