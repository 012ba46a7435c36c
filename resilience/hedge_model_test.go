package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// outcomeFn is a function whose n-th invocation (from 1) waits for its
// outcome (a value, or an error when fail is set) on gate(n), or for its
// context to end; returned receives n once the invocation returned.
type outcomeFn struct {
	mu       sync.Mutex
	n        int
	gates    map[int]chan bool
	causes   map[int]error
	started  chan int
	returned chan int
}

func newOutcomeFn() *outcomeFn {
	return &outcomeFn{gates: map[int]chan bool{}, causes: map[int]error{}, started: make(chan int, 64), returned: make(chan int, 64)}
}

func (f *outcomeFn) gate(n int) chan bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gates[n] == nil {
		f.gates[n] = make(chan bool, 1)
	}
	return f.gates[n]
}

func (f *outcomeFn) call(ctx context.Context) (int, error) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	g := f.gate(n)
	f.started <- n
	defer func() { f.returned <- n }()
	select {
	case fail := <-g:
		if fail {
			return 0, fmt.Errorf("attempt %d failed", n)
		}
		return n, nil
	case <-ctx.Done():
		f.mu.Lock()
		f.causes[n] = context.Cause(ctx)
		f.mu.Unlock()
		return 0, ctx.Err()
	}
}

// TestHedgeModel drives hedged calls through random runs of hedge delays
// passing and attempts succeeding or failing, and checks them against a
// model: the first success wins and the attempts still running are
// cancelled with ErrHedgeLost; a call whose attempts all fail fails with
// the error of one of them; no more than MaxHedges hedges start, and none
// once the call is decided; every attempt has returned when the call does
// and no timer is left; the counts and events agree.
func TestHedgeModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxHedges := rapid.IntRange(1, 4).Draw(t, "maxHedges")
		clk := resiliencetest.NewClock(epoch)
		var log eventLog
		h, err := resilience.NewHedge(resilience.HedgeConfig{Delay: 10 * time.Millisecond, MaxHedges: maxHedges,
			Budget: resilience.BudgetConfig{Disabled: true}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := resilience.New("hedged", resilience.Config{Policies: []resilience.Policy{h}, Clock: clk, Observers: []resilience.Observer{&log}})
		if err != nil {
			t.Fatal(err)
		}
		calls := rapid.IntRange(1, 3).Draw(t, "calls")
		// An attempt that failed may still be counted as cancelled when
		// another wins before its end reached the hedge (it returned, but
		// the hedge had not seen it yet): canceled is exact up to them.
		var started, won, canceled, mayCancel uint64
		for call := range calls {
			f := newOutcomeFn()
			type result struct {
				v   int
				err error
			}
			out := make(chan result, 1)
			go func() {
				v, err := resilience.Do(context.Background(), p, f.call)
				out <- result{v, err}
			}()
			<-f.started
			running := []int{1} // invocation n+1 is hedge n
			hedges, winner := 0, 0
			var failed []int
			for winner == 0 && len(running) > 0 {
				actions := []string{"succeed", "fail"}
				if hedges < maxHedges {
					actions = append(actions, "delay")
				}
				switch rapid.SampledFrom(actions).Draw(t, fmt.Sprintf("call %d action", call)) {
				case "delay":
					clk.BlockUntil(1)
					clk.Advance(10 * time.Millisecond)
					n := <-f.started
					hedges++
					if n != hedges+1 {
						t.Fatalf("hedge %d is invocation %d", hedges, n)
					}
					running = append(running, n)
				case "succeed":
					n := rapid.SampledFrom(running).Draw(t, "succeeds")
					f.gate(n) <- false
					winner = n
				case "fail":
					n := rapid.SampledFrom(running).Draw(t, "fails")
					f.gate(n) <- true
					for <-f.returned != n {
					}
					running = slices.DeleteFunc(running, func(k int) bool { return k == n })
					failed = append(failed, n)
				}
			}
			r := <-out
			if winner != 0 {
				if r.err != nil || r.v != winner {
					t.Fatalf("call = %d, %v; want invocation %d's success", r.v, r.err, winner)
				}
				for _, n := range running {
					f.mu.Lock()
					cause := f.causes[n]
					f.mu.Unlock()
					if n != winner && !errors.Is(cause, resilience.ErrHedgeLost) {
						t.Fatalf("invocation %d ended with cause %v, want ErrHedgeLost", n, cause)
					}
				}
				canceled += uint64(len(running) - 1)
				mayCancel += uint64(len(failed))
				if winner > 1 {
					won++
				}
			} else {
				ok := false
				for _, n := range failed {
					ok = ok || (r.err != nil && r.err.Error() == fmt.Sprintf("attempt %d failed", n))
				}
				if !ok {
					t.Fatalf("call = %d, %v; want the error of one of the failed attempts %v", r.v, r.err, failed)
				}
			}
			started += uint64(hedges)
			if n := clk.Timers(); n != 0 {
				t.Fatalf("%d timers left after the call", n)
			}
			clk.Advance(time.Hour) // no hedge starts once the call returned
			f.mu.Lock()
			invocations := f.n
			f.mu.Unlock()
			if invocations != hedges+1 {
				t.Fatalf("%d invocations, want %d", invocations, hedges+1)
			}
		}
		if got := h.Counts(); got.Started != started || got.Won != won || got.Canceled < canceled || got.Canceled > canceled+mayCancel {
			t.Fatalf("counts %+v, want %d started, %d won and %d to %d cancelled", got, started, won, canceled, canceled+mayCancel)
		}
		var events resilience.HedgeCounts
		for _, e := range log.of(resilience.KindHedge) {
			switch e.Reason {
			case resilience.ReasonHedgeStarted:
				events.Started++
			case resilience.ReasonHedgeWon:
				events.Won++
			case resilience.ReasonHedgeCanceled:
				events.Canceled++
			}
		}
		if events != h.Counts() {
			t.Fatalf("hedge events %+v, counts %+v", events, h.Counts())
		}
		if ends := log.of(resilience.KindCallEnd); len(ends) != calls {
			t.Fatalf("%d call ends for %d calls", len(ends), calls)
		}
	})
}
