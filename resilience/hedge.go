package resilience

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// HedgeCounts counts what a Hedge did since it was made.
type HedgeCounts struct {
	// Started counts the hedged attempts started (the first attempts of
	// calls not included); Won those that answered first; Canceled the
	// attempts, first ones included, cancelled because another won.
	Started, Won, Canceled uint64
}

// HedgeConfig configures a Hedge.
type HedgeConfig struct {
	// Delay is how long an attempt runs before the next one starts. Zero
	// means it follows the latency of the attempts the policy saw succeed
	// recently: their Percentile, kept within [MinDelay, MaxDelay].
	Delay time.Duration
	// Percentile in (0, 1) of recent latency, when Delay is zero. Zero
	// means 0.95.
	Percentile float64
	// MinDelay and MaxDelay bound a delay taken from recent latency;
	// MaxDelay is also the delay until enough calls were seen. Zero means
	// 1ms and 1s.
	MinDelay, MaxDelay time.Duration
	// MaxHedges is how many attempts may start besides the first, at most
	// 10. Zero means 1.
	MaxHedges int
	// Budget bounds hedges to a share of calls, as a retry budget bounds
	// retries. A pipeline that has a Retry spends that retry's budget
	// instead (when it has one), so that retries and hedges together stay
	// within it; this one is used otherwise. It is on by default.
	Budget BudgetConfig
}

// maxHedges bounds HedgeConfig.MaxHedges.
const maxHedges = 10

// Hedge starts another attempt of a call that has not answered after a
// delay, and takes the first success: the other attempts are then
// cancelled (their context ends with ErrHedgeLost as its cause) and waited
// for, so the call returns once every attempt has returned. A call makes
// at most MaxHedges more attempts, each only if the budget allows it. If
// every attempt fails, the call fails with the error of the attempt that
// returned last. A hedge the budget refuses is reported as a
// KindBudgetExhausted event. Every hedge is reported as a KindHedge event with
// ReasonHedgeStarted, the winning hedge with ReasonHedgeWon, and each
// attempt cancelled because another won with ReasonHedgeCanceled.
//
// Every call through the pipeline is hedged, made with Run, Do, DoFallback
// or StaleCache.Do, unless its context comes from WithoutHedging. The first
// attempt runs on the caller's goroutine; hedged attempts run the function
// on goroutines of their own, so it must be safe to run concurrently and
// the call idempotent. A call that answers before the delay allocates only
// the context that lets a hedge that wins cancel the first attempt; the
// rest of its state is pooled. It is safe for concurrent use.
type Hedge struct {
	// counts of hedges started, won and cancelled (see HedgeCounts).
	started, won, canceled atomic.Uint64
	cfg                    HedgeConfig
	lat                    *latencyRing
	own                    *budget
	budget                 *budget
	p                      *Pipeline
	// calls holds the state of calls that ended, for the next ones
	// (*hedgeCall).
	calls sync.Pool
}

// NewHedge returns a hedging policy, or a *ConfigError naming the invalid
// field.
func NewHedge(cfg HedgeConfig) (*Hedge, error) {
	if cfg.Percentile == 0 {
		cfg.Percentile = 0.95
	}
	if cfg.MinDelay == 0 {
		cfg.MinDelay = time.Millisecond
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = time.Second
	}
	if cfg.MaxHedges == 0 {
		cfg.MaxHedges = 1
	}
	switch {
	case cfg.Delay < 0:
		return nil, configErr("Hedge.Delay", cfg.Delay, "must not be negative")
	case !(cfg.Percentile > 0 && cfg.Percentile < 1):
		return nil, configErr("Hedge.Percentile", cfg.Percentile, "must be in (0, 1)")
	case cfg.MinDelay < 0:
		return nil, configErr("Hedge.MinDelay", cfg.MinDelay, "must not be negative")
	case cfg.MaxDelay < cfg.MinDelay:
		return nil, configErr("Hedge.MaxDelay", cfg.MaxDelay, fmt.Sprintf("must not be shorter than MinDelay (%v)", cfg.MinDelay))
	case cfg.MaxHedges < 0 || cfg.MaxHedges > maxHedges:
		return nil, configErr("Hedge.MaxHedges", cfg.MaxHedges, fmt.Sprintf("must be in [1, %d]", maxHedges))
	}
	b, err := newBudget(cfg.Budget, "Hedge.Budget")
	if err != nil {
		return nil, err
	}
	h := &Hedge{cfg: cfg, lat: newLatencyRing(cfg.Percentile), own: b, budget: b}
	h.calls.New = func() any { return newHedgeCall(h) }
	return h, nil
}

// Config returns the policy's settings with the defaults filled in.
func (h *Hedge) Config() HedgeConfig { return h.cfg }

