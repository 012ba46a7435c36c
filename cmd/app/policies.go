package main

import (
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

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

// adaptiveTimeoutConfig is a pipeline's timeout.adaptive: the attempt
// timeout is factor × the percentile of recent latency, within [min, max],
// shortened by strain_factor while the pipeline is strained.
type adaptiveTimeoutConfig struct {
	Percentile   float64       `yaml:"percentile"`
	Factor       float64       `yaml:"factor"`
	Min          time.Duration `yaml:"min"`
	Max          time.Duration `yaml:"max"`
	StrainFactor float64       `yaml:"strain_factor"`
}

func (a *adaptiveTimeoutConfig) resilience() *resilience.AdaptiveTimeoutConfig {
	if a == nil {
		return nil
	}
	return &resilience.AdaptiveTimeoutConfig{Percentile: a.Percentile, Factor: a.Factor, Min: a.Min, Max: a.Max, StrainFactor: a.StrainFactor}
}
