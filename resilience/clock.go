package resilience

import (
	"context"
	"time"
)

// Clock tells time and schedules work. Policies read time only through a
// Clock so that tests can drive them with a fake one (see package
// resiliencetest) instead of sleeping.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time. It should carry a monotonic reading.
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine once d has elapsed, unless the
	// returned Timer is stopped first. Its C is nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a single-shot timer obtained from a Clock.
type Timer interface {
	// C delivers the time when the timer fires. It is nil for AfterFunc timers.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether it stopped the
	// timer before it fired.
	Stop() bool
}

// SystemClock returns the real clock. Its Now returns the wall time that
// time.Now gave when SystemClock was called, plus the time elapsed since on
// the monotonic clock (as time.Since measures it); the result carries a
// monotonic reading, so differences between its times are monotonic. It
// costs about half of time.Now, and its wall time does not follow what the
// system's wall clock does afterwards: steps (settimeofday, an NTP step)
// are not seen. Pipelines on this clock read the same monotonic clock
// directly and date their events the same way, from the wall time of the
// clock's reading when they were built. Its timers are the time package's.
func SystemClock() Clock {
	return systemClock{epoch: time.Now()}
}

type systemClock struct{ epoch time.Time }

func (c systemClock) Now() time.Time { return c.epoch.Add(time.Since(c.epoch)) }

func (systemClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// Reset sets the timer to fire after d, as time.Timer.Reset does; the
// package uses it, when a Clock's timers have it, to arm one timer again
// instead of making a new one.
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

// withTimeoutCause is context.WithTimeoutCause on the given clock. On the
// system clock it is exactly that, so the deadline is visible to downstream
// code; on another clock the context is cancelled with cause when the clock
// says d has passed.
func withTimeoutCause(ctx context.Context, clock Clock, d time.Duration, cause error) (context.Context, context.CancelFunc) {
	if _, ok := clock.(systemClock); ok {
		return context.WithTimeoutCause(ctx, d, cause)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	t := clock.AfterFunc(d, func() { cancel(cause) })
	return ctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}
