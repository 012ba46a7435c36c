// Package resiliencetest provides a fake clock for testing code that uses
// package resilience without sleeping.
package resiliencetest

import (
	"sort"
	"sync"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// Clock is a resilience.Clock whose time moves only when Advance or Set is
// called. Timers fire during Advance, in deadline order. The zero value is not
// usable; call NewClock. It is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*timer
	waiters []waiter
}

type waiter struct {
	n  int
	ch chan struct{}
}

// NewClock returns a fake clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Since returns the fake time elapsed since t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// NewTimer returns a timer firing when the fake time reaches now+d.
func (c *Clock) NewTimer(d time.Duration) resilience.Timer {
	return c.add(d, nil)
}

// AfterFunc calls f in its own goroutine when the fake time reaches now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) resilience.Timer {
	return c.add(d, f)
}

func (c *Clock) add(d time.Duration, f func()) *timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{clock: c, f: f}
	if f == nil {
		t.ch = make(chan time.Time, 1)
	}
	c.armLocked(t, d)
	return t
}

// armLocked sets t to fire when the fake time reaches now+d: at once when d
// is not positive, else it joins the waiting timers.
func (c *Clock) armLocked(t *timer, d time.Duration) {
	t.at, t.fired = c.now.Add(d), false
	if d <= 0 {
		c.fireLocked(t)
		return
	}
	c.timers = append(c.timers, t)
	c.notifyLocked()
}

// Advance moves the fake time forward by d, firing the timers that come due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.Set(target)
}

// Set moves the fake time to t (never backwards), firing the timers that come
// due in deadline order, each with the time at its deadline.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
		if len(c.timers) == 0 || c.timers[0].at.After(t) {
			break
		}
		next := c.timers[0]
		c.timers = c.timers[1:]
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.fireLocked(next)
	}
	if t.After(c.now) {
		c.now = t
	}
}

func (c *Clock) fireLocked(t *timer) {
	t.fired = true
	if t.f != nil {
		go t.f()
		return
	}
	select {
	case t.ch <- c.now:
	default: // an earlier firing is still unread (the timer was Reset)
	}
}

// Timers returns how many timers are waiting to fire.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// BlockUntil returns once at least n timers are waiting, so a test can
// advance the clock knowing that the code under test is already waiting.
func (c *Clock) BlockUntil(n int) {
	c.mu.Lock()
	if len(c.timers) >= n {
		c.mu.Unlock()
		return
	}
	w := waiter{n: n, ch: make(chan struct{})}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	<-w.ch
}

func (c *Clock) notifyLocked() {
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if len(c.timers) >= w.n {
			close(w.ch)
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

type timer struct {
	clock *Clock
	at    time.Time
	f     func()
	ch    chan time.Time
	fired bool
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removeLocked(t)
}

// Reset sets the timer to fire when the fake time reaches now+d, whether it
// was waiting, fired or stopped, and reports whether it was waiting, as
// time.Timer.Reset does.
func (t *timer) Reset(d time.Duration) bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	waiting := c.removeLocked(t)
	c.armLocked(t, d)
	return waiting
}

func (c *Clock) removeLocked(t *timer) bool {
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}
