package telemetry

import (
	"context"
	"errors"
	"testing"

	"github.com/fusebox-dev/fusebox/resilience"
)

func TestRegistryReaderAddsTheBreakerWindowAndTheRetryBudget(t *testing.T) {
	var reg resilience.Registry
	a, clock := newTestAggregator(t, AggregatorConfig{Policies: RegistryReader(&reg)})
	br, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("db", resilience.Config{Policies: []resilience.Policy{rt, br}, Observers: []resilience.Observer{a}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	for i := range 4 {
		_ = resilience.Run(context.Background(), p, func(context.Context) error {
			if i%2 == 0 {
				return boom
			}
			return nil
		})
	}
	s := mustSnapshot(t, a, "db")
	if s.Breaker.Live == nil || s.Breaker.Live.Calls != 4 || s.Breaker.Live.FailureRate != 0.5 {
		t.Errorf("breaker window = %+v, want 4 calls at a 0.5 failure rate", s.Breaker.Live)
	}
	if s.Budget == nil || s.Budget.Calls != 4 || s.Budget.Headroom != 1 {
		t.Errorf("budget = %+v, want 4 calls and all headroom", s.Budget)
	}
	if _, ok := RegistryReader(&reg).ReadPolicies("nope"); ok {
		t.Error("an unknown pipeline reads as known")
	}
}
