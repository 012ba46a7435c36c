package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// retryPipeline builds a pipeline with only a retry, on a fake clock, that
// forwards scheduled delays to the returned scheduler.
func retryPipeline(t *testing.T, cfg resilience.RetryConfig, obs ...resilience.Observer) (*resilience.Pipeline, *resiliencetest.Clock, scheduler) {
	t.Helper()
	clk := resiliencetest.NewClock(epoch)
	sched := make(scheduler, 16)
	r := must[*resilience.Retry](t)(resilience.NewRetry(cfg))
	p := mustPipeline(t, "retry", resilience.Config{
		Policies:  []resilience.Policy{r},
		Observers: append([]resilience.Observer{sched}, obs...),
		Clock:     clk,
	})
	return p, clk, sched
}

var noJitter = resilience.BackoffConfig{Base: 10 * time.Millisecond, Multiplier: 2, Max: time.Second, Jitter: resilience.JitterNone}

func TestRetry(t *testing.T) {
	permanent := resilience.Permanent(errBoom)
	tests := []struct {
		name         string
		cfg          resilience.RetryConfig
		failures     int
		err          error
		wantCalls    int
		wantErr      error
		wantGiveUp   string
		wantDelays   []time.Duration
		wantOutcomes []resilience.Outcome
	}{
		{
			name:         "a call that fails twice succeeds on the third attempt after doubling delays",
			cfg:          resilience.RetryConfig{MaxAttempts: 3, Backoff: noJitter},
			failures:     2,
			err:          errBoom,
			wantCalls:    3,
			wantDelays:   []time.Duration{10 * time.Millisecond, 20 * time.Millisecond},
			wantOutcomes: []resilience.Outcome{resilience.OutcomeFailure, resilience.OutcomeFailure, resilience.OutcomeSuccess},
		},
		{
			name:       "attempts run out and the last error is wrapped",
			cfg:        resilience.RetryConfig{MaxAttempts: 3, Backoff: noJitter},
			failures:   5,
			err:        errBoom,
			wantCalls:  3,
			wantErr:    errBoom,
			wantGiveUp: "max attempts",
			wantDelays: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond},
		},
		{
			name:      "a permanent error is not retried",
			cfg:       resilience.RetryConfig{MaxAttempts: 5, Backoff: noJitter},
			failures:  5,
			err:       permanent,
			wantCalls: 1,
			wantErr:   errBoom,
		},
		{
			name:      "a breaker rejection is not retried",
			cfg:       resilience.RetryConfig{MaxAttempts: 5, Backoff: noJitter},
			failures:  5,
			err:       resilience.ErrOpen,
			wantCalls: 1,
			wantErr:   resilience.ErrOpen,
		},
		{
			name:       "an error marked retryable is retried even when the classifier refuses",
			cfg:        resilience.RetryConfig{MaxAttempts: 2, Backoff: noJitter, Retryable: func(error) bool { return false }},
			failures:   1,
			err:        resilience.Retryable(errBoom),
			wantCalls:  2,
			wantDelays: []time.Duration{10 * time.Millisecond},
		},
		{
			name:      "a custom classifier stops retries",
			cfg:       resilience.RetryConfig{MaxAttempts: 4, Backoff: noJitter, Retryable: func(err error) bool { return !errors.Is(err, errBoom) }},
			failures:  3,
			err:       errBoom,
			wantCalls: 1,
			wantErr:   errBoom,
		},
		{
			name:       "the retry window closes before a delay that would end past it",
			cfg:        resilience.RetryConfig{MaxAttempts: 10, MaxElapsed: 25 * time.Millisecond, Backoff: noJitter},
			failures:   10,
			err:        errBoom,
			wantCalls:  2,
			wantErr:    errBoom,
			wantGiveUp: "max elapsed",
			wantDelays: []time.Duration{10 * time.Millisecond},
		},
		{
			name:       "a Retry-After hint longer than the backoff is honoured",
			cfg:        resilience.RetryConfig{MaxAttempts: 2, Backoff: noJitter},
			failures:   1,
			err:        resilience.RetryAfterError(errBoom, 700*time.Millisecond),
			wantCalls:  2,
			wantDelays: []time.Duration{700 * time.Millisecond},
		},
		{
			name:       "a Retry-After hint longer than the backoff cap is honoured in full",
			cfg:        resilience.RetryConfig{MaxAttempts: 2, Backoff: noJitter},
			failures:   1,
			err:        resilience.RetryAfterError(errBoom, 45*time.Second),
			wantCalls:  2,
			wantDelays: []time.Duration{45 * time.Second},
		},
		{
			name:       "a Retry-After hint beyond the default bound of a minute ends the retries",
			cfg:        resilience.RetryConfig{MaxAttempts: 2, Backoff: noJitter},
			failures:   1,
			err:        resilience.RetryAfterError(errBoom, time.Hour),
			wantCalls:  1,
			wantErr:    errBoom,
			wantGiveUp: "retry after",
		},
		{
			name:       "MaxRetryAfter raises the bound on hints",
			cfg:        resilience.RetryConfig{MaxAttempts: 2, Backoff: noJitter, MaxRetryAfter: 5 * time.Minute},
			failures:   1,
			err:        resilience.RetryAfterError(errBoom, 2*time.Minute),
			wantCalls:  2,
			wantDelays: []time.Duration{2 * time.Minute},
		},
		{
			name:       "MaxRetryAfter lowers the bound on hints",
			cfg:        resilience.RetryConfig{MaxAttempts: 2, Backoff: noJitter, MaxRetryAfter: 100 * time.Millisecond},
			failures:   1,
			err:        resilience.RetryAfterError(errBoom, 700*time.Millisecond),
			wantCalls:  1,
			wantErr:    errBoom,
			wantGiveUp: "retry after",
		},
		{
			name:       "a single attempt disables retries",
			cfg:        resilience.RetryConfig{MaxAttempts: 1},
			failures:   1,
			err:        errBoom,
			wantCalls:  1,
			wantErr:    errBoom,
			wantGiveUp: "max attempts",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log eventLog
			p, clk, sched := retryPipeline(t, tt.cfg, &log)
			calls := 0
			var got string
			var err error
			runDriven(t, clk, sched, func() {
				got, err = resilience.Do(context.Background(), p, failing(tt.failures, tt.err, &calls))
			})
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if tt.wantErr == nil {
				if err != nil || got != "ok" {
					t.Fatalf("Do = %q, %v; want ok, nil", got, err)
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Do error = %v, want one matching %v", err, tt.wantErr)
			}
			var re *resilience.RetryError
			if gotRE := errors.As(err, &re); gotRE != (tt.wantGiveUp != "") {
				t.Fatalf("error %v: is *RetryError = %v, want %v", err, gotRE, tt.wantGiveUp != "")
			}
			if re != nil && (re.Reason.String() != tt.wantGiveUp || re.Attempts != tt.wantCalls) {
				t.Errorf("RetryError = %+v, want reason %q after %d attempts", re, tt.wantGiveUp, tt.wantCalls)
			}
			var delays []time.Duration
			for _, e := range log.of(resilience.KindRetryScheduled) {
				delays = append(delays, e.Delay)
			}
			if !equalSlices(delays, tt.wantDelays) {
				t.Errorf("delays = %v, want %v", delays, tt.wantDelays)
			}
			if tt.wantOutcomes != nil {
				var outcomes []resilience.Outcome
				for _, e := range log.of(resilience.KindAttemptEnd) {
					outcomes = append(outcomes, e.Outcome)
				}
				if !equalSlices(outcomes, tt.wantOutcomes) {
					t.Errorf("attempt outcomes = %v, want %v", outcomes, tt.wantOutcomes)
				}
			}
			end := log.of(resilience.KindCallEnd)
			if len(end) != 1 || end[0].Attempt != tt.wantCalls {
				t.Errorf("call end events = %+v, want one reporting %d attempts", end, tt.wantCalls)
			}
		})
	}
}

