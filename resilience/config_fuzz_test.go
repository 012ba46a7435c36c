package resilience_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// FuzzPolicyConfig checks that no setting makes a constructor panic, and that
// every refusal is a *ConfigError naming a field.
func FuzzPolicyConfig(f *testing.F) {
	f.Add(3, int64(0), int64(100e6), 2.0, int64(10e9), uint8(0), 0.2, 10.0, int64(10e9), 0.5, 100, 20, 5, int64(30e9), 1.5, 4, 2)
	f.Add(-1, int64(-1), int64(-1), 0.5, int64(1), uint8(9), 1.5, -1.0, int64(1500e6), 2.0, -5, -1, -1, int64(-1), 0.5, 0, -1)
	f.Fuzz(func(t *testing.T, attempts int, elapsed, base int64, mult float64, maxDelay int64, jitter uint8,
		ratio, floor float64, window int64, failRate float64, size, minCalls, probes int, open int64, growth float64,
		concurrent, queue int) {
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var ce *resilience.ConfigError
			if !errors.As(err, &ce) || ce.Field == "" {
				t.Fatalf("%s: error %v is not a ConfigError naming a field", what, err)
			}
		}
		_, err := resilience.NewRetry(resilience.RetryConfig{
			MaxAttempts: attempts,
			MaxElapsed:  time.Duration(elapsed),
			Backoff:     resilience.BackoffConfig{Base: time.Duration(base), Multiplier: mult, Max: time.Duration(maxDelay), Jitter: resilience.Jitter(jitter)},
			Budget:      resilience.BudgetConfig{Ratio: ratio, MinPerSecond: floor, Window: time.Duration(window)},
		})
		check("NewRetry", err)
		_, err = resilience.NewBreaker(resilience.BreakerConfig{
			WindowSize:           size,
			WindowDuration:       time.Duration(window),
			FailureRateThreshold: failRate,
			MinimumCalls:         minCalls,
			HalfOpenProbes:       probes,
			OpenDuration:         time.Duration(open),
			OpenBackoff:          growth,
			MaxOpenDuration:      time.Duration(maxDelay),
		})
		check("NewBreaker", err)
		_, err = resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Duration(elapsed)})
		check("NewTimeout", err)
		_, err = resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: concurrent, MaxQueue: queue, MaxWait: time.Duration(elapsed)})
		check("NewBulkhead", err)
	})
}
