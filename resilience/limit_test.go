package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func TestAdaptiveLimitRefusesCallsBeyondItsLimit(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	l := must[*resilience.AdaptiveLimit](t)(resilience.NewAdaptiveLimit(resilience.AdaptiveLimitConfig{InitialLimit: 2, MaxLimit: 2}))
	p := mustPipeline(t, "limited", resilience.Config{Policies: []resilience.Policy{l}, Clock: clk, Observers: []resilience.Observer{&log}})
	release, entered := make(chan struct{}), make(chan struct{}, 2)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			done <- resilience.Run(context.Background(), p, func(context.Context) error {
				entered <- struct{}{}
				<-release
				return nil
			})
		}()
	}
	<-entered
	<-entered
	if l.InFlight() != 2 || !l.Saturated() {
		t.Errorf("in flight %d (saturated %v), want 2 of a limit of 2", l.InFlight(), l.Saturated())
	}
	err := resilience.Run(context.Background(), p, func(context.Context) error { return nil })
	if !errors.Is(err, resilience.ErrLimitExceeded) {
		t.Fatalf("a third call = %v, want ErrLimitExceeded", err)
	}
	rej := log.of(resilience.KindRejected)
	if len(rej) != 1 || rej[0].Reason != resilience.ReasonLimitExceeded || rej[0].Reason.String() != "concurrency_limit" {
		t.Errorf("rejections %+v, want one with ReasonLimitExceeded", rej)
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if l.InFlight() != 0 {
		t.Errorf("in flight %d after the calls returned", l.InFlight())
	}
	if resilience.DefaultRetryable(err) {
		t.Error("DefaultRetryable retries a refusal of the limit")
	}
}

func TestAdaptiveLimitConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg   resilience.AdaptiveLimitConfig
		field string
	}{
		{resilience.AdaptiveLimitConfig{MinLimit: -1}, "AdaptiveLimit.MinLimit"},
		{resilience.AdaptiveLimitConfig{MinLimit: 10, MaxLimit: 5}, "AdaptiveLimit.MaxLimit"},
		{resilience.AdaptiveLimitConfig{InitialLimit: 5000}, "AdaptiveLimit.InitialLimit"},
		{resilience.AdaptiveLimitConfig{BackoffRatio: 1}, "AdaptiveLimit.BackoffRatio"},
		{resilience.AdaptiveLimitConfig{Algorithm: 9}, "AdaptiveLimit.Algorithm"},
	} {
		var ce *resilience.ConfigError
		if _, err := resilience.NewAdaptiveLimit(tc.cfg); !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("NewAdaptiveLimit(%+v) = %v, want a *ConfigError naming %s", tc.cfg, err, tc.field)
		}
	}
	var a resilience.LimitAlgorithm
	if err := a.UnmarshalText([]byte("vegas")); err != nil || a != resilience.LimitVegas {
		t.Errorf("UnmarshalText(vegas) = %v, %v", a, err)
	}
	if err := a.UnmarshalText([]byte("gradient")); err == nil {
		t.Error("UnmarshalText(gradient) succeeded")
	}
}

func TestAdaptiveLimitKeepsItsHistory(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	l := must[*resilience.AdaptiveLimit](t)(resilience.NewAdaptiveLimit(resilience.AdaptiveLimitConfig{InitialLimit: 100, DropLatency: 10 * time.Millisecond}))
	p := mustPipeline(t, "limited", resilience.Config{Policies: []resilience.Policy{l}, Clock: clk})
	slow := func(context.Context) error { clk.Advance(20 * time.Millisecond); return nil }
	for range 3 {
		if err := resilience.Run(context.Background(), p, slow); err != nil {
			t.Fatal(err)
		}
	}
	h := l.History()
	if len(h) != 3 || h[0].Limit != 90 || h[1].Limit != 81 || h[2].Limit != 72 || h[2].Limit != l.Limit() {
		t.Fatalf("history %+v, want the limit falling by a tenth on each slow call: 90, 81, 72", h)
	}
	if !h[0].Time.Equal(epoch.Add(20*time.Millisecond)) || !h[2].Time.Equal(epoch.Add(60*time.Millisecond)) {
		t.Errorf("history times %v … %v, want the end of each call", h[0].Time, h[2].Time)
	}
	// Down to the floor, then up and down by one on every call.
	fast := func(context.Context) error { return nil }
	for i := range 300 {
		if i%2 == 0 {
			_ = resilience.Run(context.Background(), p, slow)
		} else {
			_ = resilience.Run(context.Background(), p, fast)
		}
	}
	if h := l.History(); len(h) != 120 || h[len(h)-1].Limit != l.Limit() {
		t.Errorf("history of %d changes ending at %d, want the latest 120 ending at the limit %d", len(h), h[len(h)-1].Limit, l.Limit())
	}
}
