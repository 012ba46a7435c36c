package resilience

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// BulkheadConfig configures a Bulkhead.
type BulkheadConfig struct {
	// MaxConcurrent is how many calls may run at once, from 1 to
	// MaxBulkheadLimit.
	MaxConcurrent int
	// MaxQueue is how many calls may wait for a slot, at most
	// MaxBulkheadLimit. Zero means none wait: a call that finds no free slot
	// is rejected at once.
	MaxQueue int
	// MaxWait bounds how long a queued call waits. Zero means it waits
	// until a slot frees or its context ends.
	MaxWait time.Duration
}

// MaxBulkheadLimit bounds BulkheadConfig.MaxConcurrent and MaxQueue: a
// million calls in flight in one process is far beyond any real limit, and
// a larger number is a typo (the slots are allocated up front).
const MaxBulkheadLimit = 1_000_000

// Bulkhead limits how many calls run at once, with a bounded wait queue. A
// call it turns away fails with ErrBulkheadFull and a KindRejected event. It
// is safe for concurrent use.
type Bulkhead struct {
	cfg     BulkheadConfig
	slots   chan struct{}
	waiting atomic.Int64
	p       *Pipeline
}

// NewBulkhead returns a bulkhead, or a *ConfigError naming the invalid field.
func NewBulkhead(cfg BulkheadConfig) (*Bulkhead, error) {
	switch {
	case cfg.MaxConcurrent <= 0 || cfg.MaxConcurrent > MaxBulkheadLimit:
		return nil, configErr("Bulkhead.MaxConcurrent", cfg.MaxConcurrent, fmt.Sprintf("must be from 1 to %d", MaxBulkheadLimit))
	case cfg.MaxQueue < 0 || cfg.MaxQueue > MaxBulkheadLimit:
		return nil, configErr("Bulkhead.MaxQueue", cfg.MaxQueue, fmt.Sprintf("must be from 0 to %d", MaxBulkheadLimit))
	case cfg.MaxWait < 0:
		return nil, configErr("Bulkhead.MaxWait", cfg.MaxWait, "must not be negative")
	}
	return &Bulkhead{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// InFlight returns how many calls hold a slot now.
func (b *Bulkhead) InFlight() int { return len(b.slots) }

// Saturated reports whether every slot is taken.
func (b *Bulkhead) Saturated() bool { return len(b.slots) == cap(b.slots) }

// Waiting returns how many calls wait for a slot now.
func (b *Bulkhead) Waiting() int { return int(b.waiting.Load()) }

// String describes the bulkhead.
func (b *Bulkhead) String() string {
	return fmt.Sprintf("bulkhead %d concurrent, queue %d, wait %v", b.cfg.MaxConcurrent, b.cfg.MaxQueue, b.cfg.MaxWait)
}

func (b *Bulkhead) bind(p *Pipeline, index int) error {
	if b.p != nil {
		return configErr(fmt.Sprintf("Pipeline.Policies[%d]", index), b, "already belongs to pipeline "+b.p.name)
	}
	b.p = p
	return nil
}

func (b *Bulkhead) execute(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	select {
	case b.slots <- struct{}{}:
	default:
		if err := b.wait(ctx, c); err != nil {
			return err
		}
	}
	defer func() { <-b.slots }()
	return c.p.next(ctx, c, i+1, fn)
}

// wait queues for a slot. It returns nil holding a slot, ErrBulkheadFull, or
// the context's error.
func (b *Bulkhead) wait(ctx context.Context, c *call) error {
	if b.waiting.Add(1) > int64(b.cfg.MaxQueue) {
		b.waiting.Add(-1)
		return c.reject(ctx, ReasonBulkheadFull, ErrBulkheadFull)
	}
	defer b.waiting.Add(-1)
	var expired <-chan time.Time
	if b.cfg.MaxWait > 0 {
		t := c.p.clock.NewTimer(b.cfg.MaxWait)
		defer t.Stop()
		expired = t.C()
	}
	select {
	case b.slots <- struct{}{}:
		c.tick()
		return nil
	case <-expired:
		c.tick()
		return c.reject(ctx, ReasonBulkheadFull, ErrBulkheadFull)
	case <-ctx.Done():
		c.tick()
		return context.Cause(ctx)
	}
}

func (b *Bulkhead) owner() *Pipeline { return b.p }
