package resilience

import (
	"context"
	"fmt"
	"time"
)

// TimeoutConfig configures a Timeout.
type TimeoutConfig struct {
	// Duration bounds what runs inside the policy. It must be positive,
	// unless Adaptive is set: then it is the timeout until enough calls
	// were seen, and zero means Adaptive.Max.
	Duration time.Duration
	// Adaptive, when set, derives the timeout from recent latency (see
	// AdaptiveTimeoutConfig).
	Adaptive *AdaptiveTimeoutConfig
}

// Timeout cancels what runs inside it once Duration has passed, with a
// *TimeoutError as the context's cause, so a timeout is told apart from the
// caller's own cancellation. Placed inside a Retry it bounds each attempt;
// outside, the whole call. It is safe for concurrent use.
type Timeout struct {
	d     time.Duration
	scope Scope
	p     *Pipeline
	cause error
	// adaptive is set for an adaptive timeout (timeout_adaptive.go).
	adaptive *adaptiveTimeout
}

// NewTimeout returns a timeout policy, or a *ConfigError naming the
// invalid field.
func NewTimeout(cfg TimeoutConfig) (*Timeout, error) {
	if cfg.Adaptive != nil {
		return newAdaptiveTimeout(cfg)
	}
	if cfg.Duration <= 0 {
		return nil, configErr("Timeout.Duration", cfg.Duration, "must be positive")
	}
	return &Timeout{d: cfg.Duration}, nil
}

// Scope reports whether the timeout bounds each attempt or the whole call;
// it is known once the timeout belongs to a pipeline.
func (t *Timeout) Scope() Scope { return t.scope }

// Duration returns the configured timeout; for an adaptive one, the
// timeout until enough calls were seen (see Effective).
func (t *Timeout) Duration() time.Duration { return t.d }

// String describes the timeout.
func (t *Timeout) String() string {
	if t.adaptive != nil {
		return t.adaptive.String(t.scope)
	}
	return fmt.Sprintf("timeout %v per %s", t.d, t.scope)
}

func (t *Timeout) bind(p *Pipeline, index int) error {
	if t.p != nil {
		return configErr(fmt.Sprintf("Pipeline.Policies[%d]", index), t, "already belongs to pipeline "+t.p.name)
	}
	t.p = p
	t.scope = ScopeCall
	for _, pol := range p.policies[:index] {
		if _, ok := pol.(*Retry); ok {
			t.scope = ScopeAttempt
		}
	}
	t.cause = &TimeoutError{Scope: t.scope, Timeout: t.d, Err: context.DeadlineExceeded}
	if t.adaptive != nil {
		p.timing = true
	}
	return nil
}

func (t *Timeout) execute(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	d, cause := t.d, t.cause
	var begin stamp
	if t.adaptive != nil {
		d, cause = t.adaptive.current(t.scope)
		begin = c.now
	}
	tctx, cancel := withTimeoutCause(ctx, c.p.clock, d, cause)
	defer cancel() // also when fn panics
	err := c.p.next(tctx, c, i+1, fn)
	if err == nil || ctx.Err() != nil || context.Cause(tctx) != cause {
		if err == nil && t.adaptive != nil {
			t.adaptive.lat.add(time.Duration(c.now - begin))
		}
		return err
	}
	if t.adaptive != nil {
		// A run cut short took at least d: counted so, the timeout grows
		// when the dependency slows down beyond it.
		t.adaptive.lat.add(d)
	}
	if c.p.observed() {
		e := c.event(KindTimeout)
		e.Scope = t.scope
		e.Duration = d
		e.Err = err
		c.emit(ctx, e)
	}
	if _, ok := err.(*TimeoutError); ok {
		return err
	}
	return &TimeoutError{Scope: t.scope, Timeout: d, Err: err}
}

func (t *Timeout) owner() *Pipeline { return t.p }
