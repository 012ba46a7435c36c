package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Breaker is a circuit breaker. Closed, it lets calls through and counts
// their outcomes in a sliding window; when the failure rate or the slow-call
// rate of the window reaches its threshold (with at least MinimumCalls
// calls in it), it opens and rejects calls with ErrOpen. Once OpenDuration
// has passed it turns half-open and lets exactly HalfOpenProbes calls
// through: if their failure (or slow-call) rate reaches the threshold it
// opens again, for OpenDuration × OpenBackoff per consecutive re-trip up to
// MaxOpenDuration; otherwise it closes with an empty window. An operator
// may force it open or closed with Override and lift that with Auto. A
// call that panics counts as a failure, closed or half-open, as gobreaker
// counts it; the panic goes on to the caller.
//
// State is computed from the pipeline's clock when a call (or State,
// Metrics) looks, so no goroutine runs in the background. Every state
// carries a generation: the outcome of a call that started before a
// transition is ignored. Every transition is reported to the pipeline's
// observers as a KindBreakerTransition event, in the order of the
// transitions, and every rejection as a KindRejected event with
// ReasonBreakerOpen; observers are called outside the breaker's lock. When
// goroutines make transitions at the same moment, one of them may deliver
// the events of the others.
//
// A closed count-based breaker admits and records a call without locks or
// allocations. It is safe for concurrent use.
type Breaker struct {
	// cur is the current state; it is replaced, never modified, by a
	// transition, so that a pointer comparison tells generations apart.
	cur atomic.Pointer[epoch]

	cfg       BreakerConfig // resolved
	minCalls  int64
	failTh    float64
	slowTh    float64
	slowDur   time.Duration
	probes    int64
	isFailure func(error) bool
	p         *Pipeline

	// mu serializes transitions and guards the queue of their events.
	mu         sync.Mutex
	pending    []pendingEvent
	delivering bool
}

// epoch is one stay in a state. Its fields other than the atomics are set
// before it is published and never change.
type epoch struct {
	state State
	gen   uint64
	since time.Time

	// openDur is the length of the open period of an open epoch, carried
	// into the half-open epoch that follows so that a re-trip can grow it.
	openDur   time.Duration
	openUntil time.Time
	// last is the window (or the probes) that made an open epoch trip.
	last counts

	// One of them holds the window of a closed epoch.
	cw *countWindow
	tw *timeWindow

	// admitted counts the calls that asked a half-open epoch to pass;
	// reported packs the outcomes of the probes (see lanes).
	admitted atomic.Int64
	reported atomic.Uint64

	// ov describes the override of a forced epoch.
	ov *BreakerOverride
}

// BreakerOverride describes an operator's override of a breaker.
type BreakerOverride struct {
	// State is StateForcedOpen or StateForcedClosed.
	State State
	// Reason is the text the operator gave; Actor is who (see WithActor).
	Reason, Actor string
	// Since is when the override began; Until when it runs out by itself,
	// zero when it holds until Auto.
	Since, Until time.Time
}

// BreakerMetrics is a reading of a breaker for dashboards.
type BreakerMetrics struct {
	State State
	// Generation counts the transitions since the breaker was made.
	Generation uint64
	// Since is when the breaker entered State; zero for the initial
	// closed state.
	Since time.Time
	// Calls, Failures and Slow count the calls in the window when closed,
	// the probes reported so far when half-open, and the window or probes
	// that made the breaker trip when open. They are zero when forced.
	Calls, Failures, Slow int64
	// FailureRate and SlowCallRate are Failures/Calls and Slow/Calls, or 0.
	FailureRate, SlowCallRate float64
	// OpenUntil is when an open breaker turns half-open; OpenDuration is the
	// length of that open period.
	OpenUntil    time.Time
	OpenDuration time.Duration
	// Override is set while the breaker is forced.
	Override *BreakerOverride
}

