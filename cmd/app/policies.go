package main

import "time"

// defaultOrder returns the order of a pipeline's policies, outermost
// first, when its configuration gives none.
func defaultOrder() []string {
	return []string{"rate_limiter", "bulkhead", "breaker", "retry", "timeout"}
}

// policyNames lists the names an order may use, for error messages.
const policyNames = "rate_limiter, bulkhead, breaker, retry or timeout"

// rateLimiterConfig is a pipeline's rate_limiter: a token bucket of burst
// tokens refilled at rate a second; a call may wait up to max_wait for one.
type rateLimiterConfig struct {
	Rate    float64       `yaml:"rate"`
	Burst   int           `yaml:"burst"`
	MaxWait time.Duration `yaml:"max_wait"`
}
