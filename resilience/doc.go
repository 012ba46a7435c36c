// Package resilience runs calls to dependencies through pipelines of
// policies — retry with backoff, jitter and a retry budget, timeouts, a
// circuit breaker, a bulkhead and fallbacks — and reports every move as a
// typed Event to Observers.
//
// A Pipeline is built once with New and used from many goroutines:
//
//	retry, _ := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 3})
//	breaker, _ := resilience.NewBreaker(resilience.BreakerConfig{})
//	timeout, _ := resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second})
//	p, _ := resilience.New("payments", resilience.Config{
//		Policies: []resilience.Policy{retry, breaker, timeout}, // outermost first
//	})
//	body, err := resilience.Do(ctx, p, fetch)
//
// The package imports only the standard library. Time is read through a
// Clock, so tests drive policies with resiliencetest.Clock instead of sleeping.
package resilience
