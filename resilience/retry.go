package resilience

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxRetryAttempts bounds RetryConfig.MaxAttempts: more attempts than this
// only multiply an outage's load.
const MaxRetryAttempts = 100

// RetryConfig configures a Retry.
type RetryConfig struct {
	// MaxAttempts is the most attempts a call makes, the first included,
	// at most MaxRetryAttempts; 1 disables retries. Zero means 3.
	MaxAttempts int
	// MaxElapsed closes the retry window: no retry is scheduled whose delay
	// would end later than MaxElapsed after the call entered the policy.
	// Zero means no window.
	MaxElapsed time.Duration
	// Backoff shapes the delays between attempts.
	Backoff BackoffConfig
	// MaxRetryAfter bounds how long a Retry-After hint (an error with a
	// RetryAfter() time.Duration method) may make a retry wait; such a
	// hint may exceed Backoff.Max. A hint longer than MaxRetryAfter ends
	// the retries at once (a *RetryError with reason "retry after"), since
	// calling back sooner would ignore what the server asked. Zero means
	// 1 minute.
	MaxRetryAfter time.Duration
	// Retryable decides which errors are worth another attempt; see
	// DefaultRetryable, used when it is nil. An error that has a method
	// Retryable() bool (Permanent, Retryable) decides for itself first.
	Retryable func(error) bool
	// Budget limits retries to a share of calls. It is on by default.
	Budget BudgetConfig
}

// DefaultRetryable retries every error except a breaker, bulkhead, rate
// limiter or concurrency limit rejection and the caller's own cancellation (which the policy checks on
// the context before it asks).
func DefaultRetryable(err error) bool {
	return !errors.Is(err, ErrOpen) && !errors.Is(err, ErrBulkheadFull) && !errors.Is(err, ErrRateLimited) && !errors.Is(err, ErrLimitExceeded)
}

// Retry makes further attempts after a retryable failure, waiting an
// exponential, jittered backoff (or longer, when the error carries a
// RetryAfter() time.Duration hint) between them. It gives up with a
// *RetryError when attempts run out, the retry window closes, the retry
// budget is spent, a Retry-After hint exceeds MaxRetryAfter, or the wait a
// hint asks for would outlast the context's deadline; and at once when the
// caller's context ends, with the attempt's error, or with the context's
// cause if it ended during a wait.
// It is safe for concurrent use.
type Retry struct {
	maxAttempts int
	maxElapsed  time.Duration
	maxHint     time.Duration
	backoff     backoff
	retryable   func(error) bool
	budget      *budget
	p           *Pipeline
}

// NewRetry returns a retry policy, or a *ConfigError naming the first invalid field.
func NewRetry(cfg RetryConfig) (*Retry, error) {
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.MaxAttempts < 0 {
		return nil, configErr("Retry.MaxAttempts", cfg.MaxAttempts, "must be at least 1")
	}
	if cfg.MaxAttempts > MaxRetryAttempts {
		return nil, configErr("Retry.MaxAttempts", cfg.MaxAttempts, fmt.Sprintf("must be at most %d", MaxRetryAttempts))
	}
	if cfg.MaxElapsed < 0 {
		return nil, configErr("Retry.MaxElapsed", cfg.MaxElapsed, "must not be negative")
	}
	if cfg.MaxRetryAfter == 0 {
		cfg.MaxRetryAfter = time.Minute
	}
	if cfg.MaxRetryAfter < 0 {
		return nil, configErr("Retry.MaxRetryAfter", cfg.MaxRetryAfter, "must not be negative")
	}
	b, err := newBackoff(cfg.Backoff, "Retry.Backoff")
	if err != nil {
		return nil, err
	}
	bud, err := newBudget(cfg.Budget, "Retry.Budget")
	if err != nil {
		return nil, err
	}
	if cfg.Retryable == nil {
		cfg.Retryable = DefaultRetryable
	}
	return &Retry{
		maxAttempts: cfg.MaxAttempts,
		maxElapsed:  cfg.MaxElapsed,
		maxHint:     cfg.MaxRetryAfter,
		backoff:     b,
		retryable:   cfg.Retryable,
		budget:      bud,
	}, nil
}

// MaxAttempts returns the most attempts a call makes.
func (r *Retry) MaxAttempts() int { return r.maxAttempts }