func equalSlices[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRetryStopsAtOnceWhenTheCallerCancelsDuringBackoff(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	ctx, cancel := context.WithCancel(context.Background())
	r := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 5, Backoff: noJitter}))
	var log eventLog
	p := mustPipeline(t, "cancel", resilience.Config{
		Policies: []resilience.Policy{r},
		Observers: []resilience.Observer{&log, resilience.ObserverFunc(func(_ context.Context, e resilience.Event) {
			if e.Kind == resilience.KindRetryScheduled {
				cancel()
			}
		})},
		Clock: clk,
	})
	calls := 0
	_, err := resilience.Do(ctx, p, failing(10, errBoom, &calls))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if calls != 1 {
		t.Errorf("calls = %d, want 1", calls)
	}
	if clk.Timers() != 0 {
		t.Errorf("%d timers left waiting", clk.Timers())
	}
	end := log.of(resilience.KindCallEnd)
	if len(end) != 1 || end[0].Outcome != resilience.OutcomeCanceled {
		t.Errorf("call end = %+v, want outcome canceled", end)
	}
}

func TestRetryFailsFastWhenARetryAfterHintOutlastsTheDeadline(t *testing.T) {
	tests := []struct {
		name       string
		hint       time.Duration
		left       time.Duration
		wantCalls  int
		wantGiveUp string
	}{
		{name: "a hint beyond the deadline gives up at once", hint: 5 * time.Second, left: 2 * time.Second, wantCalls: 1, wantGiveUp: "deadline"},
		{name: "a hint within the deadline is waited for", hint: time.Second, left: 2 * time.Second, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log eventLog
			// The context's deadline is read against the real clock too, so
			// the fake one runs far ahead of it.
			clk := resiliencetest.NewClock(time.Date(2200, 1, 2, 3, 4, 5, 0, time.UTC))
			sched := make(scheduler, 16)
			r := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2, Backoff: noJitter}))
			p := mustPipeline(t, "retry", resilience.Config{
				Policies: []resilience.Policy{r}, Observers: []resilience.Observer{sched, &log}, Clock: clk,
			})
			ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(tt.left))
			defer cancel()
			calls := 0
			var err error
			runDriven(t, clk, sched, func() {
				_, err = resilience.Do(ctx, p, failing(1, resilience.RetryAfterError(errBoom, tt.hint), &calls))
			})
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			var re *resilience.RetryError
			if tt.wantGiveUp == "" {
				if err != nil {
					t.Fatalf("Do error = %v, want success after the hinted wait", err)
				}
				return
			}
			if !errors.As(err, &re) || re.Reason.String() != tt.wantGiveUp || !errors.Is(err, errBoom) {
				t.Fatalf("Do error = %v, want a RetryError (%s) wrapping the attempt's error", err, tt.wantGiveUp)
			}
			if n := len(log.of(resilience.KindRetryScheduled)); n != 0 || clk.Timers() != 0 {
				t.Errorf("%d retries scheduled, %d timers waiting; want none", n, clk.Timers())
			}
		})
	}
}

