package resilience

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Policy is one layer of a Pipeline: *Retry, *Breaker, *Timeout or
// *Bulkhead. A policy belongs to exactly one pipeline.
type Policy interface {
	// String describes the policy's settings for people.
	String() string
	bind(p *Pipeline, index int) error
	// owner returns the pipeline the policy belongs to, or nil.
	owner() *Pipeline
}

// Config configures a Pipeline.
type Config struct {
	// Policies run outermost first: Policies[0] sees the call first and the
	// result last. A Timeout placed inside a Retry bounds each attempt; placed
	// outside, the whole call. A Breaker inside a Retry judges (and may
	// reject) every attempt; outside, every call. Empty runs the function
	// directly, still observed.
	Policies []Policy
	// Observers receive every event, in order. Those that implement Binder
	// are bound to the pipeline's name once, here.
	Observers []Observer
	// Clock tells time. Nil means SystemClock().
	Clock Clock
}

// Pipeline runs functions through its policies and reports what happens to
// its observers. It is safe for concurrent use.
type Pipeline struct {
	name      string
	policies  []Policy
	observers []Observer
	// byKind lists the observers of each kind of event (see KindFilter);
	// watched is set when any kind has one.
	byKind  [numKinds][]Observer
	watched bool
	clock   Clock
	// timing is set when something needs clock readings on every call:
	// an observer, a time-based breaker window, a slow-call threshold or a
	// retry window.
	timing bool
	calls  atomic.Uint64
}

