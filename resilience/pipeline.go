package resilience

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-dev/fusebox/internal/callid"
	"github.com/fusebox-dev/fusebox/internal/fold"
)

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
	// folders take the end of a call's last attempt in its call end (see
	// package internal/fold); they are in byKind for every kind they take
	// but KindAttemptEnd, and foldAt[i] is byKind[KindCallEnd][i] as a
	// fold.Folder, or nil if it does not fold. attemptEnds is set when
	// anyone takes attempt ends.
	folders     []Observer
	foldAt      []fold.Folder[Event]
	attemptEnds bool
	clock       Clock
	// kills holds the kinds of policy switched off (killswitch.go), nil
	// when none is; killMu serializes its changes.
	kills  atomic.Pointer[killState]
	killMu sync.Mutex
	// epoch is the clock's reading when the pipeline was built; calls keep
	// their times as stamps, nanoseconds since epoch, and make a time.Time
	// only for an event. sys is set when clock is the system clock, which
	// is then read from the runtime's monotonic clock (epochMono at epoch)
	// at a third of the cost of time.Now, and its times made from the Unix
	// nanoseconds of epoch (they carry no monotonic reading).
	epoch                    time.Time
	sys                      bool
	epochMono, epochUnixNano int64
	// timing is set when something needs clock readings on every call:
	// an observer, a time-based breaker window, a slow-call threshold or a
	// retry window.
	timing bool
	// retired is set by Retire (drain.go). It is read on every call: it
	// stays off the stripes' lines.
	retired atomic.Pointer[retirement]
	// ids numbers the calls: a counter per stripe, and a goroutine counts
	// on the stripe of the P it runs on, so that cores do not take turns
	// with one cache line on every call (see begin). returns counts, by
	// the stripe they began on, the calls that returned (drain.go).
	_       [64]byte
	ids     [callid.Stripes]idStripe
	returns [callid.Stripes]idStripe
}

type idStripe struct {
	n atomic.Uint64
	_ [56]byte
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
		if !builtin(pol) {
			if _, ok := pol.(Executor); !ok {
				return nil, configErr(fmt.Sprintf("Pipeline.Policies[%d]", i), pol, "is not a policy of this package and does not implement Executor")
			}
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
		f, folds := o.(fold.Folder[Event])
		if folds && kinds.Has(KindAttemptEnd) && kinds.Has(KindCallEnd) {
			p.folders = append(p.folders, o)
			kinds &^= Kinds(KindAttemptEnd)
		} else {
			f = nil
		}
		if kinds.Has(KindCallEnd) {
			p.foldAt = append(p.foldAt, f)
		}
		for k := range numKinds {
			if kinds.Has(k) {
				p.byKind[k] = append(p.byKind[k], o)
			}
		}
	}
	p.attemptEnds = p.wants(KindAttemptEnd) || len(p.folders) > 0
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
	for _, pol := range p.policies {
		switch pol := pol.(type) {
		case *Hedge:
			pol.link(p)
		case *Timeout:
			if pol.adaptive != nil {
				pol.adaptive.link(p)
			}
		}
	}
	p.startClock()
	return p, nil
}

// startClock takes the pipeline's epoch, when it times calls.
func (p *Pipeline) startClock() {
	if p.timing {
		_, p.sys = p.clock.(systemClock)
		p.epoch = p.clock.Now()
		p.epochMono, p.epochUnixNano = nanotime(), p.epoch.UnixNano()
	}
}

