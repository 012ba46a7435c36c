package demo

import (
	"runtime"
	"sync"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// stepClock is a fake clock for driving one call at a time through a
// pipeline without racing it: settle moves time only while the call is
// blocked on a timer it set since the last move, and then only to the next
// deadline, so no timer is ever passed before it is set.
type stepClock struct {
	*resiliencetest.Clock
	mu     sync.Mutex
	gen    int // counts moves of the clock
	timers []*stepTimer
}

type stepTimer struct {
	resilience.Timer
	c       *stepClock
	at      time.Time
	gen     int  // the move after which the timer was set
	wait    bool // a channel timer: someone blocks on it
	stopped bool
}

func (t *stepTimer) Stop() bool {
	t.c.mu.Lock()
	t.stopped = true
	t.c.mu.Unlock()
	return t.Timer.Stop()
}

func newStepClock() *stepClock { return &stepClock{Clock: resiliencetest.NewClock(epoch)} }

func (c *stepClock) NewTimer(d time.Duration) resilience.Timer {
	return c.track(d, true, func() resilience.Timer { return c.Clock.NewTimer(d) })
}

func (c *stepClock) AfterFunc(d time.Duration, f func()) resilience.Timer {
	return c.track(d, false, func() resilience.Timer { return c.Clock.AfterFunc(d, f) })
}

// track sets a timer with make and records it. The clock does not move
// meanwhile: moves hold c.mu too.
func (c *stepClock) track(d time.Duration, wait bool, make func() resilience.Timer) resilience.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &stepTimer{c: c, at: c.Now().Add(d), gen: c.gen, wait: wait, Timer: make()}
	c.timers = append(c.timers, t)
	return t
}

// next returns the earliest deadline of a pending timer, and whether the
// call is blocked on a timer set since the last move. c.mu is held.
func (c *stepClock) next() (time.Time, bool) {
	now := c.Now()
	var next time.Time
	blocked := false
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.stopped || !t.at.After(now) {
			continue
		}
		kept = append(kept, t)
		if next.IsZero() || t.at.Before(next) {
			next = t.at
		}
		if t.wait && t.gen == c.gen {
			blocked = true
		}
	}
	c.timers = kept
	return next, blocked
}

// settle moves the clock as the call needs until done delivers.
func (c *stepClock) settle(done <-chan error) error {
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		c.mu.Lock()
		next, blocked := c.next()
		if blocked {
			c.gen++
			c.Set(next)
		}
		c.mu.Unlock()
		if !blocked {
			runtime.Gosched() // the call is running; let it reach its next wait
		}
	}
}
