package resilience

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// Policy is one layer of a Pipeline. The package's policies are *Retry,
// *Breaker, *Timeout, *Bulkhead, *Fallback, *RateLimiter, *Hedge and *AdaptiveLimit; a policy of your own is a
// type that embeds Binding and implements Executor, in one file (see
// Executor). A policy belongs to exactly one pipeline.
type Policy interface {
	// String describes the policy's settings for people.
	String() string
	bind(p *Pipeline, index int) error
	// owner returns the pipeline the policy belongs to, or nil.
	owner() *Pipeline
}

// Executor is implemented by a policy defined outside this package: the
// pipeline passes each call that reaches the policy to Execute, which
// decides whether and how often to pass it on inward with x.Next, may refuse
// it with x.Reject, and returns the error the layers outside it see.
//
// Execute runs on the goroutine of the call, and x may be used only on that
// goroutine and only until Execute returns. The package's own policies are
// dispatched directly and do not go through Execute.
type Executor interface {
	Policy
	Execute(ctx context.Context, x *Execution) error
}

// Binding ties a policy defined outside this package to the one pipeline it
// belongs to: embed it (as a value) in the policy's struct. Its zero value is
// unbound.
type Binding struct{ p *Pipeline }

// Pipeline returns the pipeline the policy belongs to, or nil before it
// was given to New.
func (b *Binding) Pipeline() *Pipeline { return b.p }

func (b *Binding) bind(p *Pipeline, index int) error {
	if b.p != nil {
		return configErr(fmt.Sprintf("Pipeline.Policies[%d]", index), b.p.name, "already belongs to pipeline "+b.p.name)
	}
	b.p = p
	return nil
}

func (b *Binding) owner() *Pipeline { return b.p }

// Execution is one call passing through a policy defined outside this
// package (see Executor).
type Execution struct {
	yield func(*Execution) bool
	// The request to the pipeline and its answer.
	op     execOp
	ctx    context.Context
	ev     Event
	reason Reason
	err    error
	// The call's state as of the last request.
	attempt int
	now     time.Time
}

type execOp uint8

const (
	opNext execOp = iota
	opReject
	opEmit
)

// errExecutionOver is returned by the methods of an Execution used after
// its policy's Execute returned or while the call unwinds from a panic.
var errExecutionOver = errors.New("resilience: Execution used after its Execute returned")

// Next passes the call on to the policies inside this one (or the function,
// past the last) under ctx, and returns their error.
func (x *Execution) Next(ctx context.Context) error {
	return x.do(opNext, ctx, func() {})
}

// Reject refuses the call for reason: it reports a KindRejected event with
// reason and err, and returns err, for Execute to return.
func (x *Execution) Reject(ctx context.Context, reason Reason, err error) error {
	return x.do(opReject, ctx, func() { x.reason, x.err = reason, err })
}

// Emit reports e to the pipeline's observers. The pipeline sets its
// Pipeline, Call, Attempt and Time fields; e.Kind must be a valid kind.
func (x *Execution) Emit(ctx context.Context, e Event) {
	_ = x.do(opEmit, ctx, func() { x.ev = e })
}

// Attempt returns the call's current attempt number, from 1.
func (x *Execution) Attempt() int { return x.attempt }

// Now returns the pipeline clock's latest reading for the call.
func (x *Execution) Now() time.Time { return x.now }

func (x *Execution) do(op execOp, ctx context.Context, set func()) error {
	if x.yield == nil {
		return errExecutionOver
	}
	x.op, x.ctx = op, ctx
	set()
	if !x.yield(x) {
		x.yield = nil
		return errExecutionOver
	}
	return x.err
}

// execute runs policy pol, defined outside the package, for call c at
// index i. Its Execute runs as a coroutine (iter.Pull) whose requests are
// served here, so that the call's state and fn stay on the caller's stack
// and never escape to the heap for the package's own policies.
func (p *Pipeline) execute(ctx context.Context, c *call, i int, fn func(context.Context) error, pol Executor) error {
	x := &Execution{attempt: c.attempt, now: c.clockNow()}
	var result error
	pull, stop := iter.Pull(func(yield func(*Execution) bool) {
		x.yield = yield
		result = pol.Execute(ctx, x)
		x.yield = nil
	})
	defer stop()
	for {
		r, ok := pull()
		if !ok {
			return result
		}
		switch r.op {
		case opNext:
			r.err = p.next(r.ctx, c, i+1, fn)
		case opReject:
			r.err = c.reject(r.ctx, r.reason, r.err)
		case opEmit:
			r.err = nil
			if r.ev.Kind < numKinds && p.wants(r.ev.Kind) {
				e := r.ev
				e.Pipeline, e.Call, e.Attempt, e.Time = p.name, c.id, c.attempt, p.time(c.now)
				c.emit(r.ctx, e)
			}
		}
		r.ctx, r.ev = nil, Event{}
		r.attempt, r.now = c.attempt, c.clockNow()
	}
}
