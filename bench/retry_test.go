package bench

import (
	"context"
	"testing"

	"github.com/cenkalti/backoff/v5"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/fusebox-dev/fusebox/resilience"
)

// fuseboxRetry returns a pipeline holding only a default retry policy
// (3 attempts, exponential backoff, retry budget on).
func fuseboxRetry(b *testing.B, observers ...resilience.Observer) *resilience.Pipeline {
	r, err := resilience.NewRetry(resilience.RetryConfig{})
	check(b, err)
	return newPipeline(b, resilience.Config{Policies: []resilience.Policy{r}, Observers: observers})
}

var retrySuccessImpls = []impl{
	{"fusebox", func(b *testing.B) op { return fuseboxRun(fuseboxRetry(b)) }},
	{"fusebox_observed", func(b *testing.B) op { return fuseboxRun(fuseboxRetry(b, noopObserver)) }},
	{"fusebox_quiet_observer", func(b *testing.B) op { return fuseboxRun(fuseboxRetry(b, quietObserver)) }},
	{"failsafe", func(b *testing.B) op {
		rp := retrypolicy.NewWithDefaults[any]()
		ex := failsafe.With[any](rp)
		ctx := context.Background()
		return func() error { return ex.Run(func() error { return work(ctx) }) }
	}},
	{"backoff", func(b *testing.B) op {
		ctx := context.Background()
		return func() error {
			_, err := backoff.Retry(ctx, workValue, backoff.WithMaxTries(3))
			return err
		}
	}},
}

func BenchmarkRetrySuccess(b *testing.B)         { runSerial(b, retrySuccessImpls, false) }
func BenchmarkRetrySuccessParallel(b *testing.B) { runParallel(b, retrySuccessImpls, false) }