// Counts returns what the policy did so far.
func (h *Hedge) Counts() HedgeCounts {
	return HedgeCounts{Started: h.started.Load(), Won: h.won.Load(), Canceled: h.canceled.Load()}
}

// Delay returns the delay after which the next attempt starts now.
func (h *Hedge) Delay() time.Duration {
	if h.cfg.Delay > 0 {
		return h.cfg.Delay
	}
	d, ok := h.lat.quantile()
	if !ok {
		return h.cfg.MaxDelay
	}
	return min(max(d, h.cfg.MinDelay), h.cfg.MaxDelay)
}

// String describes the policy.
func (h *Hedge) String() string {
	delay := fmt.Sprintf("p%g of latency in [%v, %v]", math.Round(h.cfg.Percentile*1000)/10, h.cfg.MinDelay, h.cfg.MaxDelay)
	if h.cfg.Delay > 0 {
		delay = h.cfg.Delay.String()
	}
	return fmt.Sprintf("hedge up to %d after %s", h.cfg.MaxHedges, delay)
}

func (h *Hedge) bind(p *Pipeline, index int) error {
	if h.p != nil {
		return configErr(fmt.Sprintf("Pipeline.Policies[%d]", index), h, "already belongs to pipeline "+h.p.name)
	}
	h.p = p
	if h.cfg.Delay == 0 {
		p.timing = true // the delay follows the latency of attempts
	}
	return nil
}

// link shares the budget of the pipeline's first retry, if it has one.
func (h *Hedge) link(p *Pipeline) {
	for _, pol := range p.policies {
		if r, ok := pol.(*Retry); ok && r.budget != nil {
			h.budget = r.budget
			return
		}
	}
}

func (h *Hedge) owner() *Pipeline { return h.p }

// WithoutHedging returns a context under which calls are not hedged: the
// Hedge policies of a pipeline let a call made with it through unchanged.
// Use it for a call that must not run twice at once, such as a request
// whose body cannot be sent again.
func WithoutHedging(ctx context.Context) context.Context {
	return context.WithValue(ctx, noHedgingKey{}, true)
}

type noHedgingKey struct{}

// attempter is the function of a call as a hedged attempt runs it on a
// goroutine of its own: it returns the attempt's result, boxed (nil for
// Run), and its error.
type attempter interface {
	attempt(ctx context.Context) (any, error)
}

// runFn is the function given to Run.
type runFn func(context.Context) error

func (f runFn) attempt(ctx context.Context) (any, error) { return nil, f(ctx) }

// doFn is the function given to Do.
type doFn[T any] func(context.Context) (T, error)

