package main

import (
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// defaultOrder returns the order of a pipeline's policies, outermost
// first, when its configuration gives none.
func defaultOrder() []string {
	return []string{"rate_limiter", "adaptive_limit", "bulkhead", "breaker", "hedge", "retry", "timeout"}
}

// policyNames lists the names an order may use, for error messages.
const policyNames = "rate_limiter, adaptive_limit, bulkhead, breaker, hedge, retry or timeout"

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

// adaptiveLimitConfig is a pipeline's adaptive_limit: a concurrency limit
// moved by algorithm (aimd or vegas) within [min_limit, max_limit].
type adaptiveLimitConfig struct {
	Algorithm    resilience.LimitAlgorithm `yaml:"algorithm"`
	InitialLimit int                       `yaml:"initial_limit"`
	MinLimit     int                       `yaml:"min_limit"`
	MaxLimit     int                       `yaml:"max_limit"`
	BackoffRatio float64                   `yaml:"backoff_ratio"`
	DropLatency  time.Duration             `yaml:"drop_latency"`
	Smoothing    float64                   `yaml:"smoothing"`
}

func (a *adaptiveLimitConfig) build() (resilience.Policy, error) {
	return resilience.NewAdaptiveLimit(resilience.AdaptiveLimitConfig(*a))
}

// hedgeConfig is a pipeline's hedge: up to max_hedges more attempts of an
// idempotent request, each after delay, or after the percentile of recent
// latency within [min_delay, max_delay]; hedges spend the retry's budget,
// or this one.
type hedgeConfig struct {
	Delay      time.Duration `yaml:"delay"`
	Percentile float64       `yaml:"percentile"`
	MinDelay   time.Duration `yaml:"min_delay"`
	MaxDelay   time.Duration `yaml:"max_delay"`
	MaxHedges  int           `yaml:"max_hedges"`
	Budget     struct {
		Disabled     bool          `yaml:"disabled"`
		Ratio        float64       `yaml:"ratio"`
		MinPerSecond float64       `yaml:"min_per_second"`
		Window       time.Duration `yaml:"window"`
	} `yaml:"budget"`
}

func (h *hedgeConfig) build() (resilience.Policy, error) {
	return resilience.NewHedge(resilience.HedgeConfig{
		Delay: h.Delay, Percentile: h.Percentile, MinDelay: h.MinDelay, MaxDelay: h.MaxDelay,
		MaxHedges: h.MaxHedges, Budget: resilience.BudgetConfig(h.Budget),
	})
}
