package main

import (
	"strings"
	"testing"
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
		{"pipelines:\n  - name: a\n    order: [limiter]\n", "want rate_limiter, bulkhead, breaker, retry or timeout"},
	} {
		_, err := parseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q) = %v, want it to say %q", tc.yaml, err, tc.want)
		}
	}
}
