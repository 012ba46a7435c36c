package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesWithoutConfigPrintsTheCommittedDemoRules(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"rules"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	want, err := os.ReadFile("../../deploy/prometheus/rules/fusebox.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Error("rules of the demo SLOs differ from deploy/prometheus/rules/fusebox.rules.yml")
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fusebox.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRulesOfAConfiguredSLO(t *testing.T) {
	p := writeConfig(t, `
pipelines:
  - name: checkout
    retry: {max_attempts: 2}
slos:
  - name: checkout-availability
    pipeline: checkout
    objective: 99.95
    period: 720h
`)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"rules", "--config", p}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), `slo: checkout-availability`) && !strings.Contains(out.String(), `slo="checkout-availability"`) {
		t.Errorf("rules do not mention the SLO:\n%.400s", out.String())
	}
}

func TestRulesWithAnInvalidSLOWritesNothingAndNamesTheField(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"an objective of 100", "slos:\n  - name: a\n    pipeline: payments\n    objective: 100\n", "slos[0].objective"},
		{"a period under an hour", "slos:\n  - name: a\n    pipeline: payments\n    objective: 99\n    period: 30m\n", "slos[0].period"},
		{"an unknown pipeline", "slos:\n  - name: a\n    pipeline: nope\n    objective: 99\n", "slos[0].pipeline"},
		{"a latency SLI without threshold", "slos:\n  - name: a\n    pipeline: payments\n    sli: latency\n    objective: 99\n", "slos[0].latency_threshold"},
		{"a latency threshold off the histogram buckets", "slos:\n  - name: a\n    pipeline: payments\n    sli: latency\n    objective: 99\n    latency_threshold: 333ms\n", "slos[0].latency_threshold"},
		{"a webhook without a host", "webhooks:\n  - name: ops\n    url: http://\n", "webhooks[0].url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"rules", "--config", writeConfig(t, tt.yaml)}, &out, &errOut)
			if code == 0 || out.Len() != 0 {
				t.Fatalf("exit %d with %d bytes of output, want a failure writing nothing", code, out.Len())
			}
			if !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("error %q does not name %s", errOut.String(), tt.want)
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	good := writeConfig(t, "pipelines:\n  - name: a\n    retry: {max_attempts: 2}\n")
	if code := run(context.Background(), []string{"--check-config", "--config", good}, &out, &errOut); code != 0 {
		t.Errorf("valid config: exit %d: %s", code, errOut.String())
	}
	bad := writeConfig(t, "pipelines:\n  - name: a\n    retry: {max_attempts: -1}\n    bogus: 1\n")
	errOut.Reset()
	if code := run(context.Background(), []string{"--check-config", "--config", bad}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "pipelines[0].bogus") {
		t.Errorf("invalid config: exit %d: %s", code, errOut.String())
	}
}
