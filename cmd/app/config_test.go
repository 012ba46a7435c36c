package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

func TestParseConfigAcceptsAFullPipeline(t *testing.T) {
	cfg, err := parseConfig([]byte(`
addr: 127.0.0.1:9090
title: shop
pipelines:
  - name: payments
    upstream: http://127.0.0.1:9999
    retry:
      max_attempts: 4
      backoff: {base: 50ms, multiplier: 2, max: 2s, jitter: equal}
      budget: {ratio: 0.1}
    breaker:
      window: time
      window_duration: 30s
      failure_rate_threshold: 0.5
      minimum_calls: 10
    timeout: {attempt: 300ms, call: 2s}
    bulkhead: {max_concurrent: 8}
`))
	if err != nil {
		t.Fatal(err)
	}
	pc := cfg.Pipelines[0]
	if cfg.Addr != "127.0.0.1:9090" || pc.Retry.Backoff.Jitter != resilience.JitterEqual || pc.Timeout.Attempt != 300*time.Millisecond {
		t.Errorf("parsed %+v", cfg)
	}
	policies, err := buildPolicies(pc)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, p := range policies {
		kinds = append(kinds, strings.Fields(p.String())[0])
	}
	if got := strings.Join(kinds, ","); got != "timeout,bulkhead,breaker,retry,timeout" {
		t.Errorf("policies = %s, want the call timeout outermost and the default order", got)
	}
}

func TestParseConfigReportsEveryErrorWithItsPathAndLine(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "an unknown field is named with its line",
			yaml: "pipelines:\n  - name: a\n    retries: 3\n",
			want: []string{"pipelines[0].retries: unknown field", "(line 3)"},
		},
		{
			name: "negative attempts name the retry field",
			yaml: "pipelines:\n  - name: a\n    retry:\n      max_attempts: -2\n",
			want: []string{"pipelines[0].retry.max_attempts: -2 must be at least 1 (line 4)"},
		},
		{
			name: "a ratio outside [0, 1] names the breaker field",
			yaml: "pipelines:\n  - name: a\n    breaker:\n      failure_rate_threshold: 1.5\n",
			want: []string{"pipelines[0].breaker.failure_rate_threshold", "(line 4)"},
		},
		{
			name: "a cap below the base names the backoff field",
			yaml: "pipelines:\n  - name: a\n    retry:\n      backoff: {base: 2s, max: 1s}\n",
			want: []string{"pipelines[0].retry.backoff.max"},
		},
		{
			name: "two problems in two pipelines are both reported",
			yaml: "pipelines:\n  - name: a\n  - name: a\n  - name: ''\n",
			want: []string{`pipelines[1].name: "a" is used by another pipeline`, "pipelines[2].name: is required"},
		},
		{
			name: "a value of the wrong type is named",
			yaml: "pipelines:\n  - name: a\n    retry:\n      max_attempts: many\n",
			want: []string{"pipelines[0].retry.max_attempts", "line 4"},
		},
		{
			name: "an unknown jitter is refused",
			yaml: "pipelines:\n  - name: a\n    retry:\n      backoff: {jitter: wild}\n",
			want: []string{"wild"},
		},
		{
			name: "an unknown policy in the order is named",
			yaml: "pipelines:\n  - name: a\n    order: [retry, cache]\n",
			want: []string{`pipelines[0].order[1]: unknown policy "cache"`},
		},
		{
			name: "a zero timeout is refused",
			yaml: "pipelines:\n  - name: a\n    timeout: {attempt: -1s}\n",
			want: []string{"pipelines[0].timeout.attempt"},
		},
		{
			name: "a negative repeat interval names the alerts field",
			yaml: "alerts:\n  repeat_interval: -1h\n",
			want: []string{"alerts.repeat_interval: -1h0m0s must not be negative", "(line 2)"},
		},
		{
			name: "a repeat interval under a minute is refused",
			yaml: "alerts:\n  repeat_interval: 5s\n",
			want: []string{"alerts.repeat_interval: 5s is under a minute", "(line 2)"},
		},
		{
			name: "an unknown alerts field is named",
			yaml: "alerts:\n  group_by: [alertname]\n",
			want: []string{"alerts.group_by", "(line 2)"},
		},
		{
			name: "an unknown way to count rejected calls names the SLO field",
			yaml: "pipelines:\n  - name: a\nslos:\n  - {name: s, pipeline: a, objective: 99, rejected_calls: good}\n",
			want: []string{"slos[0].rejected_calls"},
		},
		{
			name: "a negative Retry-After bound names the retry field",
			yaml: "pipelines:\n  - name: a\n    retry:\n      max_retry_after: -1s\n",
			want: []string{"pipelines[0].retry.max_retry_after", "(line 4)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tt.yaml))
			if err == nil {
				t.Fatal("parseConfig accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseConfigOfAnEmptyMappingRunsTheDemo(t *testing.T) {
	cfg, err := parseConfig([]byte("{}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := &app{cfg: cfg}
	if !a.demoMode() {
		t.Error("an empty config does not run the demo")
	}
}

func TestParseConfigRejectsMalformedYAML(t *testing.T) {
	_, err := parseConfig([]byte("pipelines: [\n"))
	var ce configErrors
	if err == nil || errors.As(err, &ce) && len(ce) == 0 {
		t.Fatalf("err = %v", err)
	}
}
