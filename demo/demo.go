// Package demo is the embedded default of the app: four simulated
// downstreams with fault knobs, each behind a resilience pipeline with a
// different policy mix, a load generator that calls them, and demo SLOs.
//
//	d, err := demo.New(demo.Config{Observers: []resilience.Observer{agg}})
//	...
//	go d.Run(ctx) // until ctx ends
//
// The downstreams are:
//
//   - payments: healthy but for 2 % errors; breaker ► retry (3 attempts,
//     exponential backoff, full jitter) ► per-attempt timeout.
//   - inventory: a slow tail, 2 % of calls take 1–2 s more; bulkhead ►
//     time-based breaker with a slow-call threshold ► timeout.
//   - shipping: 15 % of calls are rate limited with a 1 s Retry-After hint;
//     retry honouring Retry-After within a retry budget ► per-attempt timeout.
//   - recommendations: flaky (30 % errors, some slow calls), answered from a
//     stale cache when the call fails; retry (2 attempts, decorrelated
//     jitter) ► per-attempt timeout.
//
// The demo starts healthy. Scenarios (Demo.Scenarios) break one downstream
// until they are stopped: a payments outage, a slow shipping, a flapping
// inventory, and a background chaos mode (payments down 20 s of every
// 90 s), each with what to expect on the dashboard and when.
package demo

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// The names of the demo's downstreams and of their pipelines.
const (
	Payments        = "payments"
	Inventory       = "inventory"
	Shipping        = "shipping"
	Recommendations = "recommendations"
)

// DefaultRate is the load generator's total rate when Config.Rate is zero,
// in calls per second.
const DefaultRate = 40

// MaxRate bounds Config.Rate, in calls per second.
const MaxRate = 10_000

// DefaultMaxConcurrent is how many calls the load generator keeps in flight
// at most when Config.MaxConcurrent is zero.
const DefaultMaxConcurrent = 64

// Config configures a Demo. The zero value runs on the system clock at 40
// calls per second, unobserved.
type Config struct {
	// Clock tells time to the downstreams, the pipelines and the load
	// generator. Nil means resilience.SystemClock().
	Clock resilience.Clock
	// Observers receive the events of every pipeline; those that implement
	// resilience.Binder are bound once per pipeline name.
	Observers []resilience.Observer
	// Rate is the load generator's total rate in calls per second, spread
	// evenly over the pipelines. Zero means DefaultRate; it must not be
	// negative or exceed MaxRate.
	Rate float64
	// MaxConcurrent bounds the calls the load generator keeps in flight;
	// when they are all busy, a due call is dropped and counted. Zero means
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// Seed seeds the downstreams' random faults; equal seeds give equal
	// fault sequences. Zero is a valid seed. (Backoff jitter is drawn by
	// package resilience and is not seeded.)
	Seed uint64
}

// Demo holds the simulated downstreams, their pipelines and the load
// generator. Its methods are safe for concurrent use; Run runs once at a
// time.
type Demo struct {
	clock         resilience.Clock
	rate          float64
	maxConcurrent int
	targets       []target
	scenarios     []scenarioSpec

	running atomic.Bool
	issued  atomic.Uint64
	dropped atomic.Uint64

	// onTick, set only by tests, is called by Run after each round of
	// calls, once the timer for the next round is set.
	onTick func(now time.Time)
}

// target is a downstream behind its pipeline, with the function that makes
// one call through both.
type target struct {
	ds   *Downstream
	p    *resilience.Pipeline
	call func(ctx context.Context) error
}

// New builds the downstreams and their pipelines. It returns a *FieldError
// for an invalid Rate or MaxConcurrent, and the error of the resilience
// package when a pipeline cannot be built (an observer that fails to bind).
func New(cfg Config) (*Demo, error) {
	switch {
	case cfg.Rate == 0:
		cfg.Rate = DefaultRate
	case !(cfg.Rate > 0 && cfg.Rate <= MaxRate): // also rejects NaN
		return nil, &FieldError{Field: "Config.Rate", Value: cfg.Rate, Msg: fmt.Sprintf("must be between 0 and %d calls per second", MaxRate)}
	}
	switch {
	case cfg.MaxConcurrent == 0:
		cfg.MaxConcurrent = DefaultMaxConcurrent
	case cfg.MaxConcurrent < 0:
		return nil, &FieldError{Field: "Config.MaxConcurrent", Value: cfg.MaxConcurrent, Msg: "must not be negative"}
	}
	if cfg.Clock == nil {
		cfg.Clock = resilience.SystemClock()
	}
	d := &Demo{clock: cfg.Clock, rate: cfg.Rate, maxConcurrent: cfg.MaxConcurrent, scenarios: scenarioSpecs()}
	builders := []func(Config, uint64) (target, error){payments, inventory, shipping, recommendations}
	for i, build := range builders {
		t, err := build(cfg, cfg.Seed+uint64(i+1)*0x9e3779b97f4a7c15)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		d.targets = append(d.targets, t)
	}
	return d, nil
}

