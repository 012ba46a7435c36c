package resilience_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

var (
	errBoom = errors.New("boom")
	epoch   = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// eventLog records events; it is safe for concurrent use.
type eventLog struct {
	mu     sync.Mutex
	events []resilience.Event
}

func (l *eventLog) Observe(_ context.Context, e resilience.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) all() []resilience.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]resilience.Event(nil), l.events...)
}

func (l *eventLog) of(k resilience.Kind) []resilience.Event {
	var out []resilience.Event
	for _, e := range l.all() {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func (l *eventLog) kinds() []resilience.Kind {
	var out []resilience.Kind
	for _, e := range l.all() {
		out = append(out, e.Kind)
	}
	return out
}

// scheduler forwards the delay of every scheduled retry, so a test can
// advance a fake clock exactly when the pipeline waits.
type scheduler chan time.Duration

func (s scheduler) Observe(_ context.Context, e resilience.Event) {
	if e.Kind == resilience.KindRetryScheduled {
		s <- e.Delay
	}
}

// runDriven runs call in a goroutine and advances clk by each scheduled
// delay once the pipeline waits on its timer, until call returns.
func runDriven(t *testing.T, clk *resiliencetest.Clock, sched scheduler, call func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		call()
	}()
	for {
		select {
		case d := <-sched:
			clk.BlockUntil(1)
			clk.Advance(d)
		case <-done:
			return
		}
	}
}

// failing returns a function that fails n times with err, then succeeds
// returning "ok"; calls counts its calls.
func failing(n int, err error, calls *int) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		*calls++
		if *calls <= n {
			return "", err
		}
		return "ok", nil
	}
}

func mustPipeline(t testing.TB, name string, cfg resilience.Config) *resilience.Pipeline {
	t.Helper()
	p, err := resilience.New(name, cfg)
	if err != nil {
		t.Fatalf("New(%q): %v", name, err)
	}
	return p
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
