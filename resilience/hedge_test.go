package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
		v, err := resilience.Do(context.Background(), p, f.call)
		out <- res{v, err}
	}()
	<-f.started
	clk.BlockUntil(1)
	clk.Advance(100 * time.Millisecond)
	r := <-out
	if r.err != nil || r.v != 2 {
		t.Fatalf("Do = %d, %v; want the hedge's answer 2", r.v, r.err)
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
	for _, ep := range entryPoints[:2] { // Run and Do; the others answer a failure with a fallback
		for maxHedges := 1; maxHedges <= 4; maxHedges++ {
			clk := resiliencetest.NewClock(epoch)
			var log eventLog
			h, p := hedged(t, resilience.HedgeConfig{Delay: 10 * time.Millisecond, MaxHedges: maxHedges}, clk, &log)
			f := newHedgedFn(func(int) bool { return true })
			ctx, cancel := context.WithCancel(context.Background())
			out := make(chan error, 1)
			go func() {
				_, err := ep.call(ctx, p, f.call)
				out <- err
			}()
			<-f.started
			for range maxHedges {
				clk.BlockUntil(1)
				clk.Advance(10 * time.Millisecond)
				<-f.started
			}
			if n := clk.Timers(); n != 0 {
				t.Errorf("%s, MaxHedges %d: %d timers armed after the last hedge, want none", ep.name, maxHedges, n)
			}
			clk.Advance(time.Hour)
			cancel()
			if err := <-out; !errors.Is(err, context.Canceled) {
				t.Errorf("%s, MaxHedges %d: a cancelled call = %v, want context.Canceled", ep.name, maxHedges, err)
			}
			if got := int(f.n.Load()); got != maxHedges+1 || h.Counts().Started != uint64(maxHedges) {
				t.Errorf("%s, MaxHedges %d: %d attempts, %d hedges; want %d and %d", ep.name, maxHedges, got, h.Counts().Started, maxHedges+1, maxHedges)
			}
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
			out <- resilience.Run(ctx, p, func(ctx context.Context) error { _, err := f.call(ctx); return err })
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
			err := resilience.Run(context.Background(), p, func(context.Context) error {
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
	if err := resilience.Run(context.Background(), p, func(context.Context) error { return errBoom }); !errors.Is(err, errBoom) {
		t.Errorf("Run of a failure = %v, want errBoom", err)
	}
	for _, cfg := range []resilience.HedgeConfig{{Delay: -1}, {Percentile: 1}, {MaxHedges: 11}, {MinDelay: time.Second, MaxDelay: time.Millisecond}} {
		if _, err := resilience.NewHedge(cfg); err == nil {
			t.Errorf("NewHedge(%+v) succeeded", cfg)
		}
	}
}

// entryPoints are the ways to make a call, each returning the call's
// value (the invocation number of the attempt that answered, or 0).
var entryPoints = []struct {
	name string
	call func(ctx context.Context, p *resilience.Pipeline, fn func(context.Context) (int, error)) (int, error)
}{
	{"Run", func(ctx context.Context, p *resilience.Pipeline, fn func(context.Context) (int, error)) (int, error) {
		var got atomic.Int64 // hedged attempts answer on other goroutines
		err := resilience.Run(ctx, p, func(ctx context.Context) error {
			v, err := fn(ctx)
			if err == nil {
				got.Store(int64(v))
			}
			return err
		})
		return int(got.Load()), err
	}},
	{"Do", resilience.Do[int]},
	{"DoFallback", func(ctx context.Context, p *resilience.Pipeline, fn func(context.Context) (int, error)) (int, error) {
		return resilience.DoFallback(ctx, p, fn, func(context.Context, error) (int, error) { return -1, nil })
	}},
	{"StaleCache.Do", func(ctx context.Context, p *resilience.Pipeline, fn func(context.Context) (int, error)) (int, error) {
		cache, err := resilience.NewStaleCache[string, int](resilience.StaleCacheConfig{MaxAge: time.Hour})
		if err != nil {
			return 0, err
		}
		v, err := cache.Do(ctx, p, "k", fn)
		if kept, _, ok := cache.Get("k", p.Clock().Now()); err == nil && (!ok || kept != v) {
			return 0, fmt.Errorf("the cache kept %d (%v), not the answer %d", kept, ok, v)
		}
		return v, err
	}},
}

func TestHedgeEveryEntryPointIsHedged(t *testing.T) {
	for _, ep := range entryPoints {
		t.Run(ep.name, func(t *testing.T) {
			clk := resiliencetest.NewClock(epoch)
			var log eventLog
			h, p := hedged(t, resilience.HedgeConfig{Delay: 100 * time.Millisecond}, clk, &log)
			f := newHedgedFn(func(n int) bool { return n == 1 })
			type res struct {
				v   int
				err error
			}
			out := make(chan res, 1)
			go func() {
				v, err := ep.call(context.Background(), p, f.call)
				out <- res{v, err}
			}()
			<-f.started
			clk.BlockUntil(1)
			clk.Advance(100 * time.Millisecond)
			if r := <-out; r.err != nil || r.v != 2 {
				t.Fatalf("%s = %d, %v; want the hedge's answer 2", ep.name, r.v, r.err)
			}
			if cause := <-f.causes; !errors.Is(cause, resilience.ErrHedgeLost) {
				t.Errorf("the first attempt was cancelled with %v, want ErrHedgeLost", cause)
			}
			if got, want := h.Counts(), (resilience.HedgeCounts{Started: 1, Won: 1, Canceled: 1}); got != want {
				t.Errorf("counts %+v, want %+v", got, want)
			}
			if got, want := hedgeReasons(&log), []string{"hedge_started", "hedge_won", "hedge_canceled"}; !slices.Equal(got, want) {
				t.Errorf("hedge events %v, want %v", got, want)
			}
			if ends := log.of(resilience.KindCallEnd); len(ends) != 1 || ends[0].Outcome != resilience.OutcomeSuccess || ends[0].Attempt != 2 {
				t.Errorf("call ends %+v, want one success after attempt 2", ends)
			}
		})
	}
}

// gatedFn is a function whose n-th invocation (from 1) waits for a value
// sent on gate(n), or for its context to end.
type gatedFn struct {
	n       atomic.Int32
	started chan int
	mu      sync.Mutex
	gates   map[int]chan int
	causes  map[int]error
}

func newGatedFn() *gatedFn {
	return &gatedFn{started: make(chan int, 64), gates: map[int]chan int{}, causes: map[int]error{}}
}

func (f *gatedFn) gate(n int) chan int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gates[n] == nil {
		f.gates[n] = make(chan int, 1)
	}
	return f.gates[n]
}

func (f *gatedFn) cause(n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.causes[n]
}

func (f *gatedFn) call(ctx context.Context) (int, error) {
	n := int(f.n.Add(1))
	g := f.gate(n)
	f.started <- n
	select {
	case v := <-g:
		return v, nil
	case <-ctx.Done():
		f.mu.Lock()
		f.causes[n] = context.Cause(ctx)
		f.mu.Unlock()
		return 0, ctx.Err()
	}
}

func TestHedgeTheFirstAttemptCanStillWin(t *testing.T) {
	for _, ep := range entryPoints {
		t.Run(ep.name, func(t *testing.T) {
			clk := resiliencetest.NewClock(epoch)
			var log eventLog
			h, p := hedged(t, resilience.HedgeConfig{Delay: 10 * time.Millisecond, MaxHedges: 2}, clk, &log)
			f := newGatedFn()
			out := make(chan int, 1)
			go func() {
				v, err := ep.call(context.Background(), p, f.call)
				if err != nil {
					t.Error(err)
				}
				out <- v
			}()
			<-f.started
			clk.BlockUntil(1)
			clk.Advance(10 * time.Millisecond)
			<-f.started // hedge 1 runs; the timer of hedge 2 is set
			clk.BlockUntil(1)
			f.gate(1) <- 11
			if v := <-out; v != 11 {
				t.Errorf("%s = %d, want the first attempt's 11", ep.name, v)
			}
			if cause := f.cause(2); !errors.Is(cause, resilience.ErrHedgeLost) {
				t.Errorf("the hedge was cancelled with %v, want ErrHedgeLost", cause)
			}
			if n := clk.Timers(); n != 0 {
				t.Errorf("%d timers left set after the call, want 0", n)
			}
			clk.Advance(time.Hour)
			if n := f.n.Load(); n != 2 {
				t.Errorf("%d attempts, want 2: no hedge starts once the call is decided", n)
			}
			if got, want := h.Counts(), (resilience.HedgeCounts{Started: 1, Canceled: 1}); got != want {
				t.Errorf("counts %+v, want %+v", got, want)
			}
			if got, want := hedgeReasons(&log), []string{"hedge_started", "hedge_canceled"}; !slices.Equal(got, want) {
				t.Errorf("hedge events %v, want %v", got, want)
			}
		})
	}
}

func TestHedgeACallThatAnswersBeforeTheDelayStartsNoHedge(t *testing.T) {
	for _, ep := range entryPoints {
		t.Run(ep.name, func(t *testing.T) {
			clk := resiliencetest.NewClock(epoch)
			var log eventLog
			h, p := hedged(t, resilience.HedgeConfig{Delay: time.Millisecond}, clk, &log)
			var n atomic.Int32
			for i := range 50 {
				v, err := ep.call(context.Background(), p, func(context.Context) (int, error) { return int(n.Add(1)), nil })
				if err != nil || v != i+1 {
					t.Fatalf("call %d = %d, %v", i+1, v, err)
				}
			}
			if k := clk.Timers(); k != 0 {
				t.Errorf("%d timers left set, want 0", k)
			}
			clk.Advance(time.Hour)
			if got := n.Load(); got != 50 {
				t.Errorf("%d attempts for 50 calls, want 50", got)
			}
			if c := h.Counts(); c != (resilience.HedgeCounts{}) || len(log.of(resilience.KindHedge)) != 0 {
				t.Errorf("counts %+v and %d hedge events, want none", c, len(log.of(resilience.KindHedge)))
			}
		})
	}
}

func TestHedgeWithoutHedgingLetsTheCallThrough(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	h, p := hedged(t, resilience.HedgeConfig{Delay: time.Millisecond}, clk, &log)
	f := newGatedFn()
	out := make(chan int, 1)
	go func() {
		v, _ := resilience.Do(resilience.WithoutHedging(context.Background()), p, f.call)
		out <- v
	}()
	<-f.started
	if n := clk.Timers(); n != 0 {
		t.Errorf("%d timers set for a call without hedging, want 0", n)
	}
	clk.Advance(time.Hour)
	f.gate(1) <- 5
	if v := <-out; v != 5 || f.n.Load() != 1 || h.Counts() != (resilience.HedgeCounts{}) {
		t.Errorf("Do = %d after %d attempts, counts %+v; want 5 after 1, no hedge", v, f.n.Load(), h.Counts())
	}
}

func TestHedgeBudgetRatioCountsTheCalls(t *testing.T) {
	// Hedges may be half of the calls (plus 0.1 over the window): of 10
	// calls that all want one, the 2nd, 4th, … get it.
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	outcome := make(chan resilience.Kind, 64)
	h := must[*resilience.Hedge](t)(resilience.NewHedge(resilience.HedgeConfig{Delay: time.Millisecond,
		Budget: resilience.BudgetConfig{Ratio: 0.5, MinPerSecond: 0.01}}))
	p := mustPipeline(t, "hedged", resilience.Config{Policies: []resilience.Policy{h}, Clock: clk, Observers: []resilience.Observer{&log,
		resilience.ObserverFunc(func(_ context.Context, e resilience.Event) {
			if e.Kind == resilience.KindBudgetExhausted || (e.Kind == resilience.KindHedge && e.Reason == resilience.ReasonHedgeStarted) {
				outcome <- e.Kind
			}
		})}})
	var hedgedCalls []int
	for call := 1; call <= 10; call++ {
		f := newGatedFn()
		done := make(chan struct{})
		go func() {
			_, _ = resilience.Do(context.Background(), p, f.call)
			close(done)
		}()
		<-f.started
		clk.BlockUntil(1)
		clk.Advance(time.Millisecond)
		if <-outcome == resilience.KindHedge {
			hedgedCalls = append(hedgedCalls, call)
			<-f.started
			f.gate(2) <- 2
		} else {
			f.gate(1) <- 1
		}
		<-done
	}
	if want := []int{2, 4, 6, 8, 10}; !slices.Equal(hedgedCalls, want) {
		t.Errorf("calls hedged %v, want %v", hedgedCalls, want)
	}
}

func TestHedgeAPanicReachesTheCaller(t *testing.T) {
	for _, first := range []bool{true, false} {
		clk := resiliencetest.NewClock(epoch)
		var log eventLog
		_, p := hedged(t, resilience.HedgeConfig{Delay: time.Millisecond}, clk, &log)
		f := newGatedFn()
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			_ = resilience.Run(context.Background(), p, func(ctx context.Context) error {
				n, err := f.call(ctx)
				if n == 1 {
					panic("boom")
				}
				return err
			})
		}()
		<-f.started
		clk.BlockUntil(1)
		clk.Advance(time.Millisecond)
		<-f.started
		if first {
			f.gate(1) <- 1 // the first attempt panics; the hedge is cancelled
		} else {
			f.gate(2) <- 1 // the hedge panics; the first attempt goes on
			f.gate(1) <- 3
		}
		if r := <-panicked; r == nil || !strings.Contains(fmt.Sprint(r), "boom") {
			t.Errorf("first=%v: the call ended with %v, want the panic", first, r)
		}
		if first && !errors.Is(f.cause(2), context.Canceled) {
			t.Errorf("the hedge was cancelled with %v, want context.Canceled", f.cause(2))
		}
	}
}

func TestHedgeConcurrentCallsGetTheirOwnAnswers(t *testing.T) {
	// On the real clock, with a delay of a microsecond: of the two
	// attempts of every call, the one that calls the function first waits
	// to be cancelled, so every call starts a hedge and cancels an attempt
	// (the hedge itself when it was the quicker to start).
	h := must[*resilience.Hedge](t)(resilience.NewHedge(resilience.HedgeConfig{Delay: time.Microsecond, Budget: resilience.BudgetConfig{Disabled: true}}))
	p := mustPipeline(t, "hedged", resilience.Config{Policies: []resilience.Policy{h}})
	const workers, calls = 8, 100
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				id := w*calls + i
				var n atomic.Int32
				v, err := resilience.Do(context.Background(), p, func(ctx context.Context) (int, error) {
					if n.Add(1) == 1 {
						<-ctx.Done()
						return 0, ctx.Err()
					}
					return id, nil
				})
				if err != nil || v != id {
					t.Errorf("call %d = %d, %v", id, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if c := h.Counts(); c.Started != workers*calls || c.Canceled != workers*calls || c.Won > workers*calls {
		t.Errorf("counts %+v, want %d hedges started and as many attempts cancelled", c, workers*calls)
	}
}

func TestHedgeAllocatesOnlyTheCancellableContextWhenNoHedgeStarts(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop pooled call states, which then allocate")
	}
	h := must[*resilience.Hedge](t)(resilience.NewHedge(resilience.HedgeConfig{Delay: time.Hour}))
	p := mustPipeline(t, "hedged", resilience.Config{Policies: []resilience.Policy{h}})
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	// context.WithCancelCause: the context and its cancel function.
	if n := testing.AllocsPerRun(1000, func() { _, _ = resilience.Do(ctx, p, fn) }); n > 2 {
		t.Errorf("allocations per call answered before the delay = %v, want at most 2", n)
	}
}