// Pipelines returns the pipelines in the order payments, inventory,
// shipping, recommendations.
func (d *Demo) Pipelines() []*resilience.Pipeline {
	out := make([]*resilience.Pipeline, len(d.targets))
	for i, t := range d.targets {
		out[i] = t.p
	}
	return out
}

// Downstreams returns the downstreams in the order of Pipelines; each has
// the name of its pipeline.
func (d *Demo) Downstreams() []*Downstream {
	out := make([]*Downstream, len(d.targets))
	for i, t := range d.targets {
		out[i] = t.ds
	}
	return out
}

// Downstream returns the downstream named name, or an error wrapping
// ErrUnknownDownstream.
func (d *Demo) Downstream(name string) (*Downstream, error) {
	for _, t := range d.targets {
		if t.ds.Name() == name {
			return t.ds, nil
		}
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownDownstream, name)
}

// Rate returns the load generator's total rate in calls per second.
func (d *Demo) Rate() float64 { return d.rate }

// SLOKind is what an SLO measures.
type SLOKind string

// The kinds of SLO.
const (
	// SLOAvailability counts a call as good when it succeeded, after
	// retries and fallbacks (the effective outcome).
	SLOAvailability SLOKind = "availability"
	// SLOLatency counts a call as good when it finished within
	// LatencyThreshold.
	SLOLatency SLOKind = "latency"
)

// SLOSpec defines a service-level objective on a pipeline, as plain data
// for the SLO engine.
type SLOSpec struct {
	Name     string
	Pipeline string
	Kind     SLOKind
	// Objective is the target share of good calls, in percent (99.9).
	Objective float64
	// Period is the span the error budget covers.
	Period time.Duration
	// LatencyThreshold is the latency a good call stays within; set for
	// SLOLatency only.
	LatencyThreshold time.Duration
}

// SLOPeriod is the period of every demo SLO: one hour instead of the
// usual 30 days, so that an error budget visibly drains within minutes.
// (With 100 % errors, a 99.9 % SLO reaches the 14.4× burn rate of the
// one-hour page window after 52 s.)
const SLOPeriod = time.Hour

// SLOs returns the demo's SLOs; see the function SLOs.
func (d *Demo) SLOs() []SLOSpec { return SLOs() }

// SLOs returns the demo's SLOs, one per pipeline, each with the short
// period SLOPeriod (one hour) so that burn-rate alerts fire quickly in a
// demo. The demo starts healthy: every SLO holds with the default knobs
// (inventory's 2 % slow tail is within its 95 %, payments' 2 % errors are
// retried away), and burns once a scenario runs or the knobs are turned up.
func SLOs() []SLOSpec {
	return []SLOSpec{
		{Name: "payments-availability", Pipeline: Payments, Kind: SLOAvailability, Objective: 99.9, Period: SLOPeriod},
		{Name: "inventory-latency", Pipeline: Inventory, Kind: SLOLatency, Objective: 95, Period: SLOPeriod, LatencyThreshold: 500 * time.Millisecond},
		{Name: "shipping-availability", Pipeline: Shipping, Kind: SLOAvailability, Objective: 99.5, Period: SLOPeriod},
		{Name: "recommendations-availability", Pipeline: Recommendations, Kind: SLOAvailability, Objective: 99, Period: SLOPeriod},
	}
}

// payments is healthy but for a few errors (its scenarios take it down);
// the breaker judges whole calls, each retried up to three times with
// per-attempt timeouts.
func payments(cfg Config, seed uint64) (target, error) {
	ds, err := NewDownstream(DownstreamConfig{
		Name:        Payments,
		Description: "Healthy but for 2 % errors; the payments outage and chaos scenarios take it down.",
		Knobs:       Knobs{ErrorRate: 0.02, LatencyMS: 60, JitterMS: 30},
		Clock:       cfg.Clock,
		Seed:        seed,
	})
	if err != nil {
		return target{}, err
	}
	breaker, err := resilience.NewBreaker(resilience.BreakerConfig{
		Window:               resilience.WindowCount,
		WindowSize:           20,
		MinimumCalls:         10,
		FailureRateThreshold: 0.5,
		OpenDuration:         5 * time.Second,
		OpenBackoff:          2,
		MaxOpenDuration:      20 * time.Second,
		HalfOpenProbes:       3,
	})
	if err != nil {
		return target{}, err
	}
	retry, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 3,
		Backoff:     resilience.BackoffConfig{Base: 100 * time.Millisecond, Multiplier: 2, Max: time.Second, Jitter: resilience.JitterFull},
	})
	if err != nil {
		return target{}, err
	}
	timeout, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: 500 * time.Millisecond})
	if err != nil {
		return target{}, err
	}
	return plain(cfg, ds, breaker, retry, timeout)
}

