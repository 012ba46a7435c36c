package resilience

import (
	"context"
	"sync/atomic"
)

// Allow asks the breaker to let one call through, for code that makes the
// call itself instead of through a Pipeline (as gobreaker's
// TwoStepCircuitBreaker). When err is nil the call may be made, and its
// outcome must be reported with done(success) once it is known; a done
// that is never called keeps a half-open breaker waiting for its probe,
// and the call in flight (Pipeline.InFlight).
// Calls after the first do nothing. When the breaker refuses the call, err
// is ErrOpen and done is nil.
//
// The breaker judges and counts exactly as for a call through a pipeline
// (IsFailure is not asked: success says it). A breaker that belongs to a
// pipeline reads that pipeline's clock and reports transitions and
// rejections to its observers; one that does not reads the system clock
// and reports nothing. Allow is safe for concurrent use, with itself and
// with calls through the pipeline.
func (b *Breaker) Allow() (done func(success bool), err error) {
	p := b.p
	if p == nil {
		p = &Pipeline{clock: SystemClock(), timing: b.cfg.Window == WindowTime || b.slowDur > 0}
		p.startClock()
	}
	ctx := context.Background()
	c := &call{}
	p.begin(c)
	e, how, err := b.admit(ctx, c, b.cur.Load())
	if how == admitRejected {
		p.returned(c)
		return nil, err
	}
	start := c.now
	var once atomic.Bool
	return func(success bool) {
		if !once.CompareAndSwap(false, true) {
			return
		}
		defer p.returned(c)
		c.tick()
		switch how {
		case admitClosed:
			b.count(ctx, c, e, b.rec(c, !success, start))
		case admitProbe:
			b.report(ctx, c, e, b.rec(c, !success, start))
		}
	}, nil
}
