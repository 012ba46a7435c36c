package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestARestoredOverrideWithoutAnEndLogsNoZeroTime(t *testing.T) {
	dir := t.TempDir()
	r := startApp(t, dir, nil, "")
	if code := r.do(t, "PUT", "/api/v1/pipelines/payments/breaker", map[string]any{"state": "forced_open", "reason": "failover"}, nil); code != 200 {
		t.Fatalf("override: %d", code)
	}
	r.stop()

	var log bytes.Buffer
	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: dir, AdminToken: testToken, Logger: slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	var line string
	for l := range strings.SplitSeq(log.String(), "\n") {
		if strings.Contains(l, `msg="override restored"`) {
			line = l
		}
	}
	if !strings.Contains(line, "until=reverted") || strings.Contains(line, "0001-01-01") {
		t.Errorf("restore log line %q, want until=reverted and no zero time", line)
	}
}
