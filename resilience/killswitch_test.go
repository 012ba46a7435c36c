package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func TestKillSwitchTurnsRetriesOffUntilItsEnd(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 3, Backoff: resilience.BackoffConfig{Base: 1, Max: 1}}))
	p := mustPipeline(t, "ks", resilience.Config{Policies: []resilience.Policy{retry}, Clock: clk})
	ctx := resilience.WithActor(context.Background(), "alice")
	if err := p.Disable(ctx, resilience.PolicyRetry, "retry storm", epoch.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ks := p.KillSwitches()
	if len(ks) != 1 || ks[0].Policy != resilience.PolicyRetry || ks[0].Actor != "alice" || ks[0].Reason != "retry storm" || !ks[0].Until.Equal(epoch.Add(10*time.Minute)) {
		t.Fatalf("kill switches %+v, want retry off by alice for 10m", ks)
	}
	calls := 0
	if err := resilience.Run(context.Background(), p, func(context.Context) error { calls++; return errBoom }); !errors.Is(err, errBoom) || calls != 1 {
		t.Errorf("a failing call with retries off = %v after %d attempts, want its error after 1", err, calls)
	}
	clk.Advance(10 * time.Minute)
	calls = 0
	if err := resilience.Run(context.Background(), p, func(context.Context) error { calls++; return errBoom }); calls != 3 {
		t.Errorf("a failing call after the switch ran out made %d attempts (%v), want 3", calls, err)
	}
	if ks := p.KillSwitches(); len(ks) != 0 {
		t.Errorf("kill switches after their end %+v, want none", ks)
	}
}

func TestKillSwitchEnableAndErrors(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second}))
	br := must[*resilience.Breaker](t)(resilience.NewBreaker(resilience.BreakerConfig{}))
	p := mustPipeline(t, "ks", resilience.Config{Policies: []resilience.Policy{br, to}, Clock: clk})
	if err := p.Disable(context.Background(), resilience.PolicyTimeout, "slow on purpose", time.Time{}); err != nil {
		t.Fatal(err)
	}
	// With the timeout off, a call that takes 2s is not cut.
	err := resilience.Run(context.Background(), p, func(ctx context.Context) error {
		clk.Advance(2 * time.Second)
		return ctx.Err()
	})
	if err != nil {
		t.Errorf("a 2s call with the 1s timeout off = %v, want success", err)
	}
	if err := p.Enable(resilience.PolicyTimeout); err != nil || len(p.KillSwitches()) != 0 {
		t.Errorf("Enable = %v, switches %v; want none left", err, p.KillSwitches())
	}
	// Not in the pipeline, the breaker's zero kind, not a kind at all.
	for _, kind := range []resilience.PolicyKind{resilience.PolicyRetry, 0, 200} {
		if err := p.Disable(context.Background(), kind, "x", time.Time{}); !errors.Is(err, resilience.ErrNoPolicy) {
			t.Errorf("Disable(%v) = %v, want ErrNoPolicy", kind, err)
		}
	}
	if err := p.Disable(context.Background(), resilience.PolicyTimeout, "x", epoch); err == nil {
		t.Error("Disable until now succeeded")
	}
}
