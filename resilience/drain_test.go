package resilience_test

import (
	"context"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/fusebox-dev/fusebox/resilience"
)

func drained(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestARetiredPipelineWithoutCallsInFlightIsDrainedAtOnce(t *testing.T) {
	retry, err := resilience.NewRetry(resilience.RetryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("orders", resilience.Config{Policies: []resilience.Policy{retry}})
	if err != nil {
		t.Fatal(err)
	}
	if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if p.Retired() {
		t.Error("a pipeline reports retired before Retire")
	}
	ch := p.Retire()
	if !drained(ch) || !p.Retired() || p.InFlight() != 0 {
		t.Fatalf("drained %v, retired %v, in flight %d; want a closed channel at once", drained(ch), p.Retired(), p.InFlight())
	}
	if p.Retire() != ch {
		t.Error("a second Retire returned another channel")
	}
	// A caller that kept the pipeline can still use it.
	if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
		t.Errorf("a call through a retired pipeline: %v", err)
	}
}

func TestARetiredPipelineDrainsWhenItsLastCallInFlightReturns(t *testing.T) {
	p, err := resilience.New("orders", resilience.Config{Observers: []resilience.Observer{&eventLog{}}})
	if err != nil {
		t.Fatal(err)
	}
	release := []chan struct{}{make(chan struct{}), make(chan struct{})}
	started, returned := make(chan struct{}, 2), make(chan struct{}, 2)
	var wg sync.WaitGroup
	for _, r := range release {
		wg.Go(func() {
			_ = resilience.Run(context.Background(), p, func(context.Context) error {
				started <- struct{}{}
				<-r
				return nil
			})
			returned <- struct{}{}
		})
	}
	<-started
	<-started
	if n := p.InFlight(); n != 2 {
		t.Fatalf("InFlight = %d with two calls running, want 2", n)
	}
	ch := p.Retire()
	if drained(ch) {
		t.Fatal("drained with two calls in flight")
	}
	close(release[0])
	<-returned
	if n := p.InFlight(); n != 1 || drained(ch) {
		t.Fatalf("InFlight = %d, drained %v after one of two calls returned; want 1, false", n, drained(ch))
	}
	close(release[1])
	<-returned
	if !drained(ch) {
		t.Fatal("not drained once the last call in flight returned")
	}
	wg.Wait()
	if n := p.InFlight(); n != 0 {
		t.Errorf("InFlight = %d after every call returned", n)
	}
}

func TestACallThatPanicsStillCountsAsReturned(t *testing.T) {
	p, err := resilience.New("orders", resilience.Config{})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = recover() }()
		_ = resilience.Run(context.Background(), p, func(context.Context) error { panic("boom") })
	}()
	if n := p.InFlight(); n != 0 {
		t.Errorf("InFlight = %d after a call panicked, want 0", n)
	}
	if !drained(p.Retire()) {
		t.Error("a pipeline whose only call panicked does not drain")
	}
}

// TestRetireRacingCallsAlwaysDrains retires a pipeline while goroutines
// start and finish calls through it: once they all returned, the channel
// is closed, whatever the interleaving.
func TestRetireRacingCallsAlwaysDrains(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p, err := resilience.New("orders", resilience.Config{})
		if err != nil {
			rt.Fatal(err)
		}
		callers := rapid.IntRange(1, 8).Draw(rt, "callers")
		calls := rapid.IntRange(0, 50).Draw(rt, "calls")
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				<-start
				for range calls {
					_ = resilience.Run(context.Background(), p, func(context.Context) error { return nil })
				}
			})
		}
		var ch <-chan struct{}
		wg.Go(func() {
			<-start
			ch = p.Retire()
		})
		close(start)
		wg.Wait()
		if !drained(ch) {
			rt.Fatalf("not drained after every call returned (in flight %d)", p.InFlight())
		}
	})
}

func TestCallsThroughAllowAndDoFallbackCountAsInFlightUntilTheyReturn(t *testing.T) {
	b, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("orders", resilience.Config{Policies: []resilience.Policy{b}})
	if err != nil {
		t.Fatal(err)
	}
	done, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	if n := p.InFlight(); n != 1 {
		t.Errorf("InFlight = %d with a call let through by Allow, want 1", n)
	}
	ch := p.Retire()
	if drained(ch) {
		t.Error("drained before Allow's done")
	}
	done(true)
	done(true) // a second done changes nothing
	if n := p.InFlight(); n != 0 || !drained(ch) {
		t.Errorf("InFlight = %d, drained %v after done; want 0, true", n, drained(ch))
	}

	q, err := resilience.New("billing", resilience.Config{})
	if err != nil {
		t.Fatal(err)
	}
	inside := -1
	v, err := resilience.DoFallback(context.Background(), q, func(context.Context) (int, error) {
		inside = q.InFlight()
		return 0, errBoom
	}, func(context.Context, error) (int, error) { return 7, nil })
	if err != nil || v != 7 || inside != 1 || q.InFlight() != 0 {
		t.Errorf("DoFallback = %d, %v; in flight %d inside, %d after; want 7, nil, 1, 0", v, err, inside, q.InFlight())
	}
}

func TestAPipelineWithoutObserversCountsItsCalls(t *testing.T) {
	p, err := resilience.New("orders", resilience.Config{})
	if err != nil {
		t.Fatal(err)
	}
	inside := -1
	_ = resilience.Run(context.Background(), p, func(context.Context) error {
		inside = p.InFlight()
		return nil
	})
	if inside != 1 || p.InFlight() != 0 {
		t.Errorf("InFlight = %d during a call, %d after; want 1, 0", inside, p.InFlight())
	}
}