func isNilPolicy(p Policy) bool {
	v := reflect.ValueOf(p)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// builtin reports whether pol is one of the package's policies, which next
// dispatches directly.
func builtin(pol Policy) bool {
	switch pol.(type) {
	case *Retry, *Breaker, *Timeout, *Bulkhead, *Fallback, *RateLimiter, *Hedge, *AdaptiveLimit:
		return true
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
//
// When a Fallback policy answered for the call, its value is the result:
// a value that is not a T (nor nil, for the zero T) is an error.
//
// A Hedge in the pipeline may run fn on other goroutines too (see Hedge),
// so fn escapes to the heap: a function literal that captures variables
// costs its caller an allocation, one that captures none does not.
func Do[T any](ctx context.Context, p *Pipeline, fn func(context.Context) (T, error)) (T, error) {
	var out T
	var c call
	c.hedge.fn = doFn[T](fn)
	err := p.runCall(ctx, &c, func(ctx context.Context) error {
		v, err := fn(ctx)
		out = v
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	if c.answered {
		return answerOf[T](p, c.answer)
	}
	if v, ok := hedgedValue[T](&c); ok {
		return v, nil
	}
	return out, nil
}

// Run runs fn through the pipeline and returns the error that ended the
// call. As for Do, fn escapes to the heap.
func Run(ctx context.Context, p *Pipeline, fn func(context.Context) error) error {
	var c call
	c.hedge.fn = runFn(fn)
	return p.runCall(ctx, &c, fn)
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
	start, now stamp
	// last is the end of the latest attempt, held back from the folders
	// (see package internal/fold) until it proves not to be the last one.
	last heldAttempt
	// answered is set when a Fallback answered for the call, with answer
	// as the call's result.
	answered bool
	answer   any
	// hedge is what a Hedge needs to run the call's function on other
	// goroutines, and the result of a hedged attempt that won (hedge.go).
	hedge hedging
}

// heldAttempt is the end of an attempt not yet delivered to the folders.
type heldAttempt struct {
	held    bool
	outcome Outcome
	attempt int
	at      stamp
	dur     time.Duration
	err     error
}

// stamp is a clock reading of a pipeline: nanoseconds since its epoch.
type stamp int64

// read reads the pipeline's clock.
func (p *Pipeline) read() stamp {
	if p.sys {
		return stamp(nanotime() - p.epochMono)
	}
	return stamp(p.clock.Now().Sub(p.epoch))
}

// time returns the time of stamp s.
func (p *Pipeline) time(s stamp) time.Time {
	if p.sys {
		return time.Unix(0, p.epochUnixNano+int64(s))
	}
	return p.epoch.Add(time.Duration(s))
}

// unix returns the Unix second of stamp s, without making its time.Time.
func (p *Pipeline) unix(s stamp) int64 {
	ns := int64(p.epoch.Nanosecond()) + int64(s)
	sec := ns / int64(time.Second)
	if ns%int64(time.Second) < 0 {
		sec--
	}
	return p.epoch.Unix() + sec
}

// runCall runs fn as call c, which the caller zeroed.
func (p *Pipeline) runCall(ctx context.Context, c *call, fn func(context.Context) error) error {
	p.begin(c)
	defer p.returned(c) // also when fn panics
	err := p.next(ctx, c, 0, fn)
	p.end(ctx, c, err)
	return err
}

// begin starts call c: it numbers it for observers and reads the clock once
// if the pipeline times calls.
func (p *Pipeline) begin(c *call) {
	c.p, c.attempt = p, 1
	// Unique and never 0, consecutive on each stripe (see package
	// internal/callid); counted for InFlight.
	s := uint64(procHint()) % callid.Stripes
	c.id = callid.Make(s, p.ids[s].n.Add(1))
	if p.timing {
		c.start = p.read()
		c.now = c.start
	}
}

// end reports the end of the call with its final error. The event is
// built in place and copied only to be delivered: it is the one event of
// a call that succeeds at once, for an observer that folds.
func (p *Pipeline) end(ctx context.Context, c *call, err error) {
	if !p.wants(KindCallEnd) {
		return
	}
	l := &c.last
	if l.held && len(p.folders) == len(p.foldAt) {
		// Every observer of call ends folds: they all get the held
		// attempt with it. The call ends here: l is left as it is.
		e := Event{
			Kind: KindCallEnd, Outcome: classify(ctx, err), Pipeline: c.p.name, Call: c.id, Attempt: c.attempt,
			Duration: time.Duration(c.now - c.start), Err: err, Time: p.time(c.now),
		}
		last := fold.Attempt{Outcome: uint8(l.outcome), Duration: l.dur, Err: l.err}
		for _, f := range p.foldAt {
			f.ObserveFolded(ctx, e, last)
		}
		return
	}
	var e Event
	c.stamp(&e, KindCallEnd)
	e.Outcome = classify(ctx, err)
	e.Duration = time.Duration(c.now - c.start)
	e.Err = err
	if !l.held {
		p.emit(ctx, e)
		return
	}
	// The folders get the held attempt with the call end; the others had
	// it as an event of its own.
	last := fold.Attempt{Outcome: uint8(l.outcome), Duration: l.dur, Err: l.err}
	for i, o := range p.byKind[KindCallEnd] {
		if f := p.foldAt[i]; f != nil {
			f.ObserveFolded(ctx, e, last)
		} else {
			o.Observe(ctx, e)
		}
	}
}

// next runs the policy at index i, or the function itself past the last.
// The package's policies are called directly, not through an interface, so
// that the call's state and fn stay on the caller's stack; a policy defined
// outside the package runs through its Executor (see Pipeline.execute).
func (p *Pipeline) next(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	if i == len(p.policies) {
		return c.invoke(ctx, fn)
	}
	if p.kills.Load() != nil && p.off(c, i) {
		return p.next(ctx, c, i+1, fn)
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
	case *Fallback:
		return pol.execute(ctx, c, i, fn)
	case *RateLimiter:
		return pol.execute(ctx, c, i, fn)
	case *Hedge:
		return pol.execute(ctx, c, i, fn)
	case *AdaptiveLimit:
		return pol.execute(ctx, c, i, fn)
	case Executor:
		return p.execute(ctx, c, i, fn, pol)
	}
	return fmt.Errorf("resilience: policy %T implements no Executor", p.policies[i])
}

// invoke makes one attempt: it calls fn and classifies the result.
func (c *call) invoke(ctx context.Context, fn func(context.Context) error) error {
	p := c.p
	begin := c.now
	if p.wants(KindAttemptStart) {
		c.emit(ctx, c.event(KindAttemptStart))
	}
	err := fn(ctx)
	if p.timing {
		c.now = p.read()
	}
	if !p.attemptEnds {
		return err
	}
	if c.last.held {
		c.release(ctx) // not the last attempt after all
	}
	outcome, d := classify(ctx, err), time.Duration(c.now-begin)
	if p.wants(KindAttemptEnd) {
		e := c.event(KindAttemptEnd)
		e.Outcome = outcome
		e.Duration = d
		e.Err = err
		p.emit(ctx, e)
	}
	if len(p.folders) > 0 {
		l := &c.last
		l.held, l.outcome, l.attempt, l.at, l.dur, l.err = true, outcome, c.attempt, c.now, d, err
	}
	return err
}

// emit delivers e, an event of the call, to the observers of its kind,
// after the attempt end held back from the folders: another event follows
// it, so it was not the call's last.
func (c *call) emit(ctx context.Context, e Event) {
	if c.last.held {
		c.release(ctx)
	}
	c.p.emit(ctx, e)
}

// release delivers the attempt end held back from the folders.
func (c *call) release(ctx context.Context) {
	l := &c.last
	e := Event{Kind: KindAttemptEnd, Pipeline: c.p.name, Call: c.id, Attempt: l.attempt, Outcome: l.outcome,
		Duration: l.dur, Err: l.err, Time: c.p.time(l.at)}
	*l = heldAttempt{}
	for _, o := range c.p.folders {
		o.Observe(ctx, e)
	}
}

// reject reports that a policy refused the call for reason, and returns
// err, the refusal.
func (c *call) reject(ctx context.Context, reason Reason, err error) error {
	if c.p.observed() {
		e := c.event(KindRejected)
		e.Reason = reason
		e.Err = err
		c.emit(ctx, e)
	}
	return err
}

// clockNow returns the current time: the latest reading when the pipeline
// times calls, otherwise a fresh one (for a policy that needs the time only
// now and then, such as the retry budget).
func (c *call) clockNow() time.Time {
	if c.p.timing {
		return c.p.time(c.now)
	}
	return c.p.clock.Now()
}

// tick refreshes c.now after time may have passed (a wait).
func (c *call) tick() {
	if c.p.timing {
		c.now = c.p.read()
	}
}

// event returns an event of kind k stamped with the call's fields.
func (c *call) event(k Kind) Event {
	var e Event
	c.stamp(&e, k)
	return e
}

// stamp sets e's kind to k and its call fields to the call's.
func (c *call) stamp(e *Event, k Kind) {
	e.Kind, e.Pipeline, e.Call, e.Attempt, e.Time = k, c.p.name, c.id, c.attempt, c.p.time(c.now)
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
	if err == nil {
		return OutcomeSuccess
	}
	return classifyErr(ctx, err)
}

func classifyErr(ctx context.Context, err error) Outcome {
	if re, ok := err.(*RetryError); ok {
		err = re.Err
	}
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.Is(err, ErrOpen), errors.Is(err, ErrBulkheadFull), errors.Is(err, ErrRateLimited), errors.Is(err, ErrLimitExceeded):
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