func TestRetryDoesNotRetryAFunctionThatReturnsTheCallersCancellation(t *testing.T) {
	p, _, _ := retryPipeline(t, resilience.RetryConfig{MaxAttempts: 5, Backoff: noJitter})
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := resilience.Run(ctx, p, func(ctx context.Context) error {
		calls++
		cancel()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("Run = %v after %d calls, want context.Canceled after 1", err, calls)
	}
}

func TestRetryBudgetRefusesRetriesBeyondItsShare(t *testing.T) {
	// Floor 0.1/s over 10 s = 1 retry; ratio 0.1 adds 0.1 per call.
	cfg := resilience.RetryConfig{
		MaxAttempts: 2,
		Backoff:     noJitter,
		Budget:      resilience.BudgetConfig{Ratio: 0.1, MinPerSecond: 0.1, Window: 10 * time.Second},
	}
	var log eventLog
	p, clk, sched := retryPipeline(t, cfg, &log)
	calls := 0
	var errs []error
	runDriven(t, clk, sched, func() {
		for range 2 {
			_, err := resilience.Do(context.Background(), p, failing(100, errBoom, &calls))
			errs = append(errs, err)
		}
	})
	if calls != 3 {
		t.Errorf("calls = %d, want 3 (the first call retried once, the second refused)", calls)
	}
	if errors.Is(errs[0], resilience.ErrBudgetExhausted) {
		t.Errorf("first call: %v, want attempts exhausted, not the budget", errs[0])
	}
	if !errors.Is(errs[1], resilience.ErrBudgetExhausted) || !errors.Is(errs[1], errBoom) {
		t.Errorf("second call: %v, want ErrBudgetExhausted wrapping the last error", errs[1])
	}
	ev := log.of(resilience.KindBudgetExhausted)
	if len(ev) != 1 || ev[0].Reason != resilience.ReasonRetryBudget {
		t.Errorf("budget events = %+v, want one with reason retry_budget", ev)
	}
	r := p.Policies()[0].(*resilience.Retry)
	st, ok := r.Budget()
	if h := st.Headroom(); !ok || st.Calls != 2 || st.Retries != 1 || h < 0.16 || h > 0.17 {
		t.Errorf("Budget() = %+v (headroom %v), %v; want 2 calls, 1 retry of 1.2 allowed", st, h, ok)
	}
	// Once the window has passed, the budget is whole again.
	clk.Advance(11 * time.Second)
	if st, _ := r.Budget(); st.Calls != 0 || st.Headroom() != 1 {
		t.Errorf("Budget() after the window = %+v, want empty", st)
	}
}

func TestNewRetryRejectsInvalidSettings(t *testing.T) {
	tests := []struct {
		name  string
		cfg   resilience.RetryConfig
		field string
	}{
		{"negative attempts", resilience.RetryConfig{MaxAttempts: -1}, "Retry.MaxAttempts"},
		{"negative retry window", resilience.RetryConfig{MaxElapsed: -time.Second}, "Retry.MaxElapsed"},
		{"negative Retry-After bound", resilience.RetryConfig{MaxRetryAfter: -time.Second}, "Retry.MaxRetryAfter"},
		{"negative base delay", resilience.RetryConfig{Backoff: resilience.BackoffConfig{Base: -1}}, "Retry.Backoff.Base"},
		{"multiplier below one", resilience.RetryConfig{Backoff: resilience.BackoffConfig{Multiplier: 0.5}}, "Retry.Backoff.Multiplier"},
		{"cap below base", resilience.RetryConfig{Backoff: resilience.BackoffConfig{Base: time.Second, Max: time.Millisecond}}, "Retry.Backoff.Max"},
		{"unknown jitter", resilience.RetryConfig{Backoff: resilience.BackoffConfig{Jitter: 42}}, "Retry.Backoff.Jitter"},
		{"budget ratio above one", resilience.RetryConfig{Budget: resilience.BudgetConfig{Ratio: 1.5}}, "Retry.Budget.Ratio"},
		{"negative budget ratio", resilience.RetryConfig{Budget: resilience.BudgetConfig{Ratio: -0.1}}, "Retry.Budget.Ratio"},
		{"negative budget floor", resilience.RetryConfig{Budget: resilience.BudgetConfig{MinPerSecond: -1}}, "Retry.Budget.MinPerSecond"},
		{"budget window in part seconds", resilience.RetryConfig{Budget: resilience.BudgetConfig{Window: 1500 * time.Millisecond}}, "Retry.Budget.Window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resilience.NewRetry(tt.cfg)
			var ce *resilience.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("NewRetry error = %v, want a ConfigError for %s", err, tt.field)
			}
		})
	}
}
