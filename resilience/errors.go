package resilience

import (
	"context"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrOpen is returned, without calling the function, while a breaker is
	// open or forced open, or while its half-open probes are all in flight.
	ErrOpen = errors.New("resilience: circuit breaker is open")
	// ErrBulkheadFull is returned when a bulkhead has no free slot and its
	// wait queue is full or the wait ran out.
	ErrBulkheadFull = errors.New("resilience: bulkhead is full")
	// ErrBudgetExhausted is returned instead of a retry when the retry budget
	// is spent; the error of the last attempt is wrapped beside it.
	ErrBudgetExhausted = errors.New("resilience: retry budget exhausted")
	// ErrRateLimited is returned, without calling the function, when a
	// rate limiter has no token for the call and it may not wait for one.
	ErrRateLimited = errors.New("resilience: rate limit exceeded")
	// ErrHedgeLost is the cause with which a Hedge cancels the attempts of
	// a call once another attempt succeeded.
	ErrHedgeLost = errors.New("resilience: another hedged attempt won")
	// ErrTimeout is matched (errors.Is) by every *TimeoutError.
	ErrTimeout = errors.New("resilience: timeout")
)

// RetryError is returned when a retry policy gives up: attempts ran out, the
// retry window closed, the retry budget was spent, or a Retry-After hint
// asked for a wait too long to honour. It wraps the last
// attempt's error, so errors.Is and errors.As see through it.
type RetryError struct {
	// Attempts is how many attempts were made.
	Attempts int
	// Err is the error of the last attempt.
	Err error
	// Reason is why no further attempt was made.
	Reason GiveUpReason
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("resilience: gave up after %d attempt(s) (%s): %v", e.Attempts, e.Reason, e.Err)
}

// Unwrap returns the last attempt's error, and ErrBudgetExhausted when the
// budget was the reason.
func (e *RetryError) Unwrap() []error {
	if e.Reason == GiveUpRetryBudget {
		return []error{e.Err, ErrBudgetExhausted}
	}
	return []error{e.Err}
}

// GiveUpReason says why a Retry gave up (RetryError.Reason).
type GiveUpReason uint8

// The reasons a Retry gives up.
const (
	GiveUpMaxAttempts GiveUpReason = iota // RetryConfig.MaxAttempts attempts were made
	GiveUpMaxElapsed                      // the next attempt would start past RetryConfig.MaxElapsed
	GiveUpRetryBudget                     // the retry budget is spent
	GiveUpRetryAfter                      // a Retry-After hint asks for more than RetryConfig.MaxRetryAfter
	GiveUpDeadline                        // the wait a Retry-After hint asks for would outlast the context's deadline
	numGiveUpReasons
)

var giveUpNames = [numGiveUpReasons]string{"max attempts", "max elapsed", "retry budget", "retry after", "deadline"}

// String returns the reason as RetryError's message gives it ("max
// attempts", "max elapsed", "retry budget", "retry after", "deadline").
func (r GiveUpReason) String() string { return enumString(r, giveUpNames[:]) }

// MarshalText implements encoding.TextMarshaler: the text of String.
func (r GiveUpReason) MarshalText() ([]byte, error) { return enumText(r, giveUpNames[:]) }

// TimeoutError is returned when a Timeout policy cut an attempt or a call.
// It matches ErrTimeout and context.DeadlineExceeded, and wraps the error
// the function returned.
type TimeoutError struct {
	Scope   Scope
	Timeout time.Duration
	Err     error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("resilience: %s timed out after %v", e.Scope, e.Timeout)
}

// Is reports whether target is ErrTimeout or context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// Unwrap returns the error of the cut function.
func (e *TimeoutError) Unwrap() error { return e.Err }

// ConfigError reports an invalid setting. Field is the setting's path, such
// as "Retry.MaxAttempts".
type ConfigError struct {
	Field string
	Value any
	Msg   string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("resilience: invalid %s = %v: %s", e.Field, e.Value, e.Msg)
}

func configErr(field string, value any, msg string) error {
	return &ConfigError{Field: field, Value: value, Msg: msg}
}

// Permanent marks err as not worth retrying. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, retryable: false}
}

// Retryable marks err as worth retrying even where the classifier would not
// retry it. Retryable(nil) is nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, retryable: true}
}

type classified struct {
	err       error
	retryable bool
}

func (c *classified) Error() string   { return c.err.Error() }
func (c *classified) Unwrap() error   { return c.err }
func (c *classified) Retryable() bool { return c.retryable }

// RetryAfterError returns err with a hint that the next attempt should wait
// at least d, as an HTTP Retry-After header asks.
func RetryAfterError(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfter{err: err, d: d}
}

type retryAfter struct {
	err error
	d   time.Duration
}

func (r *retryAfter) Error() string             { return r.err.Error() }
func (r *retryAfter) Unwrap() error             { return r.err }
func (r *retryAfter) RetryAfter() time.Duration { return r.d }
