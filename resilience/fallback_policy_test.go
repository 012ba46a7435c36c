package resilience_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fusebox-dev/fusebox/resilience"
)

func TestFallbackPolicyAnswersAfterRetriesGaveUp(t *testing.T) {
	fb := must[*resilience.Fallback](t)(resilience.NewFallback(resilience.FallbackConfig{
		Func: resilience.FallbackValue(func(_ context.Context, err error) (string, error) {
			if !errors.Is(err, errBoom) {
				t.Errorf("the fallback was asked about %v, want the last attempt's error", err)
			}
			return "cached", nil
		}),
	}))
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 2, Backoff: resilience.BackoffConfig{Base: 1, Max: 1},
	}))
	var log eventLog
	p := mustPipeline(t, "fb", resilience.Config{Policies: []resilience.Policy{fb, retry}, Observers: []resilience.Observer{&log}})
	calls := 0
	v, err := resilience.Do(context.Background(), p, failing(5, errBoom, &calls))
	if err != nil || v != "cached" || calls != 2 {
		t.Fatalf("Do = %q, %v after %d calls; want the fallback's answer after 2", v, err, calls)
	}
	fbs := log.of(resilience.KindFallback)
	if len(fbs) != 1 || fbs[0].Reason != resilience.ReasonFallbackFunc || !errors.Is(fbs[0].Err, errBoom) {
		t.Errorf("fallback events = %+v, want one with ReasonFallbackFunc and the error it replaced", fbs)
	}
	ends := log.of(resilience.KindCallEnd)
	if len(ends) != 1 || ends[0].Outcome != resilience.OutcomeSuccess {
		t.Errorf("call ends = %+v, want one success", ends)
	}
	// A success is left alone.
	calls = 0
	if v, err := resilience.Do(context.Background(), p, failing(0, nil, &calls)); v != "ok" || err != nil {
		t.Errorf("Do of a success = %q, %v; want ok", v, err)
	}
}

func TestFallbackPolicyDeclinesAndFilters(t *testing.T) {
	errOther := errors.New("other")
	fb := must[*resilience.Fallback](t)(resilience.NewFallback(resilience.FallbackConfig{
		Func:    func(_ context.Context, err error) (any, error) { return nil, err },
		Handles: func(err error) bool { return errors.Is(err, errBoom) },
	}))
	p := mustPipeline(t, "fb", resilience.Config{Policies: []resilience.Policy{fb}})
	calls := 0
	if _, err := resilience.Do(context.Background(), p, failing(1, errBoom, &calls)); !errors.Is(err, errBoom) {
		t.Errorf("a declining fallback gave %v, want the call's error", err)
	}
	fb2 := must[*resilience.Fallback](t)(resilience.NewFallback(resilience.FallbackConfig{
		Func:    func(context.Context, error) (any, error) { return 42, nil },
		Handles: func(err error) bool { return errors.Is(err, errBoom) },
	}))
	p2 := mustPipeline(t, "fb2", resilience.Config{Policies: []resilience.Policy{fb2}})
	calls = 0
	if _, err := resilience.Do(context.Background(), p2, failing(1, errOther, &calls)); !errors.Is(err, errOther) {
		t.Errorf("an error the fallback does not handle gave %v, want it unchanged", err)
	}
	calls = 0
	if _, err := resilience.Do(context.Background(), p2, failing(1, errBoom, &calls)); err == nil {
		t.Error("a fallback answering an int for a string call gave no error")
	}
	if n, err := resilience.Do(context.Background(), p2, func(context.Context) (int, error) { return 0, errBoom }); n != 42 || err != nil {
		t.Errorf("Do[int] = %d, %v; want the fallback's 42", n, err)
	}
	if err := resilience.Run(context.Background(), p2, func(context.Context) error { return errBoom }); err != nil {
		t.Errorf("Run = %v, want the fallback's success", err)
	}
	if _, err := resilience.NewFallback(resilience.FallbackConfig{}); err == nil {
		t.Error("NewFallback without Func succeeded")
	}
}
