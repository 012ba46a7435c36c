package resilience

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// RateLimiterConfig configures a RateLimiter.
type RateLimiterConfig struct {
	// Rate is how many calls a second pass, on average over time. It must
	// be positive.
	Rate float64
	// Burst is how many calls may pass at once after a quiet spell. Zero
	// means 1.
	Burst int
	// MaxWait bounds how long a call may wait for its turn. Zero means no
	// call waits: one that comes too early is refused at once.
	MaxWait time.Duration
}

// RateLimiter is a token bucket of Burst tokens refilled at Rate a second:
// a call takes a token to pass; with none left it waits for the next, if
// that comes within MaxWait (and before its context ends), and is
// otherwise refused with ErrRateLimited and a KindRejected event with
// ReasonRateLimited. It keeps the bucket as one atomic word (the time at
// which it will be full again, as in the generic cell rate algorithm), so
// it admits a call without locks or allocations. A call that gives up its
// wait returns its token. It is safe for concurrent use.
type RateLimiter struct {
	cfg RateLimiterConfig
	// interval is the time one token takes to come back; tolerance is
	// Burst of them.
	interval, tolerance int64
	// full is the stamp (pipeline clock) at which the bucket is full
	// again: a call at now finds max(0, full-now)/interval tokens taken.
	full atomic.Int64
	p    *Pipeline
}

// NewRateLimiter returns a rate limiter, or a *ConfigError naming the
// invalid field.
func NewRateLimiter(cfg RateLimiterConfig) (*RateLimiter, error) {
	switch {
	case !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0):
		return nil, configErr("RateLimiter.Rate", cfg.Rate, "must be a positive number of calls a second")
	case cfg.Rate > 1e9:
		return nil, configErr("RateLimiter.Rate", cfg.Rate, "must be at most 1e9 calls a second")
	case cfg.Burst < 0:
		return nil, configErr("RateLimiter.Burst", cfg.Burst, "must not be negative")
	case cfg.MaxWait < 0:
		return nil, configErr("RateLimiter.MaxWait", cfg.MaxWait, "must not be negative")
	}
	if cfg.Burst == 0 {
		cfg.Burst = 1
	}
	iv := int64(math.Round(float64(time.Second) / cfg.Rate))
	if iv > math.MaxInt64/int64(cfg.Burst)/4 {
		return nil, configErr("RateLimiter.Burst", cfg.Burst, "is too large for the rate")
	}
	l := &RateLimiter{cfg: cfg, interval: iv, tolerance: iv * int64(cfg.Burst)}
	l.full.Store(math.MinInt64 / 2)
	return l, nil
}

// Config returns the limiter's settings with the defaults filled in.
func (l *RateLimiter) Config() RateLimiterConfig { return l.cfg }

// Tokens returns how many calls may pass now without waiting.
func (l *RateLimiter) Tokens() float64 {
	if l.p == nil {
		return float64(l.cfg.Burst)
	}
	now := int64(l.p.read())
	taken := max(l.full.Load()-now, 0)
	return max(float64(l.tolerance-taken)/float64(l.interval), 0)
}

// Saturated reports whether the bucket is empty: the next call would wait
// or be refused.
func (l *RateLimiter) Saturated() bool { return l.Tokens() < 1 }

// String describes the limiter.
func (l *RateLimiter) String() string {
	s := fmt.Sprintf("rate limit %g/s burst %d", l.cfg.Rate, l.cfg.Burst)
	if l.cfg.MaxWait > 0 {
		s += fmt.Sprintf(", wait %v", l.cfg.MaxWait)
	}
	return s
}

func (l *RateLimiter) bind(p *Pipeline, index int) error {
	if l.p != nil {
		return configErr(fmt.Sprintf("Pipeline.Policies[%d]", index), l, "already belongs to pipeline "+l.p.name)
	}
	l.p = p
	p.timing = true
	return nil
}

func (l *RateLimiter) owner() *Pipeline { return l.p }

// take takes a token at now. It returns how long the call must wait for
// it (0: none), or ok false when that wait would exceed MaxWait; then
// nothing was taken.
func (l *RateLimiter) take(now int64) (wait int64, ok bool) {
	for {
		full := l.full.Load()
		nf := max(full, now) + l.interval
		wait = nf - now - l.tolerance
		if wait > int64(l.cfg.MaxWait) {
			return wait, false
		}
		if l.full.CompareAndSwap(full, nf) {
			return max(wait, 0), true
		}
	}
}

func (l *RateLimiter) execute(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	wait, ok := l.take(int64(c.now))
	if !ok {
		return c.reject(ctx, ReasonRateLimited, ErrRateLimited)
	}
	if wait > 0 {
		t := c.p.clock.NewTimer(time.Duration(wait))
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			l.full.Add(-l.interval) // give the token back
			c.tick()
			return context.Cause(ctx)
		}
		c.tick()
	}
	return c.p.next(ctx, c, i+1, fn)
}
