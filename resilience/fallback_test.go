package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func TestDoFallback(t *testing.T) {
	tests := []struct {
		name        string
		fnErr       error
		fallback    func(context.Context, error) (string, error)
		want        string
		wantErr     error
		wantOutcome resilience.Outcome
		wantEvents  int
	}{
		{
			name:        "a failed call is answered by the fallback and counts as a success",
			fnErr:       errBoom,
			fallback:    func(context.Context, error) (string, error) { return "default", nil },
			want:        "default",
			wantOutcome: resilience.OutcomeSuccess,
			wantEvents:  1,
		},
		{
			name:        "a fallback that declines leaves the error",
			fnErr:       errBoom,
			fallback:    func(_ context.Context, err error) (string, error) { return "", err },
			wantErr:     errBoom,
			wantOutcome: resilience.OutcomeFailure,
		},
		{
			name:        "a successful call never asks the fallback",
			fallback:    func(context.Context, error) (string, error) { return "", errors.New("asked") },
			want:        "fresh",
			wantOutcome: resilience.OutcomeSuccess,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log eventLog
			p := mustPipeline(t, "fb", resilience.Config{Observers: []resilience.Observer{&log}, Clock: resiliencetest.NewClock(epoch)})
			got, err := resilience.DoFallback(context.Background(), p, func(context.Context) (string, error) {
				return "fresh", tt.fnErr
			}, tt.fallback)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) || got != tt.want {
				t.Fatalf("DoFallback = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			fb := log.of(resilience.KindFallback)
			if len(fb) != tt.wantEvents || (len(fb) == 1 && (fb[0].Reason != resilience.ReasonFallbackFunc || !errors.Is(fb[0].Err, errBoom))) {
				t.Errorf("fallback events = %+v, want %d with the original error", fb, tt.wantEvents)
			}
			if end := log.of(resilience.KindCallEnd); end[0].Outcome != tt.wantOutcome {
				t.Errorf("call outcome = %v, want %v", end[0].Outcome, tt.wantOutcome)
			}
		})
	}
}

func TestStaleCacheServesTheLastGoodValueWhileItIsFreshEnough(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	p := mustPipeline(t, "stale", resilience.Config{Observers: []resilience.Observer{&log}, Clock: clk})
	cache := must[*resilience.StaleCache[string, int]](t)(resilience.NewStaleCache[string, int](resilience.StaleCacheConfig{MaxAge: time.Minute}))
	ctx := context.Background()
	ok := func(v int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { return v, nil }
	}
	fail := func(context.Context) (int, error) { return 0, errBoom }

	if v, err := cache.Do(ctx, p, "a", ok(7)); v != 7 || err != nil {
		t.Fatalf("fresh call = %d, %v", v, err)
	}
	clk.Advance(41 * time.Second)
	if v, err := cache.Do(ctx, p, "a", fail); v != 7 || err != nil {
		t.Fatalf("failed call with a 41s old value = %d, %v; want 7, nil", v, err)
	}
	fb := log.of(resilience.KindFallback)
	if len(fb) != 1 || fb[0].Reason != resilience.ReasonFallbackStale || fb[0].Duration != 41*time.Second {
		t.Errorf("fallback events = %+v, want one stale_cache of age 41s", fb)
	}
	if _, err := cache.Do(ctx, p, "b", fail); !errors.Is(err, errBoom) {
		t.Errorf("failed call for an unknown key: %v, want the error", err)
	}
	clk.Advance(20 * time.Second)
	if _, err := cache.Do(ctx, p, "a", fail); !errors.Is(err, errBoom) {
		t.Errorf("failed call with a 61s old value: %v, want the error", err)
	}
}

func TestStaleCacheKeepsAtMostMaxEntries(t *testing.T) {
	p := mustPipeline(t, "stale", resilience.Config{Clock: resiliencetest.NewClock(epoch)})
	cache := must[*resilience.StaleCache[int, int]](t)(resilience.NewStaleCache[int, int](resilience.StaleCacheConfig{MaxAge: time.Hour, MaxEntries: 3}))
	for i := range 10 {
		if _, err := cache.Do(context.Background(), p, i, func(context.Context) (int, error) { return i, nil }); err != nil {
			t.Fatal(err)
		}
	}
	served := 0
	for i := range 10 {
		if _, err := cache.Do(context.Background(), p, i, func(context.Context) (int, error) { return 0, errBoom }); err == nil {
			served++
		}
	}
	if served > 3 {
		t.Errorf("served %d keys from a cache of 3", served)
	}
}

func TestNewStaleCacheRejectsInvalidSettings(t *testing.T) {
	for _, cfg := range []resilience.StaleCacheConfig{{}, {MaxAge: time.Second, MaxEntries: -1}} {
		if _, err := resilience.NewStaleCache[string, string](cfg); err == nil {
			t.Errorf("NewStaleCache(%+v) succeeded", cfg)
		}
	}
}

func TestStaleCachePutAndGetServeWhatDoWould(t *testing.T) {
	cache, err := resilience.NewStaleCache[string, string](resilience.StaleCacheConfig{MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	if _, _, ok := cache.Get("k", at); ok {
		t.Fatal("Get found a value in an empty cache")
	}
	cache.Put("k", "v", at)
	if v, age, ok := cache.Get("k", at.Add(30*time.Second)); !ok || v != "v" || age != 30*time.Second {
		t.Errorf("Get 30s later = %q, %v, %v; want v, 30s, true", v, age, ok)
	}
	if _, _, ok := cache.Get("k", at.Add(61*time.Second)); ok {
		t.Error("Get served a value older than MaxAge")
	}
}
