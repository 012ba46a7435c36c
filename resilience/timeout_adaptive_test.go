package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func adaptiveTimeout(t testing.TB, a resilience.AdaptiveTimeoutConfig, clk *resiliencetest.Clock, outer ...resilience.Policy) (*resilience.Timeout, *resilience.Pipeline) {
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(resilience.TimeoutConfig{Adaptive: &a}))
	var log eventLog
	return to, mustPipeline(t, "adaptive", resilience.Config{Policies: append(outer, to), Clock: clk, Observers: []resilience.Observer{&log}})
}

// taking returns a function that takes d on clk and succeeds.
func taking(clk *resiliencetest.Clock, d time.Duration) func(context.Context) error {
	return func(context.Context) error { clk.Advance(d); return nil }
}

func TestAdaptiveTimeoutFollowsLatency(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	to, p := adaptiveTimeout(t, resilience.AdaptiveTimeoutConfig{Percentile: 0.99, Factor: 1.5, Min: 50 * time.Millisecond, Max: 2 * time.Second}, clk)
	if d := to.Effective(); d != 2*time.Second {
		t.Errorf("timeout before any call = %v, want Max", d)
	}
	for range 300 {
		if err := resilience.Run(context.Background(), p, taking(clk, 100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if d := to.Effective(); d != 150*time.Millisecond {
		t.Errorf("timeout after calls of 100ms = %v, want 1.5 × 100ms", d)
	}
	for range 300 {
		_ = resilience.Run(context.Background(), p, taking(clk, 10*time.Millisecond))
	}
	if d := to.Effective(); d != 50*time.Millisecond {
		t.Errorf("timeout after calls of 10ms = %v, want Min (15ms is below it)", d)
	}
}

func TestAdaptiveTimeoutGrowsWhenCallsTimeOut(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(resilience.TimeoutConfig{Adaptive: &resilience.AdaptiveTimeoutConfig{
		Factor: 2, Min: 10 * time.Millisecond, Max: time.Second,
	}, Duration: 10 * time.Millisecond}))
	p := mustPipeline(t, "adaptive", resilience.Config{Policies: []resilience.Policy{to}, Clock: clk, Observers: []resilience.Observer{&log}})
	// The dependency now takes 300ms: calls are cut, and the timeout
	// doubles each time the percentile is recomputed until they pass.
	slow := func(ctx context.Context) error {
		cut := to.Effective() <= 300*time.Millisecond
		clk.Advance(300 * time.Millisecond)
		if cut {
			<-ctx.Done() // the timeout fires on its own goroutine
		}
		return ctx.Err()
	}
	for range 2000 {
		_ = resilience.Run(context.Background(), p, slow)
	}
	if d := to.Effective(); d < 300*time.Millisecond || d > time.Second {
		t.Errorf("timeout after a slow spell = %v, want it grown past 300ms", d)
	}
	tos := log.of(resilience.KindTimeout)
	if len(tos) == 0 || tos[0].Duration != 10*time.Millisecond {
		t.Fatalf("timeout events %d, first with %v; want the effective timeout as Duration, 10ms first", len(tos), tos[0].Duration)
	}
	var te *resilience.TimeoutError
	err := resilience.Run(context.Background(), p, func(ctx context.Context) error {
		clk.Advance(2 * time.Second)
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.As(err, &te) || te.Timeout < 300*time.Millisecond {
		t.Errorf("a cut call = %v, want a *TimeoutError with the effective timeout", err)
	}
}

func TestAdaptiveTimeoutShortensUnderStrain(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	lim := must[*resilience.RateLimiter](t)(resilience.NewRateLimiter(resilience.RateLimiterConfig{Rate: 1, Burst: 1}))
	to, p := adaptiveTimeout(t, resilience.AdaptiveTimeoutConfig{Min: 10 * time.Millisecond, Max: 800 * time.Millisecond}, clk, lim)
	if d := to.Effective(); d != 800*time.Millisecond || to.Strained() {
		t.Fatalf("timeout with a token left = %v (strained %v), want Max", d, to.Strained())
	}
	if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if d := to.Effective(); d != 400*time.Millisecond || !to.Strained() {
		t.Errorf("timeout with the limiter spent = %v (strained %v), want half of Max", d, to.Strained())
	}
}

func TestAdaptiveTimeoutStaysWithinItsBounds(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		lo := time.Duration(rapid.Int64Range(1, 1e9).Draw(rt, "min"))
		hi := lo + time.Duration(rapid.Int64Range(0, 5e9).Draw(rt, "span"))
		a := resilience.AdaptiveTimeoutConfig{
			Percentile:   rapid.Float64Range(0.01, 0.999).Draw(rt, "percentile"),
			Factor:       rapid.Float64Range(1, 10).Draw(rt, "factor"),
			StrainFactor: rapid.Float64Range(0.01, 1).Draw(rt, "strain"),
			Min:          lo, Max: hi,
		}
		clk := resiliencetest.NewClock(epoch)
		bh, err := resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: rapid.IntRange(1, 2).Draw(rt, "slots")})
		if err != nil {
			rt.Fatal(err)
		}
		to, err := resilience.NewTimeout(resilience.TimeoutConfig{Adaptive: &a})
		if err != nil {
			rt.Fatal(err)
		}
		p, err := resilience.New("adaptive", resilience.Config{Policies: []resilience.Policy{bh, to}, Clock: clk})
		if err != nil {
			rt.Fatal(err)
		}
		for _, lat := range rapid.SliceOfN(rapid.Int64Range(0, 2e10), 1, 200).Draw(rt, "latencies") {
			var inside time.Duration
			_ = resilience.Run(context.Background(), p, func(ctx context.Context) error {
				inside = to.Effective() // strained when the bulkhead is full
				clk.Advance(time.Duration(lat))
				return ctx.Err()
			})
			for _, d := range []time.Duration{inside, to.Effective()} {
				if d < lo || d > hi {
					rt.Fatalf("effective timeout %v outside [%v, %v]", d, lo, hi)
				}
			}
		}
	})
}

func TestAdaptiveTimeoutConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		a     resilience.AdaptiveTimeoutConfig
		field string
	}{
		{resilience.AdaptiveTimeoutConfig{Max: time.Second}, "Timeout.Adaptive.Min"},
		{resilience.AdaptiveTimeoutConfig{Min: time.Second, Max: time.Millisecond}, "Timeout.Adaptive.Max"},
		{resilience.AdaptiveTimeoutConfig{Min: 1, Max: 2, Percentile: 1}, "Timeout.Adaptive.Percentile"},
		{resilience.AdaptiveTimeoutConfig{Min: 1, Max: 2, Factor: 0.5}, "Timeout.Adaptive.Factor"},
		{resilience.AdaptiveTimeoutConfig{Min: 1, Max: 2, StrainFactor: 2}, "Timeout.Adaptive.StrainFactor"},
	} {
		var ce *resilience.ConfigError
		if _, err := resilience.NewTimeout(resilience.TimeoutConfig{Adaptive: &tc.a}); !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("NewTimeout(%+v) = %v, want a *ConfigError naming %s", tc.a, err, tc.field)
		}
	}
}