// NewBreaker returns a breaker, or a *ConfigError naming the first invalid field.
func NewBreaker(cfg BreakerConfig) (*Breaker, error) {
	if err := resolveBreaker(&cfg); err != nil {
		return nil, err
	}
	b := &Breaker{
		cfg:       cfg,
		minCalls:  int64(cfg.MinimumCalls),
		failTh:    cfg.FailureRateThreshold,
		slowTh:    cfg.SlowCallRateThreshold,
		slowDur:   cfg.SlowCallDuration,
		probes:    int64(cfg.HalfOpenProbes),
		isFailure: cfg.IsFailure,
	}
	b.cur.Store(b.closedEpoch(0, time.Time{}))
	return b, nil
}

// State returns the breaker's current state. Like a call, it notices that
// an open period or a time-boxed override has run out, and makes (and
// reports) that transition.
func (b *Breaker) State() State {
	return b.settle(context.Background(), b.now()).state
}

// Metrics returns a reading of the breaker's state and window. Like State,
// it makes the transitions that are due.
func (b *Breaker) Metrics() BreakerMetrics {
	now := b.now()
	e := b.settle(context.Background(), now)
	m := BreakerMetrics{State: e.state, Generation: e.gen, Since: e.since}
	var n counts
	switch e.state {
	case StateClosed:
		if e.cw != nil {
			n = unpack(e.cw.totals.Load())
		} else {
			n = e.tw.snapshot(now.Unix())
		}
	case StateHalfOpen:
		n = unpack(e.reported.Load())
	case StateOpen:
		n = e.last
		m.OpenUntil = e.openUntil
		m.OpenDuration = e.openDur
	default:
		ov := *e.ov
		m.Override = &ov
	}
	n.calls, n.failures, n.slow = max(n.calls, 0), max(n.failures, 0), max(n.slow, 0)
	m.Calls, m.Failures, m.Slow = n.calls, n.failures, n.slow
	if n.calls > 0 {
		m.FailureRate = float64(n.failures) / float64(n.calls)
		m.SlowCallRate = float64(n.slow) / float64(n.calls)
	}
	return m
}

