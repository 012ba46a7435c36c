package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigRefusesWhatStartupRefuses runs --check-config and newApp on
// the same files: both must refuse each one, and the check must name every
// problem with its field path and line.
func TestCheckConfigRefusesWhatStartupRefuses(t *testing.T) {
	const pipe = "pipelines:\n  - name: a\n    breaker: {}\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"an empty file", "", []string{"config: the file holds no settings", "(line 1)"}},
		{"a file of comments only", "# nothing yet\n", []string{"config: the file holds no settings"}},
		{"a second YAML document", pipe + "---\ntitle: other\n", []string{"config: a second YAML document", "(line 4)"}},
		{
			"two SLOs of the same name",
			pipe + "slos:\n  - {name: avail, pipeline: a, objective: 99}\n  - {name: avail, pipeline: a, objective: 99.9}\n",
			[]string{`slos[1].name: "avail" is used by slos[0] (line 6)`},
		},
		{
			"two webhooks of the same name",
			pipe + "webhooks:\n  - {name: oncall, url: 'http://127.0.0.1:1/a'}\n  - {name: oncall, url: 'http://127.0.0.1:1/b'}\n",
			[]string{`webhooks[1].name: "oncall" is used by webhooks[0] (line 6)`},
		},
		{
			"an unknown jitter beside other problems",
			"pipelines:\n  - name: a\n    retry:\n      max_attempts: -2\n      backoff: {jitter: wobbly}\n  - name: ''\n",
			[]string{
				`pipelines[0].retry.backoff.jitter: unknown jitter "wobbly" (want full, equal, decorrelated or none) (line 5)`,
				"pipelines[0].retry.max_attempts: -2 must be at least 1 (line 4)",
				"pipelines[1].name: is required (line 6)",
			},
		},
		{
			"two billion attempts",
			"pipelines:\n  - name: a\n    retry: {max_attempts: 2000000000}\n",
			[]string{"pipelines[0].retry.max_attempts: 2000000000 must be at most 100 (line 3)"},
		},
		{
			"bulkhead limits at the int64 maximum",
			"pipelines:\n  - name: a\n    bulkhead:\n      max_concurrent: 9223372036854775807\n  - name: b\n    bulkhead:\n      max_concurrent: 1\n      max_queue: 9223372036854775807\n",
			[]string{
				"pipelines[0].bulkhead.max_concurrent: 9223372036854775807 must be from 1 to 1000000 (line 4)",
				"pipelines[1].bulkhead.max_queue: 9223372036854775807 must be from 0 to 1000000 (line 8)",
			},
		},
		{
			"a number too large for its field",
			"pipelines:\n  - name: a\n    retry: {max_attempts: 99999999999999999999}\n",
			[]string{`pipelines[0].retry.max_attempts: "99999999999999999999" is not a whole number that fits in 64 bits (line 3)`},
		},
		{
			"every problem of one pipeline",
			"pipelines:\n  - name: a\n    retry: {max_attempts: -1}\n    breaker: {failure_rate_threshold: 1.5}\n    bulkhead: {max_concurrent: 0}\n    timeout: {attempt: -1s, call: -1s}\n",
			[]string{
				"pipelines[0].retry.max_attempts", "pipelines[0].breaker.failure_rate_threshold",
				"pipelines[0].bulkhead.max_concurrent", "pipelines[0].timeout.attempt", "pipelines[0].timeout.call",
			},
		},
		{
			"a file watch polling too often",
			pipe + "reload:\n  watch: true\n  interval: 10ms\n",
			[]string{"reload.interval: 10ms is outside [100ms, 1h] (line 6)"},
		},
		{
			"a key given twice",
			"title: a\ntitle: b\n",
			[]string{"title: is given twice (first on line 1) (line 2)"},
		},
		{
			"a wrong type among good fields",
			"title: [x]\ndemo: {rate: fast}\n",
			[]string{"title: a list is not a string (line 1)", `demo.rate: "fast" is not a number (line 2)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fusebox.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if code := run(context.Background(), []string{"--check-config", "--config", path}, &out, &errOut); code != 1 {
				t.Errorf("--check-config exited %d (%s), want 1", code, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("--check-config says\n%s\nwhich lacks %q", errOut.String(), w)
				}
			}
			a, err := newApp(context.Background(), options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: testToken, ConfigPath: path})
			if err == nil {
				a.Close()
				t.Error("the app started with it")
			}
		})
	}
}

func TestCheckConfigRefusesAFlagWebhookThatClashesWithTheFile(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--check-config", "--alert-webhook", "ftp://nope"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "--alert-webhook #1") {
		t.Errorf("--check-config with a bad --alert-webhook: %d %q", code, errOut.String())
	}
}

func TestCheckConfigAndStartupRefuseAGuessableAdminToken(t *testing.T) {
	for _, tok := range []string{"short", "aaaaaaaaaaaaaaaaaaaaaaaa", " 0123456789abcdef0123 ", "éééééééééééééééé"} {
		if err := checkToken(tok); err == nil {
			t.Errorf("checkToken(%q) accepted it", tok)
		}
		t.Setenv("FUSEBOX_ADMIN_TOKEN", tok)
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"--check-config"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "FUSEBOX_ADMIN_TOKEN") {
			t.Errorf("--check-config with token %q: %d %q", tok, code, errOut.String())
		}
		if _, err := newApp(context.Background(), options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: tok}); err == nil {
			t.Errorf("newApp accepted token %q", tok)
		}
	}
	if err := checkToken("0123456789abcdef0123"); err != nil {
		t.Errorf("a good token: %v", err)
	}
}
