package bench

import (
	"context"
	"sync"
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
	{"fusebox", func(b *testing.B) op {
		// Run through a pipeline holding a hedge: the call answers
		// before the delay, so no hedge starts.
		h, err := resilience.NewHedge(resilience.HedgeConfig{Delay: time.Hour})
		check(b, err)
		return fuseboxPolicy(b, h)
	}},
	{"fusebox_do", func(b *testing.B) op {
		h, err := resilience.NewHedge(resilience.HedgeConfig{Delay: time.Hour})
		check(b, err)
		p := newPipeline(b, resilience.Config{Policies: []resilience.Policy{h}})
		ctx := context.Background()
		fn := func(context.Context) (struct{}, error) { return workValue() }
		return func() error { _, err := resilience.Do(ctx, p, fn); return err }
	}},
	{"failsafe", func(b *testing.B) op {
		ex := failsafe.With[any](hedgepolicy.NewWithDelay[any](time.Hour))
		ctx := context.Background()
		return func() error { return ex.Run(func() error { return work(ctx) }) }
	}},
}

// BenchmarkHedgeSuccess is a call that answers before its hedge delay.
func BenchmarkHedgeSuccess(b *testing.B) { runSerial(b, hedgeImpls, false) }

// BenchmarkHedgeSuccessParallel is the same from every core.
func BenchmarkHedgeSuccessParallel(b *testing.B) { runParallel(b, hedgeImpls, false) }

// slowFirst returns a function for the calls of a hedge whose delay is
// 1 ns and that hedges once: of the two attempts of each call, the one
// that starts first waits until done is closed (its cancellation), the
// other answers. It must be used by one goroutine at a time.
func slowFirst(done func(ctx context.Context) <-chan struct{}) func(ctx context.Context) error {
	n := 0
	var mu sync.Mutex
	return func(ctx context.Context) error {
		mu.Lock()
		n++
		first := n%2 == 1
		mu.Unlock()
		if first {
			<-done(ctx)
			return errDownstream
		}
		return nil
	}
}

var hedgeStartedImpls = []impl{
	{"fusebox", func(b *testing.B) op {
		h, err := resilience.NewHedge(resilience.HedgeConfig{Delay: time.Nanosecond, Budget: resilience.BudgetConfig{Disabled: true}})
		check(b, err)
		p := newPipeline(b, resilience.Config{Policies: []resilience.Policy{h}})
		ctx := context.Background()
		fn := slowFirst(func(ctx context.Context) <-chan struct{} { return ctx.Done() })
		return func() error { return resilience.Run(ctx, p, fn) }
	}},
	{"failsafe", func(b *testing.B) op {
		ex := failsafe.With[any](hedgepolicy.NewWithDelay[any](time.Nanosecond))
		fn := slowFirst(func(ctx context.Context) <-chan struct{} { return ctx.Done() })
		return func() error {
			return ex.RunWithExecution(func(e failsafe.Execution[any]) error { return fn(e.Context()) })
		}
	}},
}

// BenchmarkHedgeStarted is a call whose first attempt is slow: a hedge
// starts at once, answers, and the first attempt is cancelled.
func BenchmarkHedgeStarted(b *testing.B) { runSerial(b, hedgeStartedImpls, false) }

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
