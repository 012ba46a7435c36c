package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// The library example of the README.
func Example() {
	retry, _ := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 3,
		Backoff:     resilience.BackoffConfig{Base: time.Millisecond, Jitter: resilience.JitterFull},
	})
	breaker, _ := resilience.NewBreaker(resilience.BreakerConfig{FailureRateThreshold: 0.5})
	timeout, _ := resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second})
	p, err := resilience.New("payments", resilience.Config{
		Policies: []resilience.Policy{retry, breaker, timeout}, // outermost first
	})
	if err != nil {
		panic(err)
	}
	attempts := 0
	price, err := resilience.Do(context.Background(), p, func(ctx context.Context) (int, error) {
		if attempts++; attempts < 3 {
			return 0, errors.New("503 Service Unavailable")
		}
		return 42, nil
	})
	fmt.Println(price, err, attempts)
	// Output: 42 <nil> 3
}

func ExampleStaleCache() {
	p, _ := resilience.New("recommendations", resilience.Config{})
	cache, _ := resilience.NewStaleCache[string, []string](resilience.StaleCacheConfig{MaxAge: time.Minute})
	ctx := context.Background()
	_, _ = cache.Do(ctx, p, "user-1", func(context.Context) ([]string, error) {
		return []string{"tea", "cups"}, nil
	})
	recs, err := cache.Do(ctx, p, "user-1", func(context.Context) ([]string, error) {
		return nil, errors.New("downstream unavailable")
	})
	fmt.Println(recs, err)
	// Output: [tea cups] <nil>
}

func ExamplePermanent() {
	retry, _ := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 5})
	p, _ := resilience.New("orders", resilience.Config{Policies: []resilience.Policy{retry}})
	calls := 0
	err := resilience.Run(context.Background(), p, func(context.Context) error {
		calls++
		return resilience.Permanent(errors.New("400 Bad Request"))
	})
	fmt.Println(calls, err)
	// Output: 1 400 Bad Request
}
