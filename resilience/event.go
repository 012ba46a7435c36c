package resilience

import (
	"context"
	"fmt"
	"time"
)

// Observer receives the events of pipelines and their policies. It mirrors
// slog.Handler: Observe must not block, must not retain ctx, and must be safe
// for concurrent use. Pipelines call observers outside their locks.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// Binder is implemented by observers that keep state per pipeline. A pipeline
// calls Bind once, when it is built, and from then on delivers its events to
// the returned Observer, so an observer never has to look a pipeline up by
// name on the hot path. Bind returns an error if name is already bound.
type Binder interface {
	Bind(pipeline string) (Observer, error)
}

// KindFilter is implemented by observers that want only some kinds of
// event: a pipeline then delivers them those kinds only, and skips building
// an event nobody wants. Kinds is called once, when the pipeline is built
// (on the observer Bind returned, for a Binder).
type KindFilter interface {
	Kinds() KindSet
}

// KindSet is a set of event kinds.
type KindSet uint32

// AllKinds holds every kind.
const AllKinds KindSet = 1<<numKinds - 1

// Kinds returns the set of the given kinds.
func Kinds(kinds ...Kind) KindSet {
	var s KindSet
	for _, k := range kinds {
		s |= 1 << k
	}
	return s
}

// Has reports whether k is in s.
func (s KindSet) Has(k Kind) bool { return s&(1<<k) != 0 }

// ObserverFunc adapts a function to the Observer interface.
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f(ctx, e).
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Event is one thing that happened in a pipeline. It is a value: observers may
// keep it. Which fields are set depends on Kind; the others are zero.
type Event struct {
	Kind Kind
	// Outcome is set on KindAttemptEnd and KindCallEnd.
	Outcome Outcome
	// From and To are the breaker states of a KindBreakerTransition.
	From, To State
	// Reason says why a transition, rejection or fallback happened.
	Reason Reason
	// Scope says whether a KindTimeout cut an attempt or the whole call.
	Scope Scope
	// Pipeline is the name of the pipeline.
	Pipeline string
	// Call identifies a call of the pipeline so that the events of one call
	// can be grouped: an opaque number, unique within the pipeline and
	// never 0. 0 for events outside a call (an override).
	Call uint64
	// Attempt is the 1-based attempt number (attempt, retry, timeout,
	// rejection and call-end events; for call end, the number of attempts).
	Attempt int
	// Duration is the time the attempt or the call took.
	Duration time.Duration
	// Delay is the wait before the next attempt (KindRetryScheduled).
	Delay time.Duration
	// Actor and Message describe a manual transition: who and why.
	Actor, Message string
	// Err is the error of the attempt or call, if any.
	Err error
	// Time is when the event happened.
	Time time.Time
}

// Kind tells what an Event reports.
type Kind uint8

// The kinds of event.
const (
	KindAttemptStart      Kind = iota // an attempt is about to call the function
	KindAttemptEnd                    // an attempt returned: Outcome, Duration, Err
	KindRetryScheduled                // another attempt follows after Delay
	KindBudgetExhausted               // a retry was refused because the retry budget is spent
	KindTimeout                       // a timeout of Scope fired
	KindBreakerTransition             // the breaker went From -> To for Reason
	KindRejected                      // the call or attempt was refused for Reason
	KindFallback                      // a fallback replaced the error of the call
	KindCallEnd                       // the call returned: Outcome, Duration, Attempt
	KindHedge                         // a hedged attempt (Attempt) started, won or was cancelled: Reason
	numKinds
)

var kindNames = [numKinds]string{
	"attempt_start", "attempt_end", "retry_scheduled", "budget_exhausted", "timeout",
	"breaker_transition", "rejected", "fallback", "call_end", "hedge",
}

// String returns the snake_case name of the kind.
func (k Kind) String() string { return enumString(k, kindNames[:]) }

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) { return enumText(k, kindNames[:]) }

// Outcome is how an attempt or a call ended.
type Outcome uint8

// The outcomes. A timeout is the pipeline's own deadline firing; a
// cancellation is the caller's context ending.
const (
	OutcomeSuccess Outcome = iota
	OutcomeFailure
	OutcomeTimeout
	OutcomeRejected
	OutcomeCanceled
	// NumOutcomes is the number of outcomes, for arrays indexed by Outcome.
	NumOutcomes
)

var outcomeNames = [NumOutcomes]string{"success", "failure", "timeout", "rejected", "canceled"}

// String returns the outcome's name as used in metric labels.
func (o Outcome) String() string { return enumString(o, outcomeNames[:]) }

// MarshalText implements encoding.TextMarshaler.
func (o Outcome) MarshalText() ([]byte, error) { return enumText(o, outcomeNames[:]) }

// Reason says why a transition, rejection or fallback happened.
type Reason uint8

// The reasons.
const (
	ReasonNone          Reason = iota
	ReasonAuto                 // transition decided by the breaker's state machine
	ReasonManual               // transition forced by an operator
	ReasonExpired              // a time-boxed override ran out
	ReasonBreakerOpen          // rejected: the breaker is open
	ReasonBulkheadFull         // rejected: no room in the bulkhead
	ReasonRetryBudget          // rejected: the retry budget is spent
	ReasonFallbackFunc         // fallback: the fallback function answered
	ReasonFallbackStale        // fallback: a stale cached value answered
	ReasonRateLimited          // rejected: the rate limiter had no token
	ReasonHedgeStarted         // hedge: another attempt started
	ReasonHedgeWon             // hedge: a hedged attempt answered first
	ReasonHedgeCanceled        // hedge: an attempt was cancelled, another won
	ReasonLimitExceeded        // rejected: the adaptive concurrency limit was reached
	NumReasons                 // the number of reasons, for arrays indexed by Reason
)

var reasonNames = [NumReasons]string{
	"", "auto", "manual", "expired", "breaker_open", "bulkhead_full", "retry_budget",
	"function", "stale_cache", "rate_limited",
	"hedge_started", "hedge_won", "hedge_canceled", "concurrency_limit",
}

// String returns the reason's name as used in metric labels.
func (r Reason) String() string { return enumString(r, reasonNames[:]) }

// MarshalText implements encoding.TextMarshaler.
func (r Reason) MarshalText() ([]byte, error) { return enumText(r, reasonNames[:]) }

// Scope says what a timeout bounds.
type Scope uint8

// The scopes of a timeout: a Timeout placed inside a Retry bounds each
// attempt; one placed outside bounds the whole call.
const (
	ScopeCall Scope = iota
	ScopeAttempt
)

var scopeNames = []string{"call", "attempt"}

// String returns "call" or "attempt".
func (s Scope) String() string { return enumString(s, scopeNames) }

// MarshalText implements encoding.TextMarshaler.
func (s Scope) MarshalText() ([]byte, error) { return enumText(s, scopeNames) }

func enumString[T ~uint8](v T, names []string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%T(%d)", v, v)
}

func enumText[T ~uint8](v T, names []string) ([]byte, error) {
	if int(v) < len(names) {
		return []byte(names[v]), nil
	}
	return nil, fmt.Errorf("resilience: invalid %T %d", v, v)
}

type actorKey struct{}

// WithActor returns a context that names who acts, for the events of manual
// overrides made with it (Breaker.Override, Registry.Override).
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor set by WithActor, or "".
func ActorFrom(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}