// inventory has a slow tail; the time-based breaker opens on slow calls, the
// timeout cuts the slowest and the bulkhead keeps slow calls from piling up.
func inventory(cfg Config, seed uint64) (target, error) {
	ds, err := NewDownstream(DownstreamConfig{
		Name:        Inventory,
		Description: "Slow tail: 2 % of calls take 1–2 s more.",
		Knobs:       Knobs{ErrorRate: 0.01, LatencyMS: 30, JitterMS: 15},
		Clock:       cfg.Clock,
		Seed:        seed,
		SlowRate:    0.02,
		SlowMin:     time.Second,
		SlowMax:     2 * time.Second,
	})
	if err != nil {
		return target{}, err
	}
	bulkhead, err := resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 4, MaxQueue: 4, MaxWait: 200 * time.Millisecond})
	if err != nil {
		return target{}, err
	}
	breaker, err := resilience.NewBreaker(resilience.BreakerConfig{
		Window:                resilience.WindowTime,
		WindowDuration:        30 * time.Second,
		MinimumCalls:          20,
		FailureRateThreshold:  0.5,
		SlowCallDuration:      500 * time.Millisecond,
		SlowCallRateThreshold: 0.3,
		OpenDuration:          10 * time.Second,
		HalfOpenProbes:        5,
	})
	if err != nil {
		return target{}, err
	}
	timeout, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second})
	if err != nil {
		return target{}, err
	}
	return plain(cfg, ds, bulkhead, breaker, timeout)
}

// shipping rate limits; the retry waits as long as Retry-After asks, within
// a retry budget that stops retries from multiplying the load.
func shipping(cfg Config, seed uint64) (target, error) {
	ds, err := NewDownstream(DownstreamConfig{
		Name:          Shipping,
		Description:   "Rate limited: 15 % of calls answer 429 with Retry-After: 1 s.",
		Knobs:         Knobs{ErrorRate: 0.02, LatencyMS: 40, JitterMS: 20},
		Clock:         cfg.Clock,
		Seed:          seed,
		RateLimitRate: 0.15,
		RetryAfter:    time.Second,
	})
	if err != nil {
		return target{}, err
	}
	retry, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 4,
		MaxElapsed:  5 * time.Second,
		Backoff:     resilience.BackoffConfig{Base: 200 * time.Millisecond, Multiplier: 2, Max: 2 * time.Second, Jitter: resilience.JitterEqual},
		Budget:      resilience.BudgetConfig{Ratio: 0.2, MinPerSecond: 0.5, Window: 10 * time.Second},
	})
	if err != nil {
		return target{}, err
	}
	timeout, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second})
	if err != nil {
		return target{}, err
	}
	return plain(cfg, ds, retry, timeout)
}

// recommendations is flaky; a failed call is answered with the last good
// recommendations for the same page, up to five minutes old.
func recommendations(cfg Config, seed uint64) (target, error) {
	ds, err := NewDownstream(DownstreamConfig{
		Name:        Recommendations,
		Description: "Flaky: 30 % of calls fail and 5 % are slow; a stale cache answers for them.",
		Knobs:       Knobs{ErrorRate: 0.3, LatencyMS: 50, JitterMS: 40},
		Clock:       cfg.Clock,
		Seed:        seed,
		SlowRate:    0.05,
		SlowMin:     200 * time.Millisecond,
		SlowMax:     400 * time.Millisecond,
	})
	if err != nil {
		return target{}, err
	}
	retry, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 2,
		Backoff:     resilience.BackoffConfig{Base: 50 * time.Millisecond, Max: 500 * time.Millisecond, Jitter: resilience.JitterDecorrelated},
	})
	if err != nil {
		return target{}, err
	}
	timeout, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: 250 * time.Millisecond})
	if err != nil {
		return target{}, err
	}
	p, err := pipeline(cfg, Recommendations, retry, timeout)
	if err != nil {
		return target{}, err
	}
	pages := [...]string{"home", "product", "cart", "checkout"}
	cache, err := resilience.NewStaleCache[string, string](resilience.StaleCacheConfig{MaxAge: 5 * time.Minute, MaxEntries: len(pages)})
	if err != nil {
		return target{}, err
	}
	var n atomic.Uint64
	fetch := func(page string) func(context.Context) (string, error) {
		answer := "recommendations for " + page
		return func(ctx context.Context) (string, error) {
			if err := ds.Call(ctx); err != nil {
				return "", err
			}
			return answer, nil
		}
	}
	fetches := make([]func(context.Context) (string, error), len(pages))
	for i, page := range pages {
		fetches[i] = fetch(page)
	}
	call := func(ctx context.Context) error {
		i := (n.Add(1) - 1) % uint64(len(pages))
		_, err := cache.Do(ctx, p, pages[i], fetches[i])
		return err
	}
	return target{ds: ds, p: p, call: call}, nil
}

// plain puts ds behind a pipeline of the given policies, named for ds.
func plain(cfg Config, ds *Downstream, policies ...resilience.Policy) (target, error) {
	p, err := pipeline(cfg, ds.Name(), policies...)
	if err != nil {
		return target{}, err
	}
	fn := ds.Call // made once: Run keeps the function it is given on the heap
	return target{ds: ds, p: p, call: func(ctx context.Context) error { return resilience.Run(ctx, p, fn) }}, nil
}

func pipeline(cfg Config, name string, policies ...resilience.Policy) (*resilience.Pipeline, error) {
	return resilience.New(name, resilience.Config{Policies: policies, Observers: cfg.Observers, Clock: cfg.Clock})
}
