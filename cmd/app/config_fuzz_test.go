package main

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseConfig feeds the loader arbitrary files: it must never panic,
// every refusal must name a field path (or be a YAML syntax error, which
// names its line), and a file it accepts must build every pipeline, as the
// app does at start. The seeds run in every go test; fuzz with
//
//	go test ./cmd/app -run '^$' -fuzz FuzzParseConfig -fuzztime 30s
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		"",
		"{}",
		"---\n---\n",
		"title: a\ntitle: b\n",
		"pipelines:\n  - name: payments\n    retry: {max_attempts: 3, backoff: {base: 100ms, max: 2s, jitter: full}, budget: {ratio: 0.2}}\n" +
			"    breaker: {window: time, window_duration: 30s, failure_rate_threshold: 0.5, minimum_calls: 20}\n" +
			"    timeout: {attempt: 300ms, call: 2s}\n    bulkhead: {max_concurrent: 32, max_queue: 64, max_wait: 100ms}\n" +
			"slos:\n  - {name: payments-availability, pipeline: payments, objective: 99.9, period: 720h}\n" +
			"webhooks:\n  - {name: oncall, url: 'https://hooks.example.com/fusebox', secret: change-me}\n",
		"pipelines:\n  - name: a\n    retry: {max_attempts: 2000000000, backoff: {jitter: wobbly}}\n",
		"pipelines:\n  - name: a\n    bulkhead: {max_concurrent: 9223372036854775807, max_queue: -1}\n",
		"pipelines:\n  - name: a\n    order: [retry, retry, cache]\n    breaker: {window: sliding}\n",
		"pipelines: &p [{name: a}]\nslos: *p\n",
		"demo: {rate: .nan}\n",
		"pipelines:\n  - name: a\n    timeout: {attempt: 1ns, call: -1h}\n",
		"slos:\n  - {name: x, pipeline: payments, objective: 100, sli: latency}\n",
		"webhooks:\n  - {name: a, url: 'http://x', headers: {Host: y, 'bad name': z}}\n",
		"[1, 2]\n",
		"pipelines: {name: a}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := parseConfig(b)
		if err != nil {
			var ce configErrors
			if errors.As(err, &ce) {
				for _, e := range ce {
					if e.path == "" || e.msg == "" {
						t.Fatalf("a refusal without a path or a reason: %q in %v", e, err)
					}
				}
			} else if !strings.HasPrefix(err.Error(), "invalid configuration: yaml: ") {
				t.Fatalf("a refusal that is neither a field error nor a YAML syntax error: %v", err)
			}
			return
		}
		for _, pc := range cfg.Pipelines {
			if _, err := buildPolicies(pc); err != nil {
				t.Fatalf("accepted a pipeline the app cannot build: %v", err)
			}
		}
	})
}
