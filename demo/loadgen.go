package demo

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// ErrRunning is returned by Run while another Run of the same Demo is going.
var ErrRunning = errors.New("demo: load generator is running already")

// tick is how often the load generator wakes to issue the calls that came
// due: ten times a second, whatever the rate, so an idle demo costs a timer.
const tick = 100 * time.Millisecond

// maxBacklog bounds how far behind the load generator may fall: after a
// stall (a suspended laptop, a stopped fake clock) it issues at most this
// much time's worth of calls at once and skips the rest.
const maxBacklog = time.Second

// LoadStats counts the calls of the load generator since the Demo was made.
type LoadStats struct {
	// Issued is how many calls were started.
	Issued uint64
	// Dropped is how many due calls were not started, because
	// Config.MaxConcurrent calls were in flight already or because the
	// generator fell more than a second behind its clock.
	Dropped uint64
}

// Stats returns the load generator's counts.
func (d *Demo) Stats() LoadStats {
	return LoadStats{Issued: d.issued.Load(), Dropped: d.dropped.Load()}
}

// Run generates load until ctx ends: Config.Rate calls per second of the
// Demo's clock, in turn over the pipelines, woken by a timer every 100 ms.
// At most Config.MaxConcurrent calls are in flight; a call that comes due
// when they all are is dropped (see Stats). Calls run under ctx, so they end
// when it does. Run returns nil once ctx has ended and every call it started
// has returned, or ErrRunning at once if the Demo is running already.
func (d *Demo) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer d.running.Store(false)

	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, d.maxConcurrent)
	start := d.clock.Now()
	var due, next uint64 // calls due since start; index of the next one
	backlog := max(1, uint64(math.Ceil(d.rate*maxBacklog.Seconds())))
	for ctx.Err() == nil {
		now := d.clock.Now()
		elapsed := now.Sub(start)
		due = uint64(d.rate*elapsed.Seconds() + 1e-9)
		if due-next > backlog {
			d.dropped.Add(due - backlog - next)
			next = due - backlog
		}
		for ; next < due && ctx.Err() == nil; next++ {
			t := &d.targets[next%uint64(len(d.targets))]
			select {
			case slots <- struct{}{}:
				d.issued.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = t.call(ctx) // the pipeline's observers see the outcome
					<-slots
				}()
			default:
				d.dropped.Add(1)
			}
		}

		wait := tick - elapsed%tick
		timer := d.clock.NewTimer(wait)
		if d.onTick != nil {
			d.onTick(now)
		}
		select {
		case <-timer.C():
		case <-ctx.Done():
			timer.Stop()
		}
	}
	return nil
}