// Budget reports the retry budget over its window now; ok is false when the
// budget is disabled.
func (r *Retry) Budget() (s BudgetStatus, ok bool) {
	if r.budget == nil || r.p == nil {
		return BudgetStatus{}, false
	}
	return r.budget.status(r.p.clock.Now()), true
}

// String describes the retry policy.
func (r *Retry) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "retry %d attempts, exp %v ×%g cap %v, %s jitter, retry-after ≤ %v", r.maxAttempts,
		r.backoff.Base, r.backoff.Multiplier, r.backoff.Max, r.backoff.Jitter, r.maxHint)
	if r.maxElapsed > 0 {
		fmt.Fprintf(&sb, ", window %v", r.maxElapsed)
	}
	if r.budget != nil {
		sb.WriteString(", " + r.budget.String())
	}
	return sb.String()
}

func (r *Retry) bind(p *Pipeline, index int) error {
	if r.p != nil {
		return configErr(fmt.Sprintf("Pipeline.Policies[%d]", index), r, "already belongs to pipeline "+r.p.name)
	}
	r.p = p
	if r.maxElapsed > 0 {
		p.timing = true
	}
	return nil
}

// shouldRetry reports whether err is worth another attempt.
func (r *Retry) shouldRetry(err error) bool {
	var c interface{ Retryable() bool }
	if errors.As(err, &c) {
		return c.Retryable()
	}
	return r.retryable(err)
}

// delay returns the wait before retry n, honouring a Retry-After hint up
// to MaxRetryAfter; hinted reports whether err carried a hint, and
// tooLong that the hint is beyond the bound.
func (r *Retry) delay(n int, prev time.Duration, err error) (d time.Duration, hinted, tooLong bool) {
	d = r.backoff.delay(n, prev)
	var h interface{ RetryAfter() time.Duration }
	if errors.As(err, &h) {
		ra := h.RetryAfter()
		if ra > r.maxHint {
			return 0, true, true
		}
		return max(d, ra), true, false
	}
	return d, false, false
}

func (r *Retry) execute(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	begin := c.now
	if r.budget != nil {
		r.budget.deposit(c)
	}
	var prev time.Duration
	for {
		err := c.p.next(ctx, c, i+1, fn)
		if err == nil || ctx.Err() != nil || !r.shouldRetry(err) {
			return err
		}
		if c.attempt >= r.maxAttempts {
			return &RetryError{Attempts: c.attempt, Err: err, Reason: GiveUpMaxAttempts}
		}
		d, hinted, tooLong := r.delay(c.attempt, prev, err)
		if tooLong {
			return &RetryError{Attempts: c.attempt, Err: err, Reason: GiveUpRetryAfter}
		}
		if r.maxElapsed > 0 && time.Duration(c.now-begin)+d > r.maxElapsed {
			return &RetryError{Attempts: c.attempt, Err: err, Reason: GiveUpMaxElapsed}
		}
		if dl, ok := ctx.Deadline(); ok && hinted && c.clockNow().Add(d).After(dl) {
			// The server asked for a wait the caller cannot afford.
			return &RetryError{Attempts: c.attempt, Err: err, Reason: GiveUpDeadline}
		}
		if r.budget != nil && !r.budget.withdraw(c.clockNow()) {
			if c.p.observed() {
				e := c.event(KindBudgetExhausted)
				e.Reason = ReasonRetryBudget
				e.Err = err
				c.emit(ctx, e)
			}
			return &RetryError{Attempts: c.attempt, Err: err, Reason: GiveUpRetryBudget}
		}
		if c.p.observed() {
			e := c.event(KindRetryScheduled)
			e.Delay = d
			e.Err = err
			c.emit(ctx, e)
		}
		if err := r.wait(ctx, c, d); err != nil {
			return err
		}
		prev = d
		c.attempt++
	}
}

// wait sleeps d on the pipeline's clock, or returns the context's cause as
// soon as it ends.
func (r *Retry) wait(ctx context.Context, c *call, d time.Duration) error {
	if d > 0 {
		t := c.p.clock.NewTimer(d)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			c.tick()
			return context.Cause(ctx)
		}
	}
	c.tick()
	return nil
}

func (r *Retry) owner() *Pipeline { return r.p }
