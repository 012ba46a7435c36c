package resilience_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func limited(t *testing.T, cfg resilience.RateLimiterConfig, clk *resiliencetest.Clock, obs ...resilience.Observer) (*resilience.RateLimiter, *resilience.Pipeline) {
	t.Helper()
	l := must[*resilience.RateLimiter](t)(resilience.NewRateLimiter(cfg))
	return l, mustPipeline(t, "limited", resilience.Config{Policies: []resilience.Policy{l}, Clock: clk, Observers: obs})
}

func ok(context.Context) error { return nil }

func TestRateLimiterHoldsItsRateOverASimulatedMinute(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rate    float64
		burst   int
		arrival time.Duration
	}{
		{"50 a second, arrivals every 7ms", 50, 5, 7 * time.Millisecond},
		{"200 a second, arrivals every 1ms", 200, 20, time.Millisecond},
		{"2.5 a second, arrivals every 10ms", 2.5, 1, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := resiliencetest.NewClock(epoch)
			_, p := limited(t, resilience.RateLimiterConfig{Rate: tc.rate, Burst: tc.burst}, clk)
			passed, refused := 0, 0
			for at := time.Duration(0); at < time.Minute; at += tc.arrival {
				clk.Set(epoch.Add(at))
				switch err := resilience.Run(context.Background(), p, ok); {
				case err == nil:
					passed++
				case errors.Is(err, resilience.ErrRateLimited):
					refused++
				default:
					t.Fatalf("call at %v: %v", at, err)
				}
			}
			want := tc.rate * 60
			if math.Abs(float64(passed)-want)/want > 0.01 {
				t.Errorf("%d calls passed in a minute (%d refused), want %g ± 1 %%", passed, refused, want)
			}
		})
	}
}

func TestRateLimiterRefusesBeyondItsBurstWithAReasonOfItsOwn(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	l, p := limited(t, resilience.RateLimiterConfig{Rate: 10, Burst: 3}, clk, &log)
	for i := range 3 {
		if err := resilience.Run(context.Background(), p, ok); err != nil {
			t.Fatalf("call %d of the burst: %v", i, err)
		}
	}
	if !l.Saturated() {
		t.Errorf("a spent bucket is not saturated (%g tokens)", l.Tokens())
	}
	err := resilience.Run(context.Background(), p, ok)
	if !errors.Is(err, resilience.ErrRateLimited) {
		t.Fatalf("the call after the burst = %v, want ErrRateLimited", err)
	}
	rej := log.of(resilience.KindRejected)
	if len(rej) != 1 || rej[0].Reason != resilience.ReasonRateLimited || rej[0].Reason.String() != "rate_limited" {
		t.Errorf("rejections = %+v, want one with ReasonRateLimited", rej)
	}
	ends := log.of(resilience.KindCallEnd)
	if last := ends[len(ends)-1]; last.Outcome != resilience.OutcomeRejected {
		t.Errorf("refused call ended %s, want rejected", last.Outcome)
	}
	clk.Advance(100 * time.Millisecond) // one token back
	if err := resilience.Run(context.Background(), p, ok); err != nil {
		t.Errorf("a call a token later: %v", err)
	}
	if resilience.DefaultRetryable(err) {
		t.Error("DefaultRetryable retries a rate limiter's refusal")
	}
}

func TestRateLimiterWaitsUpToItsBound(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	l, p := limited(t, resilience.RateLimiterConfig{Rate: 10, Burst: 1, MaxWait: 150 * time.Millisecond}, clk)
	if err := resilience.Run(context.Background(), p, ok); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- resilience.Run(context.Background(), p, ok) }()
	clk.BlockUntil(1) // the second call waits its 100ms
	// A third would wait 200ms: more than MaxWait, refused at once.
	if err := resilience.Run(context.Background(), p, ok); !errors.Is(err, resilience.ErrRateLimited) {
		t.Errorf("a call that would wait 200ms = %v, want ErrRateLimited", err)
	}
	select {
	case err := <-done:
		t.Fatalf("the waiting call returned %v before its turn", err)
	default:
	}
	clk.Advance(100 * time.Millisecond)
	if err := <-done; err != nil {
		t.Errorf("the waiting call = %v, want it through after 100ms", err)
	}

	// A wait the caller gives up returns its token.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- resilience.Run(ctx, p, ok) }()
	clk.BlockUntil(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled wait = %v, want context.Canceled", err)
	}
	clk.Advance(100 * time.Millisecond)
	if got := l.Tokens(); got != 1 {
		t.Errorf("tokens after the cancelled wait gave its token back = %g, want 1", got)
	}
}

func TestRateLimiterConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg   resilience.RateLimiterConfig
		field string
	}{
		{resilience.RateLimiterConfig{}, "RateLimiter.Rate"},
		{resilience.RateLimiterConfig{Rate: math.NaN()}, "RateLimiter.Rate"},
		{resilience.RateLimiterConfig{Rate: 1, Burst: -1}, "RateLimiter.Burst"},
		{resilience.RateLimiterConfig{Rate: 1, MaxWait: -1}, "RateLimiter.MaxWait"},
	} {
		var ce *resilience.ConfigError
		if _, err := resilience.NewRateLimiter(tc.cfg); !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("NewRateLimiter(%+v) = %v, want a *ConfigError naming %s", tc.cfg, err, tc.field)
		}
	}
}