// Override forces the breaker into state (StateForcedOpen or
// StateForcedClosed) for reason until until; a zero until holds until Auto.
// The actor comes from ctx (WithActor). Forced open, the breaker rejects
// every call with ErrOpen; forced closed, it lets every call through and
// never trips. When until passes, the breaker returns to automatic control,
// closed, with a transition whose Reason is ReasonExpired. Overriding a
// forced breaker again replaces the override and reports a transition even
// when the state stays the same, so that the new reason is recorded.
//
// Any other state is an error, as is an until that is not after now.
func (b *Breaker) Override(ctx context.Context, state State, reason string, until time.Time) error {
	if !state.Forced() {
		return fmt.Errorf("resilience: cannot override a breaker to %s: want forced_open or forced_closed (Auto lifts an override)", state)
	}
	now := b.now()
	if !until.IsZero() && !until.After(now) {
		return fmt.Errorf("resilience: cannot override a breaker to %s until %v: that is not after now (%v)",
			state, until.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	ov := &BreakerOverride{State: state, Reason: reason, Actor: ActorFrom(ctx), Since: now, Until: until}
	ev := b.outsideEvent(ReasonManual, ov.Actor, reason, now)
	for {
		e := b.cur.Load()
		if b.swap(ctx, e, &epoch{state: state, gen: e.gen + 1, since: now, ov: ov}, ev) {
			return nil
		}
	}
}

// Auto lifts an override and returns control to the state machine, which
// starts again closed with an empty window. The actor comes from ctx. On a
// breaker that is not forced it does nothing.
func (b *Breaker) Auto(ctx context.Context, reason string) error {
	now := b.now()
	ev := b.outsideEvent(ReasonManual, ActorFrom(ctx), reason, now)
	for {
		e := b.cur.Load()
		if !e.state.Forced() {
			return nil
		}
		if b.swap(ctx, e, b.closedEpoch(e.gen+1, now), ev) {
			return nil
		}
	}
}

func (b *Breaker) bind(p *Pipeline, index int) error {
	if b.p != nil {
		return configErr(fmt.Sprintf("Pipeline.Policies[%d]", index), b, "already belongs to pipeline "+b.p.name)
	}
	b.p = p
	if b.cfg.Window == WindowTime || b.slowDur > 0 {
		p.timing = true
	}
	return nil
}

func (b *Breaker) execute(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	e := b.cur.Load()
	if e.state != StateClosed {
		return b.executeSlow(ctx, c, i, fn, e)
	}
	start := c.now
	done := false
	defer func() {
		if !done { // the call panicked: a failure, as in every state
			b.count(ctx, c, e, recCall|recFail)
		}
	}()
	err := c.p.next(ctx, c, i+1, fn)
	done = true
	// The common case, inlined: a plain success in a clean count window
	// changes nothing (see countWindow.record).
	if w := e.cw; err == nil && b.slowDur == 0 && w != nil && w.totals.Load() == w.clean {
		return nil
	}
	b.record(ctx, c, e, err, start)
	return err
}

// runClosed lets a call through closed epoch e and records its outcome. A
// call that panics counts as a failure.
func (b *Breaker) runClosed(ctx context.Context, c *call, i int, fn func(context.Context) error, e *epoch) error {
	start := c.now
	done := false
	defer func() {
		if !done {
			b.count(ctx, c, e, recCall|recFail)
		}
	}()
	err := c.p.next(ctx, c, i+1, fn)
	done = true
	b.record(ctx, c, e, err, start)
	return err
}

// record counts the outcome of a call that started at start in closed
// epoch e's window, and trips the breaker if the window says so. If e was
// replaced meanwhile, the record lands in a window no one reads any more:
// that is how stale outcomes are ignored.
func (b *Breaker) record(ctx context.Context, c *call, e *epoch, err error, start stamp) {
	counted, failed := b.judge(ctx, err)
	if !counted {
		return
	}
	b.count(ctx, c, e, b.rec(c, failed, start))
}

// rec returns the record of a call that started at start and failed or not.
func (b *Breaker) rec(c *call, failed bool, start stamp) uint32 {
	r := recCall
	if failed {
		r |= recFail
	}
	if b.slowDur > 0 && time.Duration(c.now-start) >= b.slowDur {
		r |= recSlow
	}
	return r
}

// count adds record r to closed epoch e's window, and trips the breaker if
// the window says so.
func (b *Breaker) count(ctx context.Context, c *call, e *epoch, r uint32) {
	if w := e.cw; w != nil {
		if tot, changed := w.record(r); changed && b.tripped(unpack(tot)) {
			b.trip(ctx, c, e, unpack(tot))
		}
		return
	}
	if n, ok := e.tw.record(c.p.unix(c.now), r); ok && b.tripped(n) {
		if n = e.tw.settled(); b.tripped(n) {
			b.trip(ctx, c, e, n)
		}
	}
}

// executeSlow runs a call through a breaker that is not closed, making the
// transitions that are due on the way.
func (b *Breaker) executeSlow(ctx context.Context, c *call, i int, fn func(context.Context) error, e *epoch) error {
	e, how, err := b.admit(ctx, c, e)
	switch how {
	case admitClosed:
		return b.runClosed(ctx, c, i, fn, e)
	case admitProbe:
		return b.probe(ctx, c, i, fn, e)
	case admitForced:
		return c.p.next(ctx, c, i+1, fn)
	}
	return err
}

// How a breaker admits a call.
const (
	admitRejected = iota
	admitClosed   // counted in the closed epoch's window
	admitProbe    // a half-open probe
	admitForced   // forced closed: let through, not counted
)

// admit decides whether call c may pass the breaker, starting from epoch
// e, making the transitions that are due. It returns the epoch that
// admitted the call and how, or admitRejected and the rejection.
func (b *Breaker) admit(ctx context.Context, c *call, e *epoch) (*epoch, int, error) {
	for {
		switch e.state {
		case StateClosed:
			return e, admitClosed, nil
		case StateOpen:
			now := b.callNow(c)
			if now.Before(e.openUntil) {
				return e, admitRejected, c.reject(ctx, ReasonBreakerOpen, ErrOpen)
			}
			ne := &epoch{state: StateHalfOpen, gen: e.gen + 1, since: now, openDur: e.openDur}
			e = b.transition(ctx, c, e, ne, now)
		case StateHalfOpen:
			// Load first, so that the crowd that comes once the probes
			// are out does not contend on the counter.
			if e.admitted.Load() >= b.probes || e.admitted.Add(1) > b.probes {
				return e, admitRejected, c.reject(ctx, ReasonBreakerOpen, ErrOpen)
			}
			return e, admitProbe, nil
		default: // forced
			if !e.ov.Until.IsZero() {
				if now := b.callNow(c); !now.Before(e.ov.Until) {
					e = b.transition(ctx, c, e, b.closedEpoch(e.gen+1, now), now)
					continue
				}
			}
			if e.state == StateForcedOpen {
				return e, admitRejected, c.reject(ctx, ReasonBreakerOpen, ErrOpen)
			}
			return e, admitForced, nil
		}
	}
}

// probe lets a call through half-open epoch e and reports its outcome. A
// probe that panics counts as a failure, so that the round still ends.
func (b *Breaker) probe(ctx context.Context, c *call, i int, fn func(context.Context) error, e *epoch) error {
	start := c.now
	done := false
	defer func() {
		if !done {
			b.report(ctx, c, e, recCall|recFail)
		}
	}()
	err := c.p.next(ctx, c, i+1, fn)
	done = true
	counted, failed := b.judge(ctx, err)
	if !counted {
		e.admitted.Add(-1) // the slot goes to the next call
		return err
	}
	b.report(ctx, c, e, b.rec(c, failed, start))
	return err
}

// report adds a probe's outcome to e; the last probe of the round decides
// whether the breaker closes or opens again.
func (b *Breaker) report(ctx context.Context, c *call, e *epoch, r uint32) {
	n := unpack(e.reported.Add(packRec(r)))
	if n.calls != b.probes {
		return
	}
	now := b.callNow(c)
	var ne *epoch
	if b.failing(n) {
		d := b.cfg.MaxOpenDuration
		if g := float64(e.openDur) * b.cfg.OpenBackoff; g < float64(d) {
			d = time.Duration(g)
		}
		ne = &epoch{state: StateOpen, gen: e.gen + 1, since: now, openDur: d, openUntil: now.Add(d), last: n}
	} else {
		ne = b.closedEpoch(e.gen+1, now)
	}
	b.transition(ctx, c, e, ne, now)
}

// trip opens the breaker if closed epoch e is still current.
func (b *Breaker) trip(ctx context.Context, c *call, e *epoch, n counts) {
	now := b.callNow(c)
	d := b.cfg.OpenDuration
	b.transition(ctx, c, e, &epoch{state: StateOpen, gen: e.gen + 1, since: now, openDur: d, openUntil: now.Add(d), last: n}, now)
}

// transition replaces e by ne, unless another transition came first, and
// reports it to the call's pipeline. It returns the current epoch.
func (b *Breaker) transition(ctx context.Context, c *call, e, ne *epoch, now time.Time) *epoch {
	var ev Event
	if c.p.observed() {
		if c.last.held {
			// The attempt that made the transition comes before it.
			c.release(ctx)
		}
		ev = c.event(KindBreakerTransition)
		ev.Reason, ev.Time = ReasonAuto, now
		if e.state.Forced() {
			ev.Reason, ev.Actor, ev.Message = ReasonExpired, e.ov.Actor, e.ov.Reason
		}
	}
	if !b.swap(ctx, e, ne, ev) {
		return b.cur.Load()
	}
	return ne
}

// settle makes the transitions that are due at now outside a call and
// returns the current epoch.
func (b *Breaker) settle(ctx context.Context, now time.Time) *epoch {
	for {
		e := b.cur.Load()
		var ne *epoch
		switch {
		case e.state == StateOpen && !now.Before(e.openUntil):
			ne = &epoch{state: StateHalfOpen, gen: e.gen + 1, since: now, openDur: e.openDur}
		case e.state.Forced() && !e.ov.Until.IsZero() && !now.Before(e.ov.Until):
			ne = b.closedEpoch(e.gen+1, now)
		default:
			return e
		}
		ev := b.outsideEvent(ReasonAuto, "", "", now)
		if e.state.Forced() {
			ev = b.outsideEvent(ReasonExpired, e.ov.Actor, e.ov.Reason, now)
		}
		b.swap(ctx, e, ne, ev)
	}
}

// outsideEvent returns the event of a transition made outside a call.
func (b *Breaker) outsideEvent(reason Reason, actor, msg string, now time.Time) Event {
	ev := Event{Kind: KindBreakerTransition, Reason: reason, Actor: actor, Message: msg, Time: now}
	if b.p != nil {
		ev.Pipeline = b.p.name
	}
	return ev
}

// swap replaces e by ne, unless another transition came first, and reports
// whether it did. It then delivers ev, completed with From and To, to the
// pipeline's observers. Transitions are made under b.mu and their events
// queued in the same order; the goroutine that finds no delivery under way
// delivers the queue outside the lock until it is empty. So observers see
// transitions in the order they happened and are never called under a lock;
// a transition an observer makes is delivered after the one it observes.
func (b *Breaker) swap(ctx context.Context, e, ne *epoch, ev Event) bool {
	b.mu.Lock()
	if b.cur.Load() != e {
		b.mu.Unlock()
		return false
	}
	b.cur.Store(ne)
	if b.p == nil || !b.p.observed() {
		b.mu.Unlock()
		return true
	}
	ev.From, ev.To = e.state, ne.state
	b.pending = append(b.pending, pendingEvent{ctx, ev})
	if b.delivering {
		b.mu.Unlock()
		return true
	}
	b.delivering = true
	b.mu.Unlock()
	b.deliver()
	return true
}

type pendingEvent struct {
	ctx context.Context
	e   Event
}

// deliver emits the queued transition events until none is left. If an
// observer panics, the queue is dropped so that later events still flow.
func (b *Breaker) deliver() {
	done := false
	defer func() {
		if !done {
			b.mu.Lock()
			b.pending, b.delivering = nil, false
			b.mu.Unlock()
		}
	}()
	b.mu.Lock()
	for len(b.pending) > 0 {
		batch := b.pending
		b.pending = nil
		b.mu.Unlock()
		for _, q := range batch {
			b.p.emit(q.ctx, q.e)
		}
		b.mu.Lock()
	}
	b.delivering = false
	b.mu.Unlock()
	done = true
}

// judge reports whether the outcome err of a call made under ctx counts in
// the window, and whether as a failure; see BreakerConfig.IsFailure.
func (b *Breaker) judge(ctx context.Context, err error) (counted, failed bool) {
	switch {
	case err == nil:
		return true, false
	case errors.Is(err, ErrOpen), errors.Is(err, ErrBulkheadFull), errors.Is(err, ErrRateLimited), errors.Is(err, ErrLimitExceeded):
		return false, false
	case ctx.Err() != nil && !errors.Is(context.Cause(ctx), ErrTimeout):
		// The caller's context ended: a deadline means the dependency was
		// too slow for the caller; a cancellation says nothing about it.
		return errors.Is(ctx.Err(), context.DeadlineExceeded), true
	case b.isFailure != nil:
		return true, b.isFailure(err)
	}
	return true, true
}

// tripped reports whether a closed window's counts open the breaker.
func (b *Breaker) tripped(n counts) bool {
	return n.calls >= b.minCalls && b.failing(n)
}

// failing reports whether the failure or slow-call rate of n reaches its
// threshold.
func (b *Breaker) failing(n counts) bool {
	if n.calls <= 0 {
		return false
	}
	if n.failures > 0 && float64(n.failures)/float64(n.calls) >= b.failTh {
		return true
	}
	return b.slowDur > 0 && n.slow > 0 && float64(n.slow)/float64(n.calls) >= b.slowTh
}

func (b *Breaker) closedEpoch(gen uint64, now time.Time) *epoch {
	e := &epoch{state: StateClosed, gen: gen, since: now}
	if b.cfg.Window == WindowTime {
		e.tw = newTimeWindow(int(b.cfg.WindowDuration / time.Second))
	} else {
		e.cw = newCountWindow(b.cfg.WindowSize)
	}
	return e
}

// callNow returns the call's latest clock reading, or reads the clock when
// the pipeline does not time calls.
func (b *Breaker) callNow(c *call) time.Time { return c.clockNow() }

// now reads the bound pipeline's clock, or the system's.
func (b *Breaker) now() time.Time {
	if b.p != nil {
		return b.p.clock.Now()
	}
	return time.Now()
}

func (b *Breaker) owner() *Pipeline { return b.p }
