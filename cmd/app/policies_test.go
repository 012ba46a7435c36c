package main

import (
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

func TestConfigBuildsARateLimiterOutermost(t *testing.T) {
	cfg, err := parseConfig([]byte(`
pipelines:
  - name: search
    rate_limiter: {rate: 200, burst: 20, max_wait: 50ms}
    retry: {max_attempts: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	policies, err := buildPolicies(cfg.Pipelines[0])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range policies {
		got = append(got, p.String())
	}
	if len(got) != 2 || got[0] != "rate limit 200/s burst 20, wait 50ms" || !strings.HasPrefix(got[1], "retry") {
		t.Errorf("policies = %q, want the rate limiter, then the retry", got)
	}
}

func TestConfigNamesABadPolicySetting(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"pipelines:\n  - name: a\n    rate_limiter:\n      rate: 0\n", "pipelines[0].rate_limiter.rate: 0 must be a positive number of calls a second (line 4)"},
		{"pipelines:\n  - name: a\n    rate_limiter:\n      rate: 5\n      burst: -1\n", "pipelines[0].rate_limiter.burst: -1 must not be negative (line 5)"},
		{"pipelines:\n  - name: a\n    rate_limiter: {rate: 5, max_wait: -1s}\n", "pipelines[0].rate_limiter.max_wait"},
		{"pipelines:\n  - name: a\n    order: [limiter]\n", "want rate_limiter, adaptive_limit, bulkhead, breaker, hedge, retry or timeout"},
		{"pipelines:\n  - name: a\n    adaptive_limit: {algorithm: gradient}\n", "pipelines[0].adaptive_limit.algorithm"},
		{"pipelines:\n  - name: a\n    adaptive_limit:\n      min_limit: 5\n      max_limit: 2\n", "pipelines[0].adaptive_limit.max_limit: 2 must be in [MinLimit (5), 1000000]"},
		{"pipelines:\n  - name: a\n    hedge:\n      max_hedges: 50\n", "pipelines[0].hedge.max_hedges: 50 must be in [1, 10] (line 4)"},
		{"pipelines:\n  - name: a\n    timeout:\n      adaptive: {min: 2s, max: 1s}\n", "pipelines[0].timeout.adaptive.max: 1s must not be shorter than Min (2s) (line 4)"},
	} {
		_, err := parseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q) = %v, want it to say %q", tc.yaml, err, tc.want)
		}
	}
}

func TestConfigBuildsAnAdaptiveTimeout(t *testing.T) {
	cfg, err := parseConfig([]byte(`
pipelines:
  - name: search
    retry: {max_attempts: 2}
    timeout: {adaptive: {percentile: 0.99, factor: 1.5, min: 50ms, max: 2s}}
`))
	if err != nil {
		t.Fatal(err)
	}
	policies, err := buildPolicies(cfg.Pipelines[0])
	if err != nil {
		t.Fatal(err)
	}
	to, ok := policies[len(policies)-1].(*resilience.Timeout)
	if !ok || to.Adaptive() == nil || to.Adaptive().Min != 50*time.Millisecond || to.Effective() != 2*time.Second {
		t.Errorf("last policy = %v, want an adaptive timeout in [50ms, 2s] at 2s before any call", policies[len(policies)-1])
	}
}

func TestConfigBuildsAnAdaptiveLimitInTheDefaultOrder(t *testing.T) {
	cfg, err := parseConfig([]byte(`
pipelines:
  - name: search
    adaptive_limit: {algorithm: vegas, initial_limit: 50, max_limit: 400}
    hedge: {percentile: 0.9, max_hedges: 2}
    breaker: {}
    retry: {max_attempts: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	policies, err := buildPolicies(cfg.Pipelines[0])
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, p := range policies {
		kinds = append(kinds, strings.Fields(p.String())[0])
	}
	if got := strings.Join(kinds, ","); got != "adaptive,breaker,hedge,retry" {
		t.Errorf("policies = %s, want the adaptive limit, breaker, hedge, retry", got)
	}
	l := policies[0].(*resilience.AdaptiveLimit)
	if l.Config().Algorithm != resilience.LimitVegas || l.Limit() != 50 {
		t.Errorf("adaptive limit %v at %d, want vegas from 50", l, l.Limit())
	}
}
