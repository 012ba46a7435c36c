package main

import (
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// The override form's "keep" re-applies the end already stored, however
// little is left of it; only a new duration must be a minute or more.
func TestKeepingAnOverridesEndWithUnderAMinuteLeft(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clk := resiliencetest.NewClock(start)
	r := startApp(t, t.TempDir(), clk, "")
	put := func(body map[string]any) (int, string, time.Time) {
		t.Helper()
		var out struct {
			Error string
			Until time.Time
		}
		code := r.do(t, "PUT", "/api/v1/pipelines/payments/breaker", body, &out)
		return code, out.Error, out.Until
	}
	end := start.Add(15 * time.Minute)
	if code, msg, _ := put(map[string]any{"state": "forced_open", "reason": "failover", "duration": "15m"}); code != 200 {
		t.Fatalf("override: %d %s", code, msg)
	}
	clk.Advance(14*time.Minute + 30*time.Second)

	code, msg, until := put(map[string]any{"state": "forced_open", "reason": "still failing over", "duration": "keep"})
	if code != 200 {
		t.Fatalf("keep with 30 s left: %d %s, want 200", code, msg)
	}
	if !until.Equal(end) {
		t.Errorf("keep answered until %v, want the stored end %v", until, end)
	}
	var p breakerJSON
	r.do(t, "GET", "/api/v1/pipelines/payments", nil, &p)
	if p.Breaker.State != "forced_open" || p.Breaker.Reason != "still failing over" || !p.Breaker.Until.Equal(end) {
		t.Errorf("after keep the breaker is %+v, want forced_open with the new reason until %v", p.Breaker, end)
	}

	for _, d := range []string{"30s", "59s"} {
		code, msg, _ := put(map[string]any{"state": "forced_open", "reason": "short", "duration": d})
		if code != 400 || !strings.Contains(msg, "duration") {
			t.Errorf("a new duration of %s: %d %q, want 400 naming the duration", d, code, msg)
		}
	}
	// Keeping the end of a forced state that is not in force is refused.
	if code, msg, _ := put(map[string]any{"state": "forced_closed", "reason": "x", "duration": "keep"}); code != 400 {
		t.Errorf("keep for forced_closed while forced_open holds: %d %q, want 400", code, msg)
	}
	r.do(t, "GET", "/api/v1/pipelines/payments", nil, &p)
	if !p.Breaker.Until.Equal(end) || p.Breaker.Reason != "still failing over" {
		t.Errorf("refused requests changed the override: %+v", p.Breaker)
	}
}
