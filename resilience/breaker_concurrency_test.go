package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// TestBreakerHalfOpenAdmitsExactlyItsProbes releases 64 goroutines at once
// on a half-open breaker (or on one whose open period just ran out, so that
// they also race to make it half-open). The probes hold until every
// goroutine has been admitted or rejected; exactly HalfOpenProbes run.
func TestBreakerHalfOpenAdmitsExactlyItsProbes(t *testing.T) {
	const callers, rounds = 64, 25
	tests := []struct {
		probes  int
		settled bool // State() made the breaker half-open before the crowd came
		result  error
		want    resilience.State
	}{
		{probes: 1, settled: true, result: nil, want: stClosed},
		{probes: 5, settled: true, result: nil, want: stClosed},
		{probes: 5, settled: false, result: nil, want: stClosed},
		{probes: 5, settled: false, result: errBrDown, want: stOpen},
		{probes: 63, settled: false, result: nil, want: stClosed},
		{probes: 64, settled: true, result: errBrDown, want: stOpen},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("%d probes, settled %v, probe error %v", tc.probes, tc.settled, tc.result)
		t.Run(name, func(t *testing.T) {
			for round := 0; round < rounds; round++ {
				f := newBrFixture(t, resilience.BreakerConfig{WindowSize: 1, MinimumCalls: 1, OpenDuration: time.Second,
					HalfOpenProbes: tc.probes}, true)
				f.run([]brStep{br.fail(1, stOpen)})
				f.clk.Advance(time.Second)
				if tc.settled && f.b.State() != stHalfOpen {
					t.Fatalf("state %s, want half_open", f.b.State())
				}

				start, hold := make(chan struct{}), make(chan struct{})
				var attempted, done sync.WaitGroup
				var admitted, rejected atomic.Int64
				attempted.Add(callers)
				done.Add(callers)
				for range callers {
					go func() {
						defer done.Done()
						<-start
						ran := false
						err := resilience.Run(context.Background(), f.p, func(context.Context) error {
							ran = true
							admitted.Add(1)
							attempted.Done()
							<-hold
							return tc.result
						})
						if !ran {
							if errors.Is(err, resilience.ErrOpen) {
								rejected.Add(1)
							}
							attempted.Done()
						}
					}()
				}
				close(start)
				attempted.Wait()
				if a, r := admitted.Load(), rejected.Load(); a != int64(tc.probes) || r != int64(callers-tc.probes) {
					t.Fatalf("round %d: %d admitted, %d rejected; want %d, %d", round, a, r, tc.probes, callers-tc.probes)
				}
				if got := f.b.State(); got != stHalfOpen {
					t.Fatalf("round %d: state %s while the probes run, want half_open", round, got)
				}
				close(hold)
				done.Wait()
				if got := f.b.State(); got != tc.want {
					t.Fatalf("round %d: state %s after the probes, want %s", round, got, tc.want)
				}
				want := []brMove{{stClosed, stOpen, resilience.ReasonAuto}, {stOpen, stHalfOpen, resilience.ReasonAuto},
					{stHalfOpen, tc.want, resilience.ReasonAuto}}
				if got := f.log.moves(); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("round %d: transitions %v, want %v", round, got, want)
				}
				if got := len(f.log.of(resilience.KindRejected)); got != callers-tc.probes {
					t.Fatalf("round %d: %d rejection events, want %d", round, got, callers-tc.probes)
				}
			}
		})
	}
}

// TestBreakerWindowsStayConsistentUnderConcurrentCalls hammers closed
// windows from many goroutines, each alternating failure and success, and
// checks that the running totals still agree with the window afterwards.
func TestBreakerWindowsStayConsistentUnderConcurrentCalls(t *testing.T) {
	const workers, calls = 8, 2000
	hammer := func(f *brFixture) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range calls {
					var result error
					if (i+w)%2 == 0 {
						result = errBrDown
					}
					if ran, err := f.call(context.Background(), 0, result); !ran {
						t.Errorf("call rejected: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
	}

	t.Run("a count window holds the last calls and its totals follow the ring", func(t *testing.T) {
		// With each goroutine alternating, a window larger than the number
		// of goroutines can never hold only failures, so it never trips.
		const size = 64
		f := newBrFixture(t, resilience.BreakerConfig{WindowSize: size, MinimumCalls: size, FailureRateThreshold: 1}, false)
		hammer(f)
		m := f.b.Metrics()
		if m.State != stClosed || m.Calls != size || m.Failures <= 0 || m.Failures >= size {
			t.Fatalf("after the load: %+v, want a full closed window of mixed outcomes", m)
		}
		f.run([]brStep{br.ok(size, stClosed), br.window(size, 0), br.fail(size-1, stClosed), br.window(size, size-1)})
	})

	t.Run("a time window counts every call of its seconds", func(t *testing.T) {
		f := newBrFixture(t, resilience.BreakerConfig{Window: resilience.WindowTime, WindowDuration: 2 * time.Second,
			FailureRateThreshold: 1}, false)
		hammer(f)
		f.run([]brStep{br.window(workers*calls, workers*calls/2)})
		f.clk.Advance(2 * time.Second)
		f.run([]brStep{br.window(0, 0)})
	})
}

// TestBreakerSurvivesTransitionsDuringLoad runs calls while another
// goroutine forces, lifts and times out the breaker; afterwards the state
// machine must still work as documented.
func TestBreakerSurvivesTransitionsDuringLoad(t *testing.T) {
	f := newBrFixture(t, resilience.BreakerConfig{WindowSize: 8, MinimumCalls: 4, OpenDuration: time.Second, HalfOpenProbes: 3}, true)
	f.log.transitionsOnly = true
	ctx := context.Background()
	stop := make(chan struct{})
	var made atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var result error
				if (i+w)%3 != 0 {
					result = errBrDown
				}
				_, _ = f.call(ctx, 0, result)
				_ = f.b.Metrics()
				made.Add(1)
				runtime.Gosched()
			}
		})
	}
	for i := range 300 {
		// Let the workers make some calls in each state.
		for target := made.Load() + 20; made.Load() < target; {
			runtime.Gosched()
		}
		switch i % 6 {
		case 0:
			mustOverride(t, f.b, ctx, stForcedOpen, "load", f.clk.Now().Add(time.Second))
		case 1:
			mustOverride(t, f.b, ctx, stForcedClosed, "load", time.Time{})
		case 2:
			if err := f.b.Auto(ctx, "load"); err != nil {
				t.Error(err)
			}
		default:
			f.clk.Advance(700 * time.Millisecond)
			_ = f.b.State()
		}
	}
	close(stop)
	wg.Wait()

	// Every transition is reported once, in order: each starts where the
	// one before ended.
	moves := f.log.moves()
	seen := map[resilience.State]int{}
	from := stClosed
	for i, mv := range moves {
		if mv.From != from {
			t.Fatalf("transition %d is %v, but the one before ended in %s", i, mv, from)
		}
		from = mv.To
		seen[mv.To]++
	}
	t.Logf("transitions into states: %v", seen)
	if m := f.b.Metrics(); m.Generation != uint64(len(moves)) {
		t.Fatalf("generation %d after %d reported transitions", m.Generation, len(moves))
	}

	mustOverride(t, f.b, ctx, stForcedOpen, "reset", time.Time{})
	if err := f.b.Auto(ctx, "reset"); err != nil {
		t.Fatal(err)
	}
	f.run([]brStep{br.window(0, 0), br.ok(2, stClosed), br.fail(2, stOpen), br.advance(time.Second, stHalfOpen),
		br.ok(3, stClosed)})
}
