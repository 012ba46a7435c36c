package promexport_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry/promexport"
)

func TestPolicyCollectorReadsTheAdaptivePoliciesAndKillSwitches(t *testing.T) {
	clk := resiliencetest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	limit, err := resilience.NewAdaptiveLimit(resilience.AdaptiveLimitConfig{InitialLimit: 7})
	if err != nil {
		t.Fatal(err)
	}
	rate, err := resilience.NewRateLimiter(resilience.RateLimiterConfig{Rate: 10, Burst: 4})
	if err != nil {
		t.Fatal(err)
	}
	hedge, err := resilience.NewHedge(resilience.HedgeConfig{Delay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := resilience.NewRetry(resilience.RetryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	timeout, err := resilience.NewTimeout(resilience.TimeoutConfig{Adaptive: &resilience.AdaptiveTimeoutConfig{Min: 50 * time.Millisecond, Max: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("search", resilience.Config{Policies: []resilience.Policy{rate, limit, hedge, retry, timeout}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	var reg resilience.Registry
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := p.Disable(context.Background(), resilience.PolicyRetry, "storm", time.Time{}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP fusebox_concurrency_inflight Calls holding a place in the pipeline's adaptive concurrency limit.
# TYPE fusebox_concurrency_inflight gauge
fusebox_concurrency_inflight{pipeline="search"} 0
# HELP fusebox_concurrency_limit Current limit of the pipeline's adaptive concurrency limit.
# TYPE fusebox_concurrency_limit gauge
fusebox_concurrency_limit{pipeline="search"} 7
# HELP fusebox_hedges_total Hedged attempts by result: started, won (answered first), canceled (another won).
# TYPE fusebox_hedges_total counter
fusebox_hedges_total{pipeline="search",result="canceled"} 0
fusebox_hedges_total{pipeline="search",result="started"} 0
fusebox_hedges_total{pipeline="search",result="won"} 0
# HELP fusebox_policy_enabled 1 while the pipeline's policy of this kind runs, 0 while a kill switch holds it off.
# TYPE fusebox_policy_enabled gauge
fusebox_policy_enabled{pipeline="search",policy="adaptive_limit"} 1
fusebox_policy_enabled{pipeline="search",policy="hedge"} 1
fusebox_policy_enabled{pipeline="search",policy="rate_limiter"} 1
fusebox_policy_enabled{pipeline="search",policy="retry"} 0
fusebox_policy_enabled{pipeline="search",policy="timeout"} 1
# HELP fusebox_rate_limiter_tokens Calls the pipeline's rate limiter lets pass now without waiting.
# TYPE fusebox_rate_limiter_tokens gauge
fusebox_rate_limiter_tokens{pipeline="search"} 3
# HELP fusebox_timeout_effective_seconds Timeout a call starting now gets from the pipeline's timeout policy (adaptive or fixed).
# TYPE fusebox_timeout_effective_seconds gauge
fusebox_timeout_effective_seconds{pipeline="search",scope="attempt"} 2
`
	if err := testutil.CollectAndCompare(promexport.NewPolicyCollector(&reg), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
