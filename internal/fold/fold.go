// Package fold is the contract between resilience's pipelines and the
// observers of this module that take the end of a call's last attempt
// inside the call's end, so that a call that succeeds at once costs them
// one event instead of two (telemetry's Aggregator does).
//
// A pipeline folds for an observer that implements Folder[resilience.Event]
// and takes both the attempt-end and the call-end kinds; it asks once, when
// it is built (the observer Bind returned, for a Binder). Such an observer
// gets the ends of the other attempts as attempt-end events, before the
// events that follow them in the call, and the end of the last one in
// ObserveFolded with the call's end. A call end that carries no attempt
// (the call was refused before any) comes to its Observe, as to everyone.
//
// The package is internal so that this tuning stays out of resilience's
// public API: users write Observers and see every attempt end as an event.
package fold

import (
	"context"
	"time"
)

// Attempt is the end of a call's last attempt, as ObserveFolded gets it:
// its attempt number and time are those of the call's end.
type Attempt struct {
	// Outcome is the attempt's resilience.Outcome.
	Outcome uint8
	// Duration is the time the attempt took.
	Duration time.Duration
	// Err is the error the attempt returned, if any.
	Err error
}

// Folder is implemented by observers that take the end of a call's last
// attempt inside the call's end event E. ObserveFolded has the contract of
// Observe (no blocking, ctx not retained, safe for concurrent use).
type Folder[E any] interface {
	ObserveFolded(ctx context.Context, end E, last Attempt)
}
