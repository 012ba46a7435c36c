package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/store"
)

func killSwitched(t *testing.T, r *running, pipeline string) []string {
	t.Helper()
	p, err := r.registry.Get(pipeline)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range p.KillSwitches() {
		out = append(out, k.Policy.String()+" by "+k.Actor+": "+k.Reason)
	}
	return out
}

func TestKillSwitchesAreAuditedAndSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	clk := resiliencetest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	r := startApp(t, dir, clk, "")
	body := map[string]any{"enabled": false, "reason": "retry storm", "duration": "10m"}
	var out map[string]any
	if code := r.do(t, "PUT", "/api/v1/pipelines/payments/policies/retry", body, &out); code != 200 {
		t.Fatalf("switching retries off: %d %v", code, out)
	}
	if out["until"] == nil || out["enabled"] != false {
		t.Errorf("answer %v, want enabled false and an until", out)
	}
	if got := killSwitched(t, r, "payments"); len(got) != 1 || got[0] != "retry by api: retry storm" {
		t.Fatalf("kill switches %v, want retry off", got)
	}
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`fusebox_policy_enabled{pipeline="payments",policy="retry"} 0`, `fusebox_policy_enabled{pipeline="payments",policy="timeout"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var pj struct {
		Live struct {
			KillSwitches []struct{ Policy, Reason string } `json:"kill_switches"`
		} `json:"live"`
	}
	if r.do(t, "GET", "/api/v1/pipelines/payments", nil, &pj); len(pj.Live.KillSwitches) != 1 || pj.Live.KillSwitches[0].Policy != "retry" {
		t.Errorf("the API's live kill switches %+v, want retry", pj.Live.KillSwitches)
	}
	resp, err = http.Get(r.url + "/pipelines/payments")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `data-testid="policy-off-retry"`) || strings.Contains(string(page), `data-testid="policy-off-timeout"`) {
		t.Error("the pipeline page does not show retry, and only retry, switched off")
	}
	r.stop()

	r = startApp(t, dir, clk, "")
	if got := killSwitched(t, r, "payments"); len(got) != 1 || !strings.HasPrefix(got[0], "retry by api") {
		t.Errorf("kill switches after restart %v, want retry still off", got)
	}
	var audit auditJSON
	r.do(t, "GET", "/api/v1/audit", nil, &audit)
	if len(audit.Entries) == 0 || audit.Entries[0].Action != "killswitch.off" || audit.Entries[0].Reason != "retry storm" {
		t.Errorf("audit after restart = %+v, want the kill switch", audit.Entries)
	}
	if code := r.do(t, "PUT", "/api/v1/pipelines/payments/policies/retry", map[string]any{"enabled": true, "reason": "storm over"}, nil); code != 200 {
		t.Fatalf("switching retries on: %d", code)
	}
	if got := killSwitched(t, r, "payments"); len(got) != 0 {
		t.Errorf("kill switches after switching on %v", got)
	}
	r.stop()

	// One that runs out while the app is down is lifted and audited.
	r = startApp(t, dir, clk, "")
	if code := r.do(t, "PUT", "/api/v1/pipelines/payments/policies/timeout", map[string]any{"enabled": false, "reason": "slow on purpose", "duration": "15m"}, nil); code != 200 {
		t.Fatalf("switching the timeout off: %d", code)
	}
	r.stop()
	clk.Advance(time.Hour)
	r = startApp(t, dir, clk, "")
	if got := killSwitched(t, r, "payments"); len(got) != 0 {
		t.Errorf("kill switches after running out while down %v", got)
	}
	audit = auditJSON{}
	r.do(t, "GET", "/api/v1/audit", nil, &audit)
	if len(audit.Entries) == 0 || audit.Entries[0].Action != "killswitch.expired" {
		t.Errorf("audit = %+v, want the expiry first", audit.Entries)
	}
}

func TestKillSwitchRequestsAreValidated(t *testing.T) {
	r := startApp(t, t.TempDir(), nil, "")
	for _, tc := range []struct {
		path string
		body map[string]any
		code int
	}{
		{"/api/v1/pipelines/payments/policies/breaker", map[string]any{"enabled": false, "reason": "x"}, 400},
		{"/api/v1/pipelines/payments/policies/retry", map[string]any{"reason": "x"}, 400},
		{"/api/v1/pipelines/payments/policies/retry", map[string]any{"enabled": false}, 400},
		{"/api/v1/pipelines/payments/policies/retry", map[string]any{"enabled": false, "reason": "x", "duration": "5s"}, 400},
		{"/api/v1/pipelines/payments/policies/retry", map[string]any{"enabled": true, "reason": "x", "duration": "5m"}, 400},
		{"/api/v1/pipelines/nope/policies/retry", map[string]any{"enabled": false, "reason": "x"}, 404},
		{"/api/v1/pipelines/payments/policies/hedge", map[string]any{"enabled": false, "reason": "x"}, 409},
	} {
		if code := r.do(t, "PUT", tc.path, tc.body, nil); code != tc.code {
			t.Errorf("PUT %s %v = %d, want %d", tc.path, tc.body, code, tc.code)
		}
	}
	if got := killSwitched(t, r, "payments"); len(got) != 0 {
		t.Errorf("refused requests switched %v", got)
	}
}

// A stored kill switch of a kind this build does not know is left in the
// store, and does not stop the others from being restored.
func TestStoredKillSwitchOfAnUnknownKindIsKeptNotRestored(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, policy := range []string{"warp", "retry"} {
		k := store.KillSwitch{Pipeline: "payments", Policy: policy, Reason: "storm", Actor: "alice", At: t0}
		if _, err := st.ApplyKillSwitch(k, store.AuditEntry{At: t0, Actor: "alice", Action: "killswitch.off", Pipeline: "payments"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	r := startApp(t, dir, resiliencetest.NewClock(t0.Add(time.Minute)), "")
	if got := killSwitched(t, r, "payments"); len(got) != 1 || got[0] != "retry by alice: storm" {
		t.Errorf("kill switches restored %v, want retry's only", got)
	}
	r.stop()
	st, err = store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.KillSwitches()
	var kept []string
	for _, k := range list {
		kept = append(kept, k.Policy)
	}
	if err != nil || len(kept) != 2 {
		t.Errorf("stored kill switches after the restart %v, %v; want warp's and retry's", kept, err)
	}
}
