package bench

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"golang.org/x/time/rate"

	"github.com/fusebox-dev/fusebox/resilience"
)

// The policies of issue 15 on their success path: a rate limiter that
// always has a token, a hedge whose delay never passes, an adaptive
// concurrency limit with room, against the peers' equivalents.

// plenty is a rate no benchmark reaches, with a burst to match: every call
// is admitted.
const plenty = 1e9

func fuseboxPolicy(b *testing.B, pol resilience.Policy) op {
	return fuseboxRun(newPipeline(b, resilience.Config{Policies: []resilience.Policy{pol}}))
}

var rateLimiterImpls = []impl{
	{"fusebox", func(b *testing.B) op {
		l, err := resilience.NewRateLimiter(resilience.RateLimiterConfig{Rate: plenty, Burst: 1 << 30})
		check(b, err)
		return fuseboxPolicy(b, l)
	}},
	{"x_time_rate", func(b *testing.B) op {
		l := rate.NewLimiter(plenty, 1<<30)
		ctx := context.Background()
		return func() error {
			if !l.Allow() {
				return errDownstream
			}
			return work(ctx)
		}
	}},
	{"failsafe", func(b *testing.B) op {
		ex := failsafe.With[any](ratelimiter.NewBursty[any](1<<30, time.Second))
		ctx := context.Background()
		return func() error { return ex.Run(func() error { return work(ctx) }) }
	}},
}

// BenchmarkRateLimiterSuccess is a call admitted by a rate limiter.
func BenchmarkRateLimiterSuccess(b *testing.B) { runSerial(b, rateLimiterImpls, false) }

// BenchmarkRateLimiterSuccessParallel is the same from every core.
func BenchmarkRateLimiterSuccessParallel(b *testing.B) { runParallel(b, rateLimiterImpls, false) }

var hedgeImpls = []impl{
	{"fusebox_run", func(b *testing.B) op {
		// Run makes no hedges: the policy lets the call through.
		h, err := resilience.NewHedge(resilience.HedgeConfig{Delay: time.Hour})
		check(b, err)
		return fuseboxPolicy(b, h)
	}},
	{"fusebox_hedged", func(b *testing.B) op {
		h, err := resilience.NewHedge(resilience.HedgeConfig{Delay: time.Hour})
		check(b, err)
		p := newPipeline(b, resilience.Config{Policies: []resilience.Policy{h}})
		ctx := context.Background()
		return func() error { return resilience.RunHedged(ctx, p, work) }
	}},
	{"failsafe", func(b *testing.B) op {
		ex := failsafe.With[any](hedgepolicy.NewWithDelay[any](time.Hour))
		ctx := context.Background()
		return func() error { return ex.Run(func() error { return work(ctx) }) }
	}},
}

// BenchmarkHedgeSuccess is a call that answers before its hedge delay.
func BenchmarkHedgeSuccess(b *testing.B) { runSerial(b, hedgeImpls, false) }

var adaptiveLimitImpls = []impl{
	{"fusebox_aimd", func(b *testing.B) op {
		l, err := resilience.NewAdaptiveLimit(resilience.AdaptiveLimitConfig{InitialLimit: 1000, MaxLimit: 1000})
		check(b, err)
		return fuseboxPolicy(b, l)
	}},
	{"fusebox_vegas", func(b *testing.B) op {
		// A call of nanoseconds has a latency noisier than any queue:
		// MinLimit keeps Vegas from reading the noise as one and
		// refusing the benchmark's calls.
		l, err := resilience.NewAdaptiveLimit(resilience.AdaptiveLimitConfig{Algorithm: resilience.LimitVegas, InitialLimit: 1000, MinLimit: 64, MaxLimit: 1000})
		check(b, err)
		return fuseboxPolicy(b, l)
	}},
	{"failsafe", func(b *testing.B) op {
		ex := failsafe.With[any](adaptivelimiter.NewBuilder[any]().WithLimits(1, 1000, 1000).Build())
		ctx := context.Background()
		return func() error { return ex.Run(func() error { return work(ctx) }) }
	}},
}

// BenchmarkAdaptiveLimitSuccess is a call admitted by an adaptive
// concurrency limit with room, its latency sampled.
func BenchmarkAdaptiveLimitSuccess(b *testing.B) { runSerial(b, adaptiveLimitImpls, false) }

// BenchmarkAdaptiveLimitSuccessParallel is the same from every core.
func BenchmarkAdaptiveLimitSuccessParallel(b *testing.B) {
	runParallel(b, adaptiveLimitImpls, false)
}