// New builds a pipeline named name. It returns a *ConfigError when name is
// empty, a policy is nil or already belongs to another pipeline, or an
// observer fails to bind.
func New(name string, cfg Config) (*Pipeline, error) {
	if strings.TrimSpace(name) == "" {
		return nil, configErr("Pipeline.Name", fmt.Sprintf("%q", name), "must not be empty")
	}
	p := &Pipeline{name: name, clock: cfg.Clock}
	if p.clock == nil {
		p.clock = SystemClock()
	}
	// Check everything before binding anything, so that a refused
	// configuration leaves its policies free for the next attempt.
	for i, pol := range cfg.Policies {
		if pol == nil || isNilPolicy(pol) {
			return nil, configErr(fmt.Sprintf("Pipeline.Policies[%d]", i), nil, "must not be nil")
		}
		if owner := pol.owner(); owner != nil {
			return nil, configErr(fmt.Sprintf("Pipeline.Policies[%d]", i), pol, "already belongs to pipeline "+owner.name)
		}
		for _, other := range cfg.Policies[:i] {
			if other == pol {
				return nil, configErr(fmt.Sprintf("Pipeline.Policies[%d]", i), pol, "appears twice")
			}
		}
	}
	for i, o := range cfg.Observers {
		if o == nil {
			return nil, configErr(fmt.Sprintf("Pipeline.Observers[%d]", i), nil, "must not be nil")
		}
	}
	for i, o := range cfg.Observers {
		if b, ok := o.(Binder); ok {
			bound, err := b.Bind(name)
			if err != nil {
				return nil, fmt.Errorf("resilience: pipeline %q: binding observer %d: %w", name, i, err)
			}
			o = bound
		}
		p.observers = append(p.observers, o)
		kinds := AllKinds
		if f, ok := o.(KindFilter); ok {
			kinds = f.Kinds()
		}
		for k := range numKinds {
			if kinds.Has(k) {
				p.byKind[k] = append(p.byKind[k], o)
			}
		}
	}
	for k := range numKinds {
		p.watched = p.watched || len(p.byKind[k]) > 0
	}
	// Events carry times and durations: an observer that takes any needs
	// the clock read. One that takes none (tracing turned off, say) costs
	// nothing.
	p.timing = p.watched
	p.policies = make([]Policy, 0, len(cfg.Policies))
	for i, pol := range cfg.Policies {
		p.policies = append(p.policies, pol)
		if err := pol.bind(p, i); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func isNilPolicy(p Policy) bool {
	switch v := p.(type) {
	case *Retry:
		return v == nil
	case *Breaker:
		return v == nil
	case *Timeout:
		return v == nil
	case *Bulkhead:
		return v == nil
	}
	return false
}

// Name returns the pipeline's name.
func (p *Pipeline) Name() string { return p.name }

// Policies returns the pipeline's policies, outermost first.
func (p *Pipeline) Policies() []Policy { return append([]Policy(nil), p.policies...) }

// Breaker returns the pipeline's first breaker, or nil.
func (p *Pipeline) Breaker() *Breaker {
	for _, pol := range p.policies {
		if b, ok := pol.(*Breaker); ok {
			return b
		}
	}
	return nil
}

// Clock returns the clock the pipeline reads.
func (p *Pipeline) Clock() Clock { return p.clock }

// String describes the pipeline's policies, outermost first.
func (p *Pipeline) String() string {
	parts := make([]string, len(p.policies))
	for i, pol := range p.policies {
		parts[i] = pol.String()
	}
	return p.name + ": " + strings.Join(parts, " → ")
}

// Do runs fn through the pipeline and returns its result, or the zero T and
// the error that ended the call.
func Do[T any](ctx context.Context, p *Pipeline, fn func(context.Context) (T, error)) (T, error) {
	var out T
	err := p.run(ctx, func(ctx context.Context) error {
		v, err := fn(ctx)
		out = v
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// Run runs fn through the pipeline and returns the error that ended the call.
func Run(ctx context.Context, p *Pipeline, fn func(context.Context) error) error {
	return p.run(ctx, fn)
}

// call is the state of one call as it passes through the policies. It lives
// on the caller's stack.
type call struct {
	p  *Pipeline
	id uint64
	// attempt is the current attempt number, from 1; retries advance it.
	attempt int
	// start is when the call began; now is the latest clock reading, kept
	// current wherever time may have passed, so policies share readings
	// instead of taking their own. Both are zero when the pipeline does not
	// time calls.
	start, now time.Time
}

func (p *Pipeline) run(ctx context.Context, fn func(context.Context) error) error {
	c := p.begin()
	err := p.next(ctx, &c, 0, fn)
	p.end(ctx, &c, err)
	return err
}

// begin starts a call: it numbers it for observers and reads the clock once
// if the pipeline times calls.
func (p *Pipeline) begin() call {
	c := call{p: p, attempt: 1}
	if p.watched {
		c.id = p.calls.Add(1)
	}
	if p.timing {
		c.start = p.clock.Now()
		c.now = c.start
	}
	return c
}

// end reports the end of the call with its final error.
func (p *Pipeline) end(ctx context.Context, c *call, err error) {
	if p.wants(KindCallEnd) {
		e := c.event(KindCallEnd)
		e.Outcome = classify(ctx, err)
		e.Duration = c.now.Sub(c.start)
		e.Err = err
		p.emit(ctx, e)
	}
}

// next runs the policy at index i, or the function itself past the last.
func (p *Pipeline) next(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	if i == len(p.policies) {
		return c.invoke(ctx, fn)
	}
	switch pol := p.policies[i].(type) {
	case *Retry:
		return pol.execute(ctx, c, i, fn)
	case *Breaker:
		return pol.execute(ctx, c, i, fn)
	case *Timeout:
		return pol.execute(ctx, c, i, fn)
	case *Bulkhead:
		return pol.execute(ctx, c, i, fn)
	}
	return fmt.Errorf("resilience: unknown policy %T", p.policies[i])
}

// invoke makes one attempt: it calls fn and classifies the result.
func (c *call) invoke(ctx context.Context, fn func(context.Context) error) error {
	p := c.p
	begin := c.now
	if p.wants(KindAttemptStart) {
		p.emit(ctx, c.event(KindAttemptStart))
	}
	err := fn(ctx)
	if p.timing {
		c.now = p.clock.Now()
	}
	if p.wants(KindAttemptEnd) {
		e := c.event(KindAttemptEnd)
		e.Outcome = classify(ctx, err)
		e.Duration = c.now.Sub(begin)
		e.Err = err
		p.emit(ctx, e)
	}
	return err
}

// reject reports that a policy refused the call for reason, and returns
// err, the refusal.
func (c *call) reject(ctx context.Context, reason Reason, err error) error {
	if c.p.observed() {
		e := c.event(KindRejected)
		e.Reason = reason
		e.Err = err
		c.p.emit(ctx, e)
	}
	return err
}

// clockNow returns the current time: the latest reading when the pipeline
// times calls, otherwise a fresh one (for a policy that needs the time only
// now and then, such as the retry budget).
func (c *call) clockNow() time.Time {
	if c.p.timing {
		return c.now
	}
	return c.p.clock.Now()
}

// tick refreshes c.now after time may have passed (a wait).
func (c *call) tick() {
	if c.p.timing {
		c.now = c.p.clock.Now()
	}
}

// event returns an event of kind k stamped with the call's fields.
func (c *call) event(k Kind) Event {
	return Event{Kind: k, Pipeline: c.p.name, Call: c.id, Attempt: c.attempt, Time: c.now}
}

// emit delivers e to the observers of its kind.
func (p *Pipeline) emit(ctx context.Context, e Event) {
	for _, o := range p.byKind[e.Kind] {
		o.Observe(ctx, e)
	}
}

// wants reports whether any observer takes events of kind k.
func (p *Pipeline) wants(k Kind) bool { return len(p.byKind[k]) > 0 }

// observed reports whether anyone listens to the pipeline's events.
func (p *Pipeline) observed() bool { return p.watched }

// classify maps the error of an attempt or call run under ctx to an Outcome.
// A *RetryError takes the outcome of its last attempt.
func classify(ctx context.Context, err error) Outcome {
	if re, ok := err.(*RetryError); ok {
		err = re.Err
	}
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.Is(err, ErrOpen), errors.Is(err, ErrBulkheadFull):
		return OutcomeRejected
	case errors.Is(err, ErrTimeout):
		return OutcomeTimeout
	case ctx.Err() != nil:
		if errors.Is(context.Cause(ctx), ErrTimeout) {
			return OutcomeTimeout
		}
		return OutcomeCanceled
	}
	return OutcomeFailure
}
