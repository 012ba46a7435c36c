package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// blockUntilDone is a function that waits for its context to end.
func blockUntilDone(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestTimeoutPerAttemptCutsEachAttemptAndLetsRetryTryAgain(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2, Backoff: resilience.BackoffConfig{Jitter: resilience.JitterNone, Base: time.Millisecond}}))
	timeout := must[*resilience.Timeout](t)(resilience.NewTimeout(resilience.TimeoutConfig{Duration: 300 * time.Millisecond}))
	p := mustPipeline(t, "t", resilience.Config{Policies: []resilience.Policy{retry, timeout}, Observers: []resilience.Observer{&log}, Clock: clk})
	if timeout.Scope() != resilience.ScopeAttempt {
		t.Fatalf("scope = %v, want attempt", timeout.Scope())
	}
	done := make(chan error)
	go func() { done <- resilience.Run(context.Background(), p, blockUntilDone) }()
	clk.BlockUntil(1) // attempt 1 waits on its timeout
	clk.Advance(300 * time.Millisecond)
	clk.BlockUntil(1) // the backoff timer
	clk.Advance(time.Millisecond)
	clk.BlockUntil(1) // attempt 2 waits on its timeout
	clk.Advance(300 * time.Millisecond)
	err := <-done

	var te *resilience.TimeoutError
	if !errors.As(err, &te) || te.Scope != resilience.ScopeAttempt || !errors.Is(err, resilience.ErrTimeout) {
		t.Fatalf("err = %v, want an attempt TimeoutError", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to match context.DeadlineExceeded", err)
	}
	if n := len(log.of(resilience.KindTimeout)); n != 2 {
		t.Errorf("timeout events = %d, want 2", n)
	}
	for _, e := range log.of(resilience.KindAttemptEnd) {
		if e.Outcome != resilience.OutcomeTimeout || e.Duration != 300*time.Millisecond {
			t.Errorf("attempt end %+v, want a timeout after 300ms", e)
		}
	}
	if end := log.of(resilience.KindCallEnd); end[0].Outcome != resilience.OutcomeTimeout {
		t.Errorf("call outcome = %v, want timeout", end[0].Outcome)
	}
}

func TestTimeoutForTheWholeCallEndsRetries(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 5, Backoff: resilience.BackoffConfig{Jitter: resilience.JitterNone, Base: time.Second, Max: time.Second}}))
	timeout := must[*resilience.Timeout](t)(resilience.NewTimeout(resilience.TimeoutConfig{Duration: 1500 * time.Millisecond}))
	var log eventLog
	p := mustPipeline(t, "t", resilience.Config{Policies: []resilience.Policy{timeout, retry}, Observers: []resilience.Observer{&log}, Clock: clk})
	if timeout.Scope() != resilience.ScopeCall {
		t.Fatalf("scope = %v, want call", timeout.Scope())
	}
	calls := 0
	done := make(chan error)
	go func() {
		done <- resilience.Run(context.Background(), p, func(context.Context) error { calls++; return errBoom })
	}()
	clk.BlockUntil(2) // the call's timeout and the first backoff
	clk.Advance(time.Second)
	clk.BlockUntil(2) // the call's timeout and the second backoff
	clk.Advance(500 * time.Millisecond)
	err := <-done
	var te *resilience.TimeoutError
	if !errors.As(err, &te) || te.Scope != resilience.ScopeCall {
		t.Fatalf("err = %v, want a call TimeoutError", err)
	}
	if calls != 2 {
		t.Errorf("calls = %d, want 2", calls)
	}
	if ev := log.of(resilience.KindTimeout); len(ev) != 1 || ev[0].Scope != resilience.ScopeCall {
		t.Errorf("timeout events = %+v, want one of scope call", ev)
	}
}

func TestTimeoutTellsTheCallersCancellationApart(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	timeout := must[*resilience.Timeout](t)(resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second}))
	var log eventLog
	p := mustPipeline(t, "t", resilience.Config{Policies: []resilience.Policy{timeout}, Observers: []resilience.Observer{&log}, Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- resilience.Run(ctx, p, blockUntilDone) }()
	clk.BlockUntil(1)
	cancel()
	err := <-done
	if errors.Is(err, resilience.ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled and no timeout", err)
	}
	if len(log.of(resilience.KindTimeout)) != 0 {
		t.Error("a timeout event was emitted for a cancellation")
	}
	if end := log.of(resilience.KindCallEnd); end[0].Outcome != resilience.OutcomeCanceled {
		t.Errorf("call outcome = %v, want canceled", end[0].Outcome)
	}
}

func TestTimeoutOnTheSystemClockSetsTheContextDeadline(t *testing.T) {
	timeout := must[*resilience.Timeout](t)(resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Hour}))
	p := mustPipeline(t, "t", resilience.Config{Policies: []resilience.Policy{timeout}})
	err := resilience.Run(context.Background(), p, func(ctx context.Context) error {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) < 59*time.Minute {
			t.Errorf("deadline = %v, %v; want about an hour from now", dl, ok)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewTimeoutRejectsANonPositiveDuration(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		_, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: d})
		var ce *resilience.ConfigError
		if !errors.As(err, &ce) || ce.Field != "Timeout.Duration" {
			t.Errorf("NewTimeout(%v) = %v, want a ConfigError for Timeout.Duration", d, err)
		}
	}
}
