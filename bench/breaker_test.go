package bench

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/sony/gobreaker/v2"
)

// errDownstream is the failure used to trip breakers.
var errDownstream = errors.New("downstream failed")

// longOpen keeps a tripped breaker open for the whole benchmark.
const longOpen = time.Hour

// fuseboxBreaker returns a pipeline holding only a default breaker, with
// the given observers.
func fuseboxBreaker(b *testing.B, cfg resilience.BreakerConfig, observers ...resilience.Observer) *resilience.Pipeline {
	br, err := resilience.NewBreaker(cfg)
	check(b, err)
	return newPipeline(b, resilience.Config{Policies: []resilience.Policy{br}, Observers: observers})
}

func fuseboxRun(p *resilience.Pipeline) op {
	ctx := context.Background()
	return func() error { return resilience.Run(ctx, p, work) }
}

// gobreakerSuccess is gobreaker v2 with default settings.
var gobreakerSuccess = impl{"gobreaker", func(b *testing.B) op {
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench"})
	return func() error {
		_, err := cb.Execute(workValue)
		return err
	}
}}

var breakerSuccessImpls = []impl{
	{"fusebox", func(b *testing.B) op {
		return fuseboxRun(fuseboxBreaker(b, resilience.BreakerConfig{}))
	}},
	{"fusebox_quiet_observer", func(b *testing.B) op {
		return fuseboxRun(fuseboxBreaker(b, resilience.BreakerConfig{}, quietObserver))
	}},
	{"fusebox_observed", func(b *testing.B) op {
		return fuseboxRun(fuseboxBreaker(b, resilience.BreakerConfig{}, noopObserver))
	}},
	{"fusebox_do", func(b *testing.B) op {
		// Do[T] returns a value, as gobreaker's Execute does.
		p := fuseboxBreaker(b, resilience.BreakerConfig{})
		ctx := context.Background()
		fn := func(context.Context) (struct{}, error) { return workValue() }
		return func() error {
			_, err := resilience.Do(ctx, p, fn)
			return err
		}
	}},
	gobreakerSuccess,
	{"failsafe", func(b *testing.B) op {
		cb := circuitbreaker.NewWithDefaults[any]()
		ex := failsafe.With[any](cb)
		ctx := context.Background()
		return func() error { return ex.Run(func() error { return work(ctx) }) }
	}},
	{"hystrix", func(b *testing.B) op {
		// hystrix-go preallocates a ticket per allowed concurrent request
		// and returns tickets asynchronously, and it keeps its circuits for
		// good: allow enough tickets for the loop to outrun the returns, but
		// not millions, and flush the circuit afterwards, so that neither
		// its heap nor its metrics goroutines weigh on later benchmarks.
		hystrix.ConfigureCommand("bench", hystrix.CommandConfig{
			Timeout:               int(generousTimeout / time.Millisecond),
			MaxConcurrentRequests: 1 << 14,
		})
		b.Cleanup(func() {
			hystrix.Flush()
			runtime.GC()
		})
		ctx := context.Background()
		return func() error { return hystrix.Do("bench", func() error { return work(ctx) }, nil) }
	}},
}

func BenchmarkBreakerSuccess(b *testing.B)         { runSerial(b, breakerSuccessImpls, false) }
func BenchmarkBreakerSuccessParallel(b *testing.B) { runParallel(b, breakerSuccessImpls, false) }

// fail is a function that always fails.
func fail(context.Context) error { return errDownstream }

// trippedFusebox returns a pipeline whose breaker the state machine opened
// after a run of failures.
func trippedFusebox(b *testing.B, observers ...resilience.Observer) *resilience.Pipeline {
	p := fuseboxBreaker(b, resilience.BreakerConfig{OpenDuration: longOpen}, observers...)
	ctx := context.Background()
	for range 200 {
		if errors.Is(resilience.Run(ctx, p, fail), resilience.ErrOpen) {
			break
		}
	}
	expectRejection(b, p, resilience.StateOpen)
	return p
}

// forcedOpenFusebox returns a pipeline whose breaker an operator forced open.
func forcedOpenFusebox(b *testing.B) *resilience.Pipeline {
	p := fuseboxBreaker(b, resilience.BreakerConfig{})
	if err := p.Breaker().Override(context.Background(), resilience.StateForcedOpen, "benchmark", time.Time{}); err != nil {
		b.Fatalf("Override: %v", err)
	}
	expectRejection(b, p, resilience.StateForcedOpen)
	return p
}

// expectRejection fails the benchmark unless p's breaker is in state and
// rejects a call with ErrOpen.
func expectRejection(b *testing.B, p *resilience.Pipeline, state resilience.State) {
	b.Helper()
	if got := p.Breaker().State(); got != state {
		b.Fatalf("breaker state is %v, want %v", got, state)
	}
	if err := resilience.Run(context.Background(), p, work); !errors.Is(err, resilience.ErrOpen) {
		b.Fatalf("call through the open breaker returned %v, want ErrOpen", err)
	}
}

var breakerRejectedImpls = []impl{
	{"fusebox", func(b *testing.B) op { return fuseboxRun(trippedFusebox(b)) }},
	{"fusebox_observed", func(b *testing.B) op { return fuseboxRun(trippedFusebox(b, noopObserver)) }},
	{"fusebox_quiet_observer", func(b *testing.B) op { return fuseboxRun(trippedFusebox(b, quietObserver)) }},
	{"fusebox_forced_open", func(b *testing.B) op { return fuseboxRun(forcedOpenFusebox(b)) }},
	{"gobreaker", func(b *testing.B) op {
		cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench", Timeout: longOpen})
		failValue := func() (struct{}, error) { return struct{}{}, errDownstream }
		for range 10 {
			_, _ = cb.Execute(failValue)
		}
		if _, err := cb.Execute(workValue); !errors.Is(err, gobreaker.ErrOpenState) {
			b.Fatalf("gobreaker did not open: %v", err)
		}
		return func() error {
			_, err := cb.Execute(workValue)
			return err
		}
	}},
	{"failsafe", func(b *testing.B) op {
		cb := circuitbreaker.NewBuilder[any]().WithDelay(longOpen).Build()
		cb.Open()
		ex := failsafe.With[any](cb)
		ctx := context.Background()
		fn := func() error { return work(ctx) }
		if err := ex.Run(fn); !errors.Is(err, circuitbreaker.ErrOpen) {
			b.Fatalf("failsafe breaker did not open: %v", err)
		}
		return func() error { return ex.Run(fn) }
	}},
}

func BenchmarkBreakerRejected(b *testing.B)         { runSerial(b, breakerRejectedImpls, true) }
func BenchmarkBreakerRejectedParallel(b *testing.B) { runParallel(b, breakerRejectedImpls, true) }
