package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

const testToken = "test-admin-token"

// running is an app started by startApp.
type running struct {
	*app
	url  string
	stop func()
}

// startApp starts an app on a free loopback port with dataDir, and stops it
// when the test ends (or when stop is called).
func startApp(t *testing.T, dataDir string, clock resilience.Clock, configPath string) *running {
	t.Helper()
	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: dataDir, AdminToken: testToken, Clock: clock, ConfigPath: configPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return &running{app: a, url: "http://" + a.Addr(), stop: stop}
}

// do sends a request with the admin token and decodes a JSON answer into out.
func (r *running) do(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decoding: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

type pipelineJSON struct {
	Name    string `json:"name"`
	Breaker struct {
		State  string `json:"state"`
		Forced bool   `json:"forced"`
	} `json:"breaker"`
}

func breakerState(t *testing.T, r *running, name string) string {
	t.Helper()
	var p pipelineJSON
	if code := r.do(t, "GET", "/api/v1/pipelines/"+name, nil, &p); code != 200 {
		t.Fatalf("GET pipeline %s: %d", name, code)
	}
	return p.Breaker.State
}

type auditJSON struct {
	Entries []struct {
		Actor, Action, Pipeline, To, Reason string
	} `json:"entries"`
}

func TestAppServesTheDemoDashboardAPIAndMetrics(t *testing.T) {
	r := startApp(t, t.TempDir(), nil, "")
	var list struct {
		Pipelines []pipelineJSON `json:"pipelines"`
	}
	if code := r.do(t, "GET", "/api/v1/pipelines", nil, &list); code != 200 {
		t.Fatalf("GET /api/v1/pipelines: %d", code)
	}
	var names []string
	for _, p := range list.Pipelines {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "inventory,payments,recommendations,shipping" {
		t.Errorf("pipelines = %s", got)
	}
	for _, path := range []string{"/", "/pipelines/payments", "/healthz", "/readyz", "/metrics", "/audit", "/alerts"} {
		resp, err := http.Get(r.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		if path == "/metrics" && !bytes.Contains(b, []byte("fusebox_breaker_state{")) {
			t.Errorf("/metrics has no fusebox_breaker_state")
		}
	}
}

func TestAppRejectsOverridesWithoutTokenOrWithBadInput(t *testing.T) {
	r := startApp(t, t.TempDir(), nil, "")
	req, _ := http.NewRequest("PUT", r.url+"/api/v1/pipelines/payments/breaker", strings.NewReader(`{"state":"forced_open","reason":"x"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", resp.StatusCode)
	}
	tests := []struct {
		name string
		path string
		body map[string]any
		want int
	}{
		{"an unknown state", "/api/v1/pipelines/payments/breaker", map[string]any{"state": "ajar", "reason": "x"}, 400},
		{"a missing reason", "/api/v1/pipelines/payments/breaker", map[string]any{"state": "forced_open"}, 400},
		{"an unknown pipeline", "/api/v1/pipelines/nope/breaker", map[string]any{"state": "forced_open", "reason": "x"}, 404},
		{"an error rate above one", "/api/v1/demo/downstreams/payments", map[string]any{"error_rate": 2}, 400},
		{"an unknown downstream", "/api/v1/demo/downstreams/nope", map[string]any{"error_rate": 0.5}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out struct{ Error string }
			if code := r.do(t, "PUT", tt.path, tt.body, &out); code != tt.want || out.Error == "" {
				t.Errorf("PUT %s %v = %d %q, want %d with an error message", tt.path, tt.body, code, out.Error, tt.want)
			}
		})
	}
	if got := breakerState(t, r, "payments"); strings.HasPrefix(got, "forced") {
		t.Errorf("a refused override changed the breaker: %s", got)
	}
}

func TestOverrideAndItsAuditEntrySurviveARestart(t *testing.T) {
	dir := t.TempDir()
	r := startApp(t, dir, nil, "")
	body := map[string]any{"state": "forced_open", "reason": "database failover"}
	if code := r.do(t, "PUT", "/api/v1/pipelines/payments/breaker", body, nil); code != 200 {
		t.Fatalf("override: %d", code)
	}
	if got := breakerState(t, r, "payments"); got != "forced_open" {
		t.Fatalf("state after override = %s", got)
	}
	r.stop()

	r = startApp(t, dir, nil, "")
	if got := breakerState(t, r, "payments"); got != "forced_open" {
		t.Errorf("state after restart = %s, want forced_open", got)
	}
	var audit auditJSON
	r.do(t, "GET", "/api/v1/audit", nil, &audit)
	if len(audit.Entries) == 0 || audit.Entries[0].Reason != "database failover" || audit.Entries[0].To != "forced_open" {
		t.Errorf("audit after restart = %+v, want the override", audit.Entries)
	}
	if code := r.do(t, "PUT", "/api/v1/pipelines/payments/breaker", map[string]any{"state": "auto", "reason": "failover done"}, nil); code != 200 {
		t.Fatalf("auto: %d", code)
	}
	if got := breakerState(t, r, "payments"); strings.HasPrefix(got, "forced") {
		t.Errorf("state after auto = %s", got)
	}
}

func TestOverrideThatExpiredWhileDownIsRevertedAndAuditedAtStart(t *testing.T) {
	dir := t.TempDir()
	clk := resiliencetest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	r := startApp(t, dir, clk, "")
	body := map[string]any{"state": "forced_closed", "reason": "known flaky", "duration": "15m"}
	if code := r.do(t, "PUT", "/api/v1/pipelines/inventory/breaker", body, nil); code != 200 {
		t.Fatalf("override: %d", code)
	}
	r.stop()

	clk.Advance(time.Hour)
	r = startApp(t, dir, clk, "")
	if got := breakerState(t, r, "inventory"); got != "closed" {
		t.Errorf("state after the override ran out while down = %s, want closed", got)
	}
	var audit auditJSON
	r.do(t, "GET", "/api/v1/audit", nil, &audit)
	if len(audit.Entries) < 2 || audit.Entries[0].Pipeline != "inventory" || !strings.Contains(audit.Entries[0].Action, "expired") {
		t.Errorf("audit = %+v, want the expiry first", audit.Entries)
	}
}

func TestAppStartsWithALockedDataDirAsAClearError(t *testing.T) {
	dir := t.TempDir()
	startApp(t, dir, nil, "")
	_, err := newApp(context.Background(), options{Addr: "127.0.0.1:0", DataDir: dir, AdminToken: testToken})
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second app on the same data dir: %v, want a lock error", err)
	}
}

func TestDemoKnobsChangeOnlyTheFieldsGivenAndAreAudited(t *testing.T) {
	r := startApp(t, t.TempDir(), nil, "")
	type knobs struct {
		ErrorRate float64 `json:"error_rate"`
		LatencyMS int     `json:"latency_ms"`
		JitterMS  int     `json:"jitter_ms"`
		Outage    bool    `json:"outage"`
	}
	var before, after struct{ Knobs knobs }
	if code := r.do(t, "PUT", "/api/v1/demo/downstreams/inventory", map[string]any{"latency_ms": 120}, &before); code != 200 {
		t.Fatalf("PUT latency: %d", code)
	}
	if code := r.do(t, "PUT", "/api/v1/demo/downstreams/inventory", map[string]any{"outage": true}, &after); code != 200 {
		t.Fatalf("PUT outage: %d", code)
	}
	if !after.Knobs.Outage || after.Knobs.LatencyMS != 120 || after.Knobs.ErrorRate != before.Knobs.ErrorRate {
		t.Errorf("knobs after setting the outage = %+v, want the latency and error rate kept from %+v", after.Knobs, before.Knobs)
	}
	var audit auditJSON
	r.do(t, "GET", "/api/v1/audit", nil, &audit)
	if len(audit.Entries) != 2 || audit.Entries[0].Action != "faults" || !strings.Contains(audit.Entries[0].To, "outage=true") {
		t.Errorf("audit = %+v, want both knob changes", audit.Entries)
	}
}

func TestADemoOutagePagesAWebhookReceiver(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about a minute: the 1h page needs 52 s of errors to fire")
	}
	type payload struct {
		Version string `json:"version"`
		Status  string `json:"status"`
		Alerts  []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	got := make(chan payload, 100)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p payload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("receiver: %v", err)
		}
		got <- p
	}))
	defer receiver.Close()

	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: testToken, Webhooks: []string{receiver.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	r := &running{app: a, url: "http://" + a.Addr()}
	if code := r.do(t, "PUT", "/api/v1/demo/downstreams/payments", map[string]any{"error_rate": 1, "outage": true}, nil); code != 200 {
		t.Fatalf("PUT knobs: %d", code)
	}
	deadline := time.After(2 * time.Minute) // a bound for failure, not a pause
	for {
		select {
		case p := <-got:
			for _, al := range p.Alerts {
				if p.Version == "4" && al.Status == "firing" && al.Labels["severity"] == "page" && al.Labels["slo"] == "payments-availability" {
					return
				}
			}
		case <-deadline:
			t.Fatal("no firing page alert for payments-availability within 2 minutes")
		}
	}
}

func TestAlertsFromAlertmanagerAreListedWithTheirSource(t *testing.T) {
	r := startApp(t, t.TempDir(), nil, "")
	payload := `{"version":"4","status":"firing","receiver":"fusebox","groupKey":"{}:{}",
	  "alerts":[{"status":"firing","labels":{"alertname":"ErrorBudgetBurn","slo":"payments-availability","severity":"page"},
	  "annotations":{"summary":"burning"},"startsAt":"2026-11-26T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"abc123"}]}`
	post := func(token, body string) int {
		req, _ := http.NewRequest("POST", r.url+"/api/v1/alertmanager", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("", payload); code != http.StatusUnauthorized {
		t.Errorf("without token: %d, want 401", code)
	}
	if code := post(testToken, `{"alerts": "nope"}`); code != http.StatusBadRequest {
		t.Errorf("malformed payload: %d, want 400", code)
	}
	if code := post(testToken, payload); code != http.StatusOK {
		t.Fatalf("payload: %d", code)
	}
	var list struct {
		Alerts []struct {
			Name, Source, State string
			Labels              map[string]string
		} `json:"alerts"`
	}
	r.do(t, "GET", "/api/v1/alerts", nil, &list)
	found := false
	for _, a := range list.Alerts {
		found = found || a.Name == "ErrorBudgetBurn" && a.Source == "alertmanager" && a.Labels["slo"] == "payments-availability"
	}
	if !found {
		t.Errorf("alerts = %+v, want the Alertmanager one", list.Alerts)
	}
}

func TestAppRefusesAShortAdminToken(t *testing.T) {
	_, err := newApp(context.Background(), options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: "short"})
	if err == nil || !strings.Contains(err.Error(), "FUSEBOX_ADMIN_TOKEN") {
		t.Fatalf("newApp with a 5-byte token: %v, want an error naming FUSEBOX_ADMIN_TOKEN", err)
	}
}
