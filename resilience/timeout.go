package resilience

import (
	"context"
	"fmt"
	"time"
)

// TimeoutConfig configures a Timeout.
type TimeoutConfig struct {
	// Duration bounds what runs inside the policy. It must be positive.
	Duration time.Duration
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
}

// NewTimeout returns a timeout policy, or a *ConfigError when Duration is not positive.
func NewTimeout(cfg TimeoutConfig) (*Timeout, error) {
	if cfg.Duration <= 0 {
		return nil, configErr("Timeout.Duration", cfg.Duration, "must be positive")
	}
	return &Timeout{d: cfg.Duration}, nil
}

// Scope reports whether the timeout bounds each attempt or the whole call;
// it is known once the timeout belongs to a pipeline.
func (t *Timeout) Scope() Scope { return t.scope }

// Duration returns the configured timeout.
func (t *Timeout) Duration() time.Duration { return t.d }

// String describes the timeout.
func (t *Timeout) String() string { return fmt.Sprintf("timeout %v per %s", t.d, t.scope) }

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
	return nil
}

func (t *Timeout) execute(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	tctx, cancel := withTimeoutCause(ctx, c.p.clock, t.d, t.cause)
	defer cancel() // also when fn panics
	err := c.p.next(tctx, c, i+1, fn)
	if err == nil || ctx.Err() != nil || context.Cause(tctx) != t.cause {
		return err
	}
	if c.p.observed() {
		e := c.event(KindTimeout)
		e.Scope = t.scope
		e.Duration = t.d
		e.Err = err
		c.emit(ctx, e)
	}
	if _, ok := err.(*TimeoutError); ok {
		return err
	}
	return &TimeoutError{Scope: t.scope, Timeout: t.d, Err: err}
}

func (t *Timeout) owner() *Pipeline { return t.p }
