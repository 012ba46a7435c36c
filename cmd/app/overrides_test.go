package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/store"
)

type breakerJSON struct {
	Breaker struct {
		State  string    `json:"state"`
		Reason string    `json:"reason"`
		Actor  string    `json:"actor"`
		Until  time.Time `json:"until"`
	} `json:"breaker"`
}

func auditOf(t *testing.T, r *running) auditJSON {
	t.Helper()
	var audit auditJSON
	if code := r.do(t, "GET", "/api/v1/audit", nil, &audit); code != 200 {
		t.Fatalf("GET /api/v1/audit: %d", code)
	}
	return audit
}

func TestARefusedOverrideLeavesTheStoredOneTheBreakerAndTheAuditAsTheyWere(t *testing.T) {
	dir := t.TempDir()
	r := startApp(t, dir, nil, "")
	put := func(body map[string]any) (int, string) {
		var out struct{ Error string }
		code := r.do(t, "PUT", "/api/v1/pipelines/payments/breaker", body, &out)
		return code, out.Error
	}
	if code, msg := put(map[string]any{"state": "forced_open", "reason": "database failover", "duration": "1h"}); code != 200 {
		t.Fatalf("override: %d %s", code, msg)
	}
	for _, d := range []string{"1us", "1ms", "2ms", "59s"} {
		code, msg := put(map[string]any{"state": "forced_closed", "reason": "too short", "duration": d})
		if code != 400 || !strings.Contains(msg, "duration") {
			t.Errorf("override for %s: %d %q, want 400 naming the duration", d, code, msg)
		}
	}
	r.stop()

	r = startApp(t, dir, nil, "")
	var p breakerJSON
	r.do(t, "GET", "/api/v1/pipelines/payments", nil, &p)
	if p.Breaker.State != "forced_open" || p.Breaker.Reason != "database failover" || p.Breaker.Until.IsZero() {
		t.Errorf("after a restart the breaker is %+v, want the first override, forced_open until an hour on", p.Breaker)
	}
	audit := auditOf(t, r)
	if len(audit.Entries) != 1 || audit.Entries[0].To != "forced_open" || audit.Entries[0].Reason != "database failover" {
		t.Errorf("audit = %+v, want the one override that happened", audit.Entries)
	}
}

func TestRequestsThatChangeNothingWriteNoAuditEntry(t *testing.T) {
	r := startApp(t, t.TempDir(), nil, "")
	steps := []struct {
		name, path string
		body       map[string]any
	}{
		{"lifting an override that does not exist", "/api/v1/pipelines/inventory/breaker", map[string]any{"state": "auto", "reason": "just in case"}},
		{"an empty knobs body", "/api/v1/demo/downstreams/inventory", map[string]any{}},
		{"knobs set to what they are", "/api/v1/demo/downstreams/inventory", map[string]any{"outage": false}},
	}
	for _, s := range steps {
		if code := r.do(t, "PUT", s.path, s.body, nil); code != 200 {
			t.Errorf("%s: %d, want 200", s.name, code)
		}
		if got := auditOf(t, r).Entries; len(got) != 0 {
			t.Fatalf("after %s the audit holds %+v, want nothing", s.name, got)
		}
	}
	force := map[string]any{"state": "forced_open", "reason": "failover"}
	for range 2 {
		if code := r.do(t, "PUT", "/api/v1/pipelines/inventory/breaker", force, nil); code != 200 {
			t.Fatalf("override: %d", code)
		}
	}
	if got := auditOf(t, r).Entries; len(got) != 1 {
		t.Errorf("the same override twice left %d audit entries, want 1: %+v", len(got), got)
	}
}

func TestAnOverrideTheStoreRefusesIsTakenBackFromTheBreaker(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A clock at the zero time makes the store refuse the record (its time
	// must be set) after the breaker has taken it.
	clk := resiliencetest.NewClock(time.Time{})
	br, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("payments", resilience.Config{Policies: []resilience.Policy{br}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	reg := &resilience.Registry{}
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	o := &overrides{reg: reg, store: st, clock: clk, log: slog.New(slog.DiscardHandler)}
	if err := o.apply(context.Background(), "payments", "forced_open", "failover", "ops", 0); err == nil {
		t.Fatal("apply succeeded although the store refused the record")
	}
	if got := br.State(); got != resilience.StateClosed {
		t.Errorf("breaker after the refused override = %s, want closed", got)
	}
	if list, err := st.Overrides(); err != nil || len(list) != 0 {
		t.Errorf("stored overrides = %+v, %v, want none", list, err)
	}
}
