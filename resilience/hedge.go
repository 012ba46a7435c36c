package resilience

import (
	"context"
	"fmt"
	"math"
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
// Hedged attempts run the function on goroutines of their own, so it must
// be safe to run concurrently and the call idempotent; and the function
// has to live on the heap, which Run and Do avoid to allocate nothing. So
// only calls made with RunHedged and DoHedged are hedged: through Run and
// Do the policy lets the call through unchanged. It is safe for concurrent
// use.
type Hedge struct {
	// counts of hedges started, won and cancelled (see HedgeCounts).
	started, won, canceled atomic.Uint64
	cfg                    HedgeConfig
	lat                    *latencyRing
	own                    *budget
	budget                 *budget
	p                      *Pipeline
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
	return &Hedge{cfg: cfg, lat: newLatencyRing(cfg.Percentile), own: b, budget: b}, nil
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
	p.timing = true
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

// RunHedged runs fn through p like Run, and lets p's Hedge policies start
// further attempts of it (see Hedge): fn may run on several goroutines at
// once. Unlike Run, it allocates.
func RunHedged(ctx context.Context, p *Pipeline, fn func(context.Context) error) error {
	c := &call{hedged: fn}
	return p.runCall(ctx, c, fn)
}

// DoHedged runs fn through p like Do, and lets p's Hedge policies start
// further attempts of it (see Hedge). The result is that of an attempt
// that succeeded. Unlike Do, it allocates.
func DoHedged[T any](ctx context.Context, p *Pipeline, fn func(context.Context) (T, error)) (T, error) {
	res := make(chan T, 1)
	run := func(ctx context.Context) error {
		v, err := fn(ctx)
		if err == nil {
			select {
			case res <- v:
			default: // another attempt's answer is kept
			}
		}
		return err
	}
	c := &call{hedged: run}
	err := p.runCall(ctx, c, run)
	var zero T
	if err != nil {
		return zero, err
	}
	if c.answered {
		return answerOf[T](p, c.answer)
	}
	select {
	case v := <-res:
		return v, nil
	default:
		return zero, nil
	}
}

// hedgeResult is how one attempt of a hedged call ended.
type hedgeResult struct {
	c     *call
	n     int // 0 for the first attempt
	err   error
	panic any
	dur   time.Duration
}

func (h *Hedge) execute(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	if c.hedged == nil {
		return c.p.next(ctx, c, i+1, fn)
	}
	hfn := c.hedged
	p := c.p
	if c.last.held {
		c.release(ctx) // an earlier attempt's end: not the last
	}
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make(chan hedgeResult, h.cfg.MaxHedges+1)
	calls := make([]*call, 0, h.cfg.MaxHedges+1)
	done := make([]bool, 0, h.cfg.MaxHedges+1)
	start := func(n int) {
		hc := &call{p: p, id: c.id, attempt: c.attempt + n, start: c.start, now: c.now, hedged: hfn}
		calls, done = append(calls, hc), append(done, false)
		begin := p.read()
		go func() {
			r := hedgeResult{c: hc, n: n}
			defer func() {
				if r.panic = recover(); r.panic != nil {
					r.err = fmt.Errorf("resilience: hedged attempt panicked: %v", r.panic)
				}
				results <- r
			}()
			r.err = p.next(hctx, hc, i+1, hfn)
			r.dur = time.Duration(p.read() - begin)
		}()
	}
	start(0)
	pending, started := 1, 0
	var (
		timer  Timer
		fire   <-chan time.Time
		winner *hedgeResult
		last   hedgeResult
		panics any
	)
	arm := func() {
		if started < h.cfg.MaxHedges {
			timer = p.clock.NewTimer(h.Delay())
			fire = timer.C()
		} else {
			fire = nil
		}
	}
	arm()
	for pending > 0 {
		select {
		case r := <-results:
			pending--
			done[r.n] = true
			if r.panic != nil && panics == nil {
				panics = r.panic
			}
			if r.err == nil && winner == nil && r.panic == nil {
				winner = &r
				h.lat.add(r.dur)
				if timer != nil {
					timer.Stop()
				}
				fire = nil
				cancel(ErrHedgeLost)
				c.now = p.read()
				if r.n > 0 {
					h.report(ctx, c, ReasonHedgeWon, r.n)
				}
				for n, d := range done {
					if !d {
						h.report(ctx, c, ReasonHedgeCanceled, n)
					}
				}
				continue
			}
			if winner == nil {
				last = r
			}
		case <-fire:
			started++
			c.now = p.read()
			if h.budget != nil && !h.budget.withdraw(c.clockNow()) {
				fire = nil // the budget is spent: no more hedges for this call
				if p.observed() {
					e := c.event(KindBudgetExhausted)
					e.Reason = ReasonRetryBudget
					e.Attempt = c.attempt + started
					c.emit(ctx, e)
				}
				continue
			}
			h.report(ctx, c, ReasonHedgeStarted, started)
			start(started)
			pending++
			arm()
		}
	}
	if timer != nil {
		timer.Stop()
	}
	if panics != nil {
		panic(panics)
	}
	// The call goes on with the state of the attempt that decided it; the
	// ends of the others held back from the folders are delivered now.
	decided := &last
	if winner != nil {
		decided = winner
	}
	for _, hc := range calls {
		if hc != decided.c && hc.last.held {
			hc.release(ctx)
		}
	}
	c.attempt, c.now, c.last = decided.c.attempt, p.read(), decided.c.last
	c.answered, c.answer = decided.c.answered, decided.c.answer
	return decided.err
}

// report emits a KindHedge event of attempt n for reason.
func (h *Hedge) report(ctx context.Context, c *call, reason Reason, n int) {
	switch reason {
	case ReasonHedgeStarted:
		h.started.Add(1)
	case ReasonHedgeWon:
		h.won.Add(1)
	case ReasonHedgeCanceled:
		h.canceled.Add(1)
	}
	if !c.p.observed() {
		return
	}
	e := c.event(KindHedge)
	e.Reason = reason
	e.Attempt = c.attempt + n
	c.emit(ctx, e)
}