func (f doFn[T]) attempt(ctx context.Context) (any, error) {
	v, err := f(ctx)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// hedging is what a call carries for the Hedge policies it meets.
type hedging struct {
	// fn is what hedged attempts run, nil when the call cannot be hedged.
	fn attempter
	// won is set when a hedged attempt, not the one that ran on the
	// caller's goroutine, decided the call; value is then its result.
	won   bool
	value any
}

// hedgedValue returns the result of call c when a hedged attempt decided
// it, with ok false when the attempt on the caller's goroutine did.
func hedgedValue[T any](c *call) (v T, ok bool) {
	if !c.hedge.won {
		return v, false
	}
	v, _ = c.hedge.value.(T) // the attempt returned a T; nil is the zero T
	return v, true
}

// hedgeCall is the state of one call through a Hedge, shared with the
// goroutines of its hedged attempts. It is pooled: it goes back to the
// Hedge once nothing touches it any more.
type hedgeCall struct {
	h *Hedge
	p *Pipeline
	// fire is onTimer, bound once; timer calls it, armed again for each
	// call when the clock's timers can be reset.
	fire  func()
	timer Timer
	// wake tells the caller, waiting for the other attempts, that something
	// changed (see signal).
	wake chan struct{}
	// attempts[n-1] is hedge n.
	attempts []hedgeAttempt

	// Set when the call reaches the policy.
	i         int             // the policy's index in the pipeline
	ctx, actx context.Context // the call's context, for events; the attempts'
	cancel    context.CancelCauseFunc
	fn        attempter
	id        uint64
	base      int // the call's attempt number at the first attempt
	start     stamp

	mu sync.Mutex
	// armed is set while the timer is set and its onTimer has not taken
	// the lock; closed once no hedge may start (an attempt won, or all
	// ended); waiting while the caller waits on wake.
	armed, closed, waiting bool
	// started counts the hedges started or refused by the budget, running
	// the attempts in progress (the first included), busy the goroutines
	// other than the caller's that still use the state.
	started, running, busy int
	// winner is the attempt that succeeded first, last the one that
	// returned last while none had; -1 for none.
	winner, last int
	// live marks the attempts in progress, by number (0 the first).
	live     [maxHedges + 1]bool
	panicked any
}

// hedgeAttempt is hedge n of a call, run on a goroutine of its own.
type hedgeAttempt struct {
	st *hedgeCall
	n  int
	// run is invoke, bound once: the function the policies inside the
	// Hedge call for this attempt.
	run      func(context.Context) error
	c        call
	value    any
	err      error
	panicked any
}

func newHedgeCall(h *Hedge) *hedgeCall {
	st := &hedgeCall{h: h, p: h.p, wake: make(chan struct{}, 1), attempts: make([]hedgeAttempt, h.cfg.MaxHedges)}
	st.fire = st.onTimer
	for n := range st.attempts {
		a := &st.attempts[n]
		a.st, a.n = st, n+1
		a.run = a.invoke
	}
	return st
}

// resetter is a Timer that can be set again, as a *time.Timer can.
type resetter interface {
	Reset(d time.Duration) bool
}

func (h *Hedge) execute(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	p := c.p
	if c.hedge.fn == nil || ctx.Value(noHedgingKey{}) != nil {
		return p.next(ctx, c, i+1, fn)
	}
	if h.budget != nil && h.budget == h.own {
		h.own.deposit(c)
	}
	if c.last.held {
		c.release(ctx) // an earlier attempt's end: not the last
	}
	st := h.calls.Get().(*hedgeCall)
	actx, cancel := context.WithCancelCause(ctx)
	st.ctx, st.actx, st.cancel, st.fn = ctx, actx, cancel, c.hedge.fn
	st.i, st.id, st.base, st.start = i, c.id, c.attempt, c.start
	st.winner, st.last, st.running, st.live[0] = -1, -1, 1, true
	st.mu.Lock()
	st.arm(h.Delay())
	st.mu.Unlock()

	c.hedge.won = false
	begin := c.now
	ended := false
	defer func() {
		if !ended {
			st.abandon() // the first attempt panicked: the panic goes on
		}
	}()
	err := p.next(actx, c, i+1, fn) // c.now is current after it
	ended = true
	st.ended(0, err, nil, time.Duration(c.now-begin))
	st.wait()

	n := st.winner
	if n < 0 {
		n = st.last
	}
	for k := 1; k <= st.started; k++ {
		if a := &st.attempts[k-1]; k != n && a.c.last.held {
			a.c.release(ctx)
		}
	}
	if n > 0 {
		// A hedged attempt decided the call: the call goes on with its
		// state, and the end of the first attempt is not the last.
		a := &st.attempts[n-1]
		if c.last.held {
			c.release(ctx)
		}
		c.attempt, c.last = a.c.attempt, a.c.last
		c.answered, c.answer = a.c.answered, a.c.answer
		if st.winner == n {
			c.hedge.won, c.hedge.value = true, a.value
			if a.c.hedge.won {
				c.hedge.value = a.c.hedge.value
			}
		}
		err = a.err
	}
	if st.started > 0 {
		c.tick()
	}
	panicked := st.panicked
	st.recycle()
	if panicked != nil {
		panic(panicked)
	}
	return err
}

// arm sets the timer of the next hedge, under st.mu.
func (st *hedgeCall) arm(d time.Duration) {
	st.armed = true
	if r, ok := st.timer.(resetter); ok {
		r.Reset(d)
		return
	}
	st.timer = st.p.clock.AfterFunc(d, st.fire)
}

// signal wakes the caller if it waits, under st.mu.
func (st *hedgeCall) signal() {
	if st.waiting {
		st.waiting = false
		st.wake <- struct{}{}
	}
}

// onTimer starts the next hedge, on the timer's goroutine, unless the call
// is decided or the budget refuses it.
func (st *hedgeCall) onTimer() {
	st.mu.Lock()
	st.armed = false
	if st.closed || st.started == len(st.attempts) {
		st.signal()
		st.mu.Unlock()
		return
	}
	st.busy++
	st.started++
	n := st.started
	h, p := st.h, st.p
	var now stamp
	if p.timing {
		now = p.read()
	}
	if h.budget != nil && !h.budget.withdraw(st.time(now)) {
		// The budget is spent: no more hedges for this call.
		st.mu.Unlock()
		if p.observed() {
			p.emit(st.ctx, Event{Kind: KindBudgetExhausted, Reason: ReasonRetryBudget, Pipeline: p.name, Call: st.id,
				Attempt: st.base + n, Time: p.time(now)})
		}
		st.mu.Lock()
		st.busy--
		st.signal()
		st.mu.Unlock()
		return
	}
	st.running++
	st.live[n] = true
	if st.started < len(st.attempts) {
		st.arm(h.Delay())
	}
	st.mu.Unlock()
	st.report(ReasonHedgeStarted, n, now)

	a := &st.attempts[n-1]
	a.c = call{p: p, id: st.id, attempt: st.base + n, start: st.start, now: now, hedge: hedging{fn: st.fn}}
	err := a.call()
	var d time.Duration
	if p.timing {
		d = time.Duration(p.read() - now)
	}
	st.ended(n, err, a.panicked, d)
	st.mu.Lock()
	st.busy--
	st.signal()
	st.mu.Unlock()
}

// call runs the attempt through the policies inside the Hedge; a panic
// is kept for the caller's goroutine and ends the attempt as a failure.
func (a *hedgeAttempt) call() (err error) {
	defer func() {
		if r := recover(); r != nil {
			a.panicked = r
			err = fmt.Errorf("resilience: hedged attempt panicked: %v", r)
		}
	}()
	st := a.st
	return st.p.next(st.actx, &a.c, st.i+1, a.run)
}

// invoke runs the call's function for the attempt and keeps its result.
func (a *hedgeAttempt) invoke(ctx context.Context) error {
	v, err := a.st.fn.attempt(ctx)
	a.value = v
	return err
}

// ended records that attempt n returned err after d; the first attempt
// that succeeded wins, and the others still in progress are cancelled.
func (st *hedgeCall) ended(n int, err error, panicked any, d time.Duration) {
	st.mu.Lock()
	if n > 0 {
		st.attempts[n-1].err = err
	}
	st.live[n] = false
	st.running--
	won := false
	switch {
	case panicked != nil:
		if st.panicked == nil {
			st.panicked = panicked
		}
	case err == nil && st.winner < 0:
		st.winner, st.closed, won = n, true, true
	}
	if st.winner < 0 {
		st.last = n
	}
	if st.running == 0 {
		st.closed = true
	}
	live := st.live
	started := st.started
	st.mu.Unlock()
	if !won {
		return
	}
	if st.h.cfg.Delay == 0 {
		st.h.lat.add(d) // the delay follows latency
	}
	st.cancel(ErrHedgeLost)
	var now stamp
	if st.p.timing {
		now = st.p.read()
	}
	if n > 0 {
		st.report(ReasonHedgeWon, n, now)
	}
	for k := 0; k <= started; k++ {
		if live[k] {
			st.report(ReasonHedgeCanceled, k, now)
		}
	}
}

// time returns the time of reading now, which is zero when the pipeline
// does not time calls.
func (st *hedgeCall) time(now stamp) time.Time {
	if st.p.timing {
		return st.p.time(now)
	}
	return st.p.clock.Now()
}

// wait returns once every hedged attempt has returned and the timer can
// no longer fire for the call.
func (st *hedgeCall) wait() {
	st.mu.Lock()
	for {
		if st.closed && st.armed && st.timer.Stop() {
			st.armed = false
		}
		if st.running == 0 && st.busy == 0 && !st.armed {
			break
		}
		st.waiting = true
		st.mu.Unlock()
		<-st.wake
		st.mu.Lock()
	}
	st.mu.Unlock()
}

// abandon ends a call whose first attempt panicked: it cancels the other
// attempts and waits for them.
func (st *hedgeCall) abandon() {
	st.mu.Lock()
	st.running--
	st.live[0] = false
	st.closed = true
	st.mu.Unlock()
	st.cancel(nil)
	st.wait()
	for k := 1; k <= st.started; k++ {
		if a := &st.attempts[k-1]; a.c.last.held {
			a.c.release(st.ctx)
		}
	}
	st.recycle()
}

// recycle clears the state of the call that ended and gives it back.
func (st *hedgeCall) recycle() {
	st.cancel(nil)
	for k := range st.started {
		a := &st.attempts[k]
		a.c, a.value, a.err, a.panicked = call{}, nil, nil, nil
	}
	st.ctx, st.actx, st.cancel, st.fn = nil, nil, nil, nil
	st.closed, st.started, st.panicked = false, 0, nil
	st.h.calls.Put(st)
}

// report emits a KindHedge event of attempt n (0 the first) for reason.
func (st *hedgeCall) report(reason Reason, n int, now stamp) {
	h, p := st.h, st.p
	switch reason {
	case ReasonHedgeStarted:
		h.started.Add(1)
	case ReasonHedgeWon:
		h.won.Add(1)
	case ReasonHedgeCanceled:
		h.canceled.Add(1)
	}
	if p.observed() {
		p.emit(st.ctx, Event{Kind: KindHedge, Reason: reason, Pipeline: p.name, Call: st.id, Attempt: st.base + n, Time: p.time(now)})
	}
}
