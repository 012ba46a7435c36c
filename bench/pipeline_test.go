package bench

import (
	"context"
	"testing"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/fusebox-dev/fusebox/resilience"
)

// fuseboxComposed returns a pipeline of retry ► breaker ► timeout, all with
// default settings, the timeout bounding each attempt.
func fuseboxComposed(b *testing.B, observers ...resilience.Observer) *resilience.Pipeline {
	r, err := resilience.NewRetry(resilience.RetryConfig{})
	check(b, err)
	br, err := resilience.NewBreaker(resilience.BreakerConfig{})
	check(b, err)
	t, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: generousTimeout})
	check(b, err)
	return newPipeline(b, resilience.Config{Policies: []resilience.Policy{r, br, t}, Observers: observers})
}

var pipelineSuccessImpls = []impl{
	{"fusebox", func(b *testing.B) op { return fuseboxRun(fuseboxComposed(b)) }},
	{"fusebox_observed", func(b *testing.B) op { return fuseboxRun(fuseboxComposed(b, noopObserver)) }},
	{"fusebox_quiet_observer", func(b *testing.B) op { return fuseboxRun(fuseboxComposed(b, quietObserver)) }},
	{"failsafe", func(b *testing.B) op {
		ex := failsafe.With[any](
			retrypolicy.NewWithDefaults[any](),
			circuitbreaker.NewWithDefaults[any](),
			timeout.New[any](generousTimeout),
		).WithContext(context.Background())
		fn := func(e failsafe.Execution[any]) error { return work(e.Context()) }
		return func() error { return ex.RunWithExecution(fn) }
	}},
}

func BenchmarkPipelineSuccess(b *testing.B)         { runSerial(b, pipelineSuccessImpls, false) }
func BenchmarkPipelineSuccessParallel(b *testing.B) { runParallel(b, pipelineSuccessImpls, false) }
