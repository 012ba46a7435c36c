package resilience

import (
	"context"
	"time"
)

// WindowType selects how a breaker's sliding window counts.
type WindowType uint8

// The window types.
const (
	// WindowCount keeps the outcomes of the last WindowSize calls.
	WindowCount WindowType = iota
	// WindowTime keeps the outcomes of the calls of the last WindowDuration,
	// in one-second buckets.
	WindowTime
)

// BreakerConfig configures a Breaker. The zero value is a count-based
// breaker over the last 100 calls that opens at a 50 % failure rate once 20
// calls were seen, stays open 30 s, and lets 5 probes through when half-open.
type BreakerConfig struct {
	// Window selects count-based (zero) or time-based counting.
	Window WindowType
	// WindowSize is the number of calls a count-based window holds. Zero means 100.
	WindowSize int
	// WindowDuration is the span of a time-based window, a whole number of
	// seconds. Zero means 60 s.
	WindowDuration time.Duration
	// FailureRateThreshold in (0, 1]: the breaker opens when the failure
	// rate of the window reaches it. Zero means 0.5.
	FailureRateThreshold float64
	// SlowCallDuration is the duration from which a call counts as slow.
	// Zero disables slow-call detection.
	SlowCallDuration time.Duration
	// SlowCallRateThreshold in (0, 1]: the breaker opens when the slow-call
	// rate reaches it. Zero means 1 (only when every call is slow).
	SlowCallRateThreshold float64
	// MinimumCalls is how many calls the window must hold before the
	// breaker may open. Zero means 20.
	MinimumCalls int
	// HalfOpenProbes is exactly how many calls a half-open breaker lets
	// through; their outcomes decide between closed and open. Zero means 5.
	HalfOpenProbes int
	// OpenDuration is how long the breaker stays open before it turns
	// half-open. Zero means 30 s.
	OpenDuration time.Duration
	// OpenBackoff multiplies the open duration on each trip that follows a
	// failed half-open probe round. Zero or 1 keeps it constant.
	OpenBackoff float64
	// MaxOpenDuration caps the grown open duration. Zero means 10 × OpenDuration.
	MaxOpenDuration time.Duration
	// IsFailure decides which errors count as failures. Nil counts every
	// error except the caller's own cancellation and a breaker rejection.
	IsFailure func(error) bool
}

// Breaker is a circuit breaker. It is safe for concurrent use.
type Breaker struct {
	cfg BreakerConfig
	p   *Pipeline
}

// NewBreaker returns a breaker, or a *ConfigError naming the first invalid field.
func NewBreaker(cfg BreakerConfig) (*Breaker, error) {
	return &Breaker{cfg: cfg}, nil
}

// State returns the breaker's current state.
func (b *Breaker) State() State { return StateClosed }

// Override forces the breaker into state (StateForcedOpen or
// StateForcedClosed) for reason until until; a zero until holds until Auto.
// The actor comes from ctx (WithActor). Any other state is an error.
func (b *Breaker) Override(ctx context.Context, state State, reason string, until time.Time) error {
	return nil
}

// Auto lifts an override and returns control to the state machine, which
// starts again closed.
func (b *Breaker) Auto(ctx context.Context, reason string) error { return nil }

// String describes the breaker's settings.
func (b *Breaker) String() string { return "breaker" }

func (b *Breaker) bind(p *Pipeline, index int) error { b.p = p; return nil }

func (b *Breaker) execute(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	return c.p.next(ctx, c, i+1, fn)
}
