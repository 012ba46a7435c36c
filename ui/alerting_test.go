package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/resilience"
)

// fakeReceiver records the bodies it receives and answers err.
type fakeReceiver struct {
	mu     sync.Mutex
	bodies []string
	err    error
}

func (f *fakeReceiver) ReceiveAlertmanager(_ context.Context, body []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies = append(f.bodies, string(body))
	return f.err
}

func (f *fakeReceiver) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

// fakeAlerts lists fixed alerts.
type fakeAlerts []alerting.Alert

func (f fakeAlerts) Alerts() []alerting.Alert { return f }

// fakeWebhooks lists fixed deliveries and outbox entries.
type fakeWebhooks struct {
	deliveries []alerting.Delivery
	pending    []alerting.Notification
	err        error
}

func (f fakeWebhooks) Deliveries() []alerting.Delivery { return f.deliveries }
func (f fakeWebhooks) Pending() ([]alerting.Notification, error) {
	return f.pending, f.err
}

// amPayload is an Alertmanager webhook body with one firing
// ErrorBudgetBurn alert of the payments-availability SLO.
func amPayload(startsAt time.Time) string {
	return fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"ErrorBudgetBurn\"}","truncatedAlerts":0,
"status":"firing","receiver":"fusebox","groupLabels":{"alertname":"ErrorBudgetBurn"},
"commonLabels":{"alertname":"ErrorBudgetBurn","severity":"page","slo":"payments-availability"},
"commonAnnotations":{},"externalURL":"http://alertmanager:9093",
"alerts":[{"status":"firing","labels":{"alertname":"ErrorBudgetBurn","severity":"page","slo":"payments-availability","pipeline":"payments","long_window":"1h","short_window":"5m"},
"annotations":{"summary":"payments-availability burns its budget 14.9× too fast"},
"startsAt":%q,"endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"1a2b3c4d5e6f7a8b"}]}`,
		startsAt.Format(time.RFC3339))
}

func TestAlertmanagerWebhookStatuses(t *testing.T) {
	const path = "/api/v1/alertmanager"
	invalid := fmt.Errorf("%w: alerts[0].labels.alertname: missing", alerting.ErrInvalidPayload)
	tests := []struct {
		name     string
		r        req
		chunked  bool // no Content-Length, so only the reader's limit stops it
		recvErr  error
		want     int
		wantMsg  string
		received bool
	}{
		{name: "a request without credentials is unauthorized", r: req{body: amPayload(t0)}, want: 401, wantMsg: "bearer token"},
		{name: "a wrong bearer token is unauthorized", r: req{body: amPayload(t0), bearer: "nope"}, want: 401, wantMsg: "not valid"},
		{name: "a session cookie is not enough, even with its CSRF token", r: req{body: amPayload(t0)}, want: 401},
		{name: "an empty body is a bad request", r: req{bearer: testToken}, want: 400, wantMsg: "empty body"},
		{name: "a payload the receiver finds malformed is a bad request naming the field", r: req{body: `{"version":"4"}`, bearer: testToken},
			recvErr: invalid, want: 400, wantMsg: "alerts[0].labels.alertname", received: true},
		{name: "a body over the limit is too large", r: req{body: strings.Repeat(" ", alerting.MaxAlertmanagerPayload+1), bearer: testToken}, want: 413, wantMsg: "exceeds"},
		{name: "a body over the limit without a length is too large", r: req{body: strings.Repeat(" ", alerting.MaxAlertmanagerPayload+1), bearer: testToken},
			chunked: true, want: 413, wantMsg: "exceeds"},
		{name: "a failing receiver is an internal error that hides the cause", r: req{body: amPayload(t0), bearer: testToken},
			recvErr: errors.New("disk full"), want: 500, wantMsg: "internal error", received: true},
		{name: "a valid payload with the bearer token is accepted", r: req{body: amPayload(t0), bearer: testToken}, want: 200, wantMsg: `"ok"`, received: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recv := &fakeReceiver{err: tt.recvErr}
			ev := newEnv(t, func(c *Config) { c.AlertReceiver = recv })
			tt.r.method, tt.r.path = http.MethodPost, path
			if strings.Contains(tt.name, "session cookie") {
				session := ev.login("ana")
				tt.r.session, tt.r.csrf = session, ev.srv.auth.csrf(session)
			}
			var rec *httptest.ResponseRecorder
			if tt.chunked {
				hr := httptest.NewRequest(http.MethodPost, path, strings.NewReader(tt.r.body))
				hr.ContentLength = -1
				hr.Header.Set("Authorization", "Bearer "+tt.r.bearer)
				rec = httptest.NewRecorder()
				ev.e.ServeHTTP(rec, hr)
			} else {
				rec = ev.do(tt.r)
			}
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			if tt.want != 200 && !strings.Contains(body["error"], tt.wantMsg) {
				t.Errorf("error %q, want it to mention %q", body["error"], tt.wantMsg)
			}
			if tt.want == 200 && !strings.Contains(rec.Body.String(), tt.wantMsg) {
				t.Errorf("body %s, want %s", rec.Body, tt.wantMsg)
			}
			if got := len(recv.received()) > 0; got != tt.received {
				t.Errorf("receiver called: %t, want %t", got, tt.received)
			}
			if tt.received && recv.received()[0] != tt.r.body {
				t.Error("the receiver did not get the exact body")
			}
		})
	}
}

func TestAlertmanagerWebhookWithoutReceiverIsNotFound(t *testing.T) {
	ev := newEnv(t)
	rec := ev.do(req{method: http.MethodPost, path: "/api/v1/alertmanager", body: amPayload(t0), bearer: testToken})
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "not enabled") {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if rec := ev.do(req{method: http.MethodPost, path: "/api/v1/alertmanager", body: amPayload(t0)}); rec.Code != 401 {
		t.Errorf("without credentials: status %d, want 401 before anything else", rec.Code)
	}
}

// apiAlert is GET /api/v1/alerts's alert as a client decodes it.
type apiAlert struct {
	Fingerprint string            `json:"fingerprint"`
	Name        string            `json:"name"`
	Source      string            `json:"source"`
	State       string            `json:"state"`
	Severity    string            `json:"severity"`
	Labels      map[string]string `json:"labels"`
	StartsAt    *time.Time        `json:"starts_at"`
	EndsAt      *time.Time        `json:"ends_at"`
	History     []struct {
		At       time.Time `json:"at"`
		From, To string
	} `json:"history"`
	Deliveries []struct {
		Receiver, Result string
		Round, Requests  int
	} `json:"deliveries"`
}

func getAlerts(t *testing.T, ev *env) (alerts []apiAlert, raw map[string]json.RawMessage) {
	t.Helper()
	rec := ev.do(req{method: http.MethodGet, path: "/api/v1/alerts"})
	if rec.Code != 200 {
		t.Fatalf("GET /api/v1/alerts: %d %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw["alerts"], &alerts); err != nil {
		t.Fatal(err)
	}
	return alerts, raw
}

func TestReceivedAlertsAreListedWithTheirSource(t *testing.T) {
	ev := newEnv(t)
	clock := ev.clock
	am, err := alerting.NewAlertManager(alerting.AlertManagerConfig{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ev = newEnv(t, func(c *Config) { c.Alerts, c.AlertReceiver = am, am })

	rec := ev.do(req{method: http.MethodPost, path: "/api/v1/alertmanager", body: amPayload(t0.Add(-time.Minute)), bearer: testToken})
	if rec.Code != 200 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	alerts, _ := getAlerts(t, ev)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	if a.Name != "ErrorBudgetBurn" || a.Source != "alertmanager" || a.State != "firing" || a.Severity != "page" ||
		a.Labels["slo"] != "payments-availability" || a.Labels["pipeline"] != "payments" {
		t.Errorf("alert %+v", a)
	}
	if a.StartsAt == nil || !a.StartsAt.Equal(t0.Add(-time.Minute)) || a.EndsAt != nil {
		t.Errorf("starts_at %v, ends_at %v", a.StartsAt, a.EndsAt)
	}
	if len(a.History) == 0 || a.History[len(a.History)-1].To != "firing" {
		t.Errorf("history %+v", a.History)
	}
	if a.Deliveries == nil {
		t.Error("deliveries is null, want a list")
	}

	// A malformed payload is refused and leaves the stored alerts as they
	// were.
	for _, body := range []string{`{"version":"3","status":"firing","alerts":[]}`, `not json`, `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{}}]}`} {
		rec := ev.do(req{method: http.MethodPost, path: "/api/v1/alertmanager", body: body, bearer: testToken})
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("POST %s: %d %s, want 400 with an error", body, rec.Code, rec.Body)
		}
	}
	after, _ := getAlerts(t, ev)
	if len(after) != 1 || after[0].Fingerprint != a.Fingerprint || after[0].State != "firing" {
		t.Errorf("after malformed payloads: %+v", after)
	}

	// The page shows it with its source, and the header counts it.
	doc := ev.page("/alerts", "")
	row := doc.Find(testid("alerts-firing") + " " + testid("alert"))
	if row.Length() != 1 || text(row.Find(testid("alert-source"))) != "alertmanager" || text(row.Find(testid("alert-name"))) != "ErrorBudgetBurn" {
		t.Errorf("firing rows: %d, %q", row.Length(), text(row))
	}
	if got := text(doc.Find(testid("alerts-count"))); got != "alerts: 1 firing ▲" {
		t.Errorf("alerts-count %q", got)
	}
}

func TestAlertsJSONShape(t *testing.T) {
	alerts := fakeAlerts{
		{AlertRecord: alerting.AlertRecord{
			Fingerprint: "f1", Name: alerting.AlertErrorBudgetBurn, Severity: "page", State: alerting.AlertFiring,
			Labels:      map[string]string{"alertname": "ErrorBudgetBurn", "slo": "payments-availability", "pipeline": "payments", "severity": "page"},
			Annotations: map[string]string{"summary": "burning"}, Source: alerting.SourceFusebox,
			ActiveAt: t0.Add(-2 * time.Minute), StartsAt: t0.Add(-2 * time.Minute),
			History: []alerting.AlertTransition{{At: t0.Add(-2 * time.Minute), To: alerting.AlertFiring, Detail: "burn 14.9× over 1h"}},
		}, Deliveries: []alerting.Delivery{{ID: 7, Receiver: "hooks", At: t0, Status: alerting.AlertFiring, Fingerprints: []string{"f1"}, Result: alerting.DeliveryFailure, Round: 1, Requests: 3, Error: "503"}}},
		{AlertRecord: alerting.AlertRecord{
			Fingerprint: "f2", Name: alerting.AlertBreakerOpen, Severity: "ticket", State: alerting.AlertResolved,
			Labels: map[string]string{"alertname": "BreakerOpen", "pipeline": "search"}, Source: alerting.SourceFusebox,
			StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(-30 * time.Minute),
		}},
	}
	ev := newEnv(t, func(c *Config) {
		c.Alerts = alerts
		c.Webhooks = fakeWebhooks{deliveries: alerts[0].Deliveries, pending: []alerting.Notification{{ID: 1, Receiver: "hooks"}}}
	})
	rec := ev.do(req{method: http.MethodGet, path: "/api/v1/alerts"})
	var body struct {
		Alerts   []map[string]any `json:"alerts"`
		Webhooks struct {
			Pending    *int             `json:"pending"`
			Deliveries []map[string]any `json:"deliveries"`
		} `json:"webhooks"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
		t.Fatalf("%d %v: %s", rec.Code, err, rec.Body)
	}
	if len(body.Alerts) != 2 {
		t.Fatalf("%d alerts", len(body.Alerts))
	}
	for _, key := range []string{"name", "source", "labels", "state", "severity", "starts_at", "ends_at", "history", "deliveries", "fingerprint", "annotations"} {
		for i, a := range body.Alerts {
			if _, ok := a[key]; !ok {
				t.Errorf("alert %d has no %q: %v", i, key, a)
			}
		}
	}
	first := body.Alerts[0]
	if first["ends_at"] != nil || first["starts_at"] != "2025-03-14T11:58:00Z" {
		t.Errorf("starts_at %v, ends_at %v", first["starts_at"], first["ends_at"])
	}
	d := first["deliveries"].([]any)[0].(map[string]any)
	if d["receiver"] != "hooks" || d["result"] != "failure" || d["requests"] != 3.0 || d["error"] != "503" {
		t.Errorf("delivery %v", d)
	}
	if h := body.Alerts[1]["history"].([]any); len(h) != 0 {
		t.Errorf("history %v, want an empty list", h)
	}
	if body.Webhooks.Pending == nil || *body.Webhooks.Pending != 1 || len(body.Webhooks.Deliveries) != 1 {
		t.Errorf("webhooks %+v", body.Webhooks)
	}
}

func TestAlertsPage(t *testing.T) {
	alerts := fakeAlerts{
		{AlertRecord: alerting.AlertRecord{
			Fingerprint: "f1", Name: alerting.AlertErrorBudgetBurn, Severity: "page", State: alerting.AlertFiring,
			Labels: map[string]string{"alertname": "ErrorBudgetBurn", "slo": "payments-availability", "pipeline": "payments", "severity": "page",
				"long_window": "1h", "short_window": "5m"},
			Annotations: map[string]string{"summary": "SLO payments-availability is burning its error budget 14.9× too fast", "description": "Burn rate 14.9× over 1h"},
			Source:      alerting.SourceFusebox, ActiveAt: t0.Add(-200 * time.Second), StartsAt: t0.Add(-200 * time.Second),
			History: []alerting.AlertTransition{
				{At: t0.Add(-2 * time.Hour), To: alerting.AlertFiring}, {At: t0.Add(-time.Hour), From: alerting.AlertFiring, To: alerting.AlertResolved},
				{At: t0.Add(-200 * time.Second), From: alerting.AlertResolved, To: alerting.AlertFiring, Detail: "burn 14.9× over 1h, 20.0× over 5m"},
			},
		}, Deliveries: []alerting.Delivery{{Receiver: "hooks", At: t0, Status: alerting.AlertFiring, Result: alerting.DeliverySuccess, Round: 2, Requests: 1}}},
		{AlertRecord: alerting.AlertRecord{
			Fingerprint: "f3", Name: alerting.AlertBreakerOpen, Severity: "ticket", State: alerting.AlertPending,
			Labels: map[string]string{"alertname": "BreakerOpen", "pipeline": "payments"}, Source: alerting.SourceFusebox, ActiveAt: t0.Add(-10 * time.Second),
		}},
		{AlertRecord: alerting.AlertRecord{
			Fingerprint: "f2", Name: "HighLatency", Severity: "warning", State: alerting.AlertResolved,
			Labels: map[string]string{"alertname": "HighLatency", "pipeline": "elsewhere"}, Source: alerting.SourceAlertmanager,
			StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(-30 * time.Minute), GeneratorURL: "javascript:alert(1)",
			History: []alerting.AlertTransition{{At: t0.Add(-time.Hour), To: alerting.AlertFiring}, {At: t0.Add(-30 * time.Minute), From: alerting.AlertFiring, To: alerting.AlertResolved}},
		}},
	}
	hooks := fakeWebhooks{
		deliveries: []alerting.Delivery{
			{Receiver: "hooks", At: t0, Status: alerting.AlertFiring, Result: alerting.DeliverySuccess, Round: 2, Requests: 1},
			{Receiver: "hooks", At: t0.Add(-time.Minute), Status: alerting.AlertFiring, Result: alerting.DeliveryFailure, Round: 1, Requests: 3, Error: "503 Service Unavailable", NextAttempt: t0.Add(-50 * time.Second)},
		},
		pending: []alerting.Notification{{ID: 4, Receiver: "pager", CreatedAt: t0.Add(-time.Minute), Attempts: 2, LastError: "connection refused"}},
	}
	ev := newEnv(t, func(c *Config) { c.Alerts, c.Webhooks = alerts, hooks })
	doc := ev.page("/alerts", "")

	if got := text(doc.Find(testid("alerts-count"))); got != "alerts: 1 firing ▲" {
		t.Errorf("alerts-count %q", got)
	}
	firing := doc.Find(testid("alerts-firing") + " " + testid("alert"))
	if firing.Length() != 1 {
		t.Fatalf("%d firing", firing.Length())
	}
	checks := []struct{ testid, want string }{
		{"alert-state", "firing"},
		{"alert-name", "ErrorBudgetBurn"},
		{"alert-severity", "page"},
		{"alert-source", "fusebox"},
		{"alert-pipeline", "payments"},
		{"alert-since", "since 2025-03-14 11:56:40 (3m20s ago)"},
		{"alert-summary", "SLO payments-availability is burning its error budget 14.9× too fast"},
		{"delivery-result", "success"},
		{"delivery-attempts", "round 2 · 1 request"},
	}
	for _, c := range checks {
		if got := text(firing.Find(testid(c.testid)).First()); got != c.want {
			t.Errorf("%s: %q, want %q", c.testid, got, c.want)
		}
	}
	if href := firing.Find(testid("alert-pipeline")).AttrOr("href", ""); href != "/pipelines/payments" {
		t.Errorf("pipeline link %q", href)
	}
	hist := firing.Find(testid("alert-transition"))
	if hist.Length() != 3 || !strings.Contains(text(hist.First()), "resolved → firing") {
		t.Errorf("history: %d, newest %q", hist.Length(), text(hist.First()))
	}
	if got := text(firing.Find(testid("alert-labels"))); !strings.Contains(got, "slo=payments-availability") || strings.Contains(got, "alertname") {
		t.Errorf("labels %q", got)
	}

	if n := doc.Find(testid("alerts-pending") + " " + testid("alert")).Length(); n != 1 {
		t.Errorf("%d pending", n)
	}
	resolved := doc.Find(testid("alerts-resolved") + " " + testid("alert"))
	if resolved.Length() != 1 || text(resolved.Find(testid("alert-source"))) != "alertmanager" {
		t.Fatalf("resolved: %d %q", resolved.Length(), text(resolved))
	}
	if resolved.Find(testid("alert-pipeline")).Is("a") {
		t.Error("a pipeline label from Alertmanager that names no pipeline of ours is linked")
	}
	if strings.Contains(doc.Text(), "javascript:") || resolved.Find(`a[href^="javascript"]`).Length() != 0 {
		t.Error("an unsafe generator URL is linked")
	}
	if resolved.Find(testid("alert-transition")).Length() != 2 {
		t.Error("the resolved alert shows no history")
	}

	wh := doc.Find(testid("webhooks"))
	if got := text(wh.Find(testid("outbox-pending"))); got != "1 notifications waiting in the outbox" {
		t.Errorf("outbox %q", got)
	}
	if got := text(wh.Find(testid("outbox-entry"))); !strings.Contains(got, "pager") || !strings.Contains(got, "connection refused") {
		t.Errorf("outbox entry %q", got)
	}
	rows := wh.Find(testid("delivery"))
	if rows.Length() != 2 {
		t.Fatalf("%d deliveries", rows.Length())
	}
	second := rows.Eq(1)
	if text(second.Find(testid("delivery-receiver"))) != "hooks" || text(second.Find(testid("delivery-result"))) != "failure" ||
		text(second.Find(testid("delivery-attempts"))) != "round 1 · 3 requests" || text(second.Find(testid("delivery-error"))) != "503 Service Unavailable" {
		t.Errorf("failed delivery %q", text(second))
	}
}

func TestAlertsPageWithoutAlerting(t *testing.T) {
	ev := newEnv(t)
	doc := ev.page("/alerts", "")
	if got := text(doc.Find(testid("no-alerts"))); !strings.Contains(got, "not configured") {
		t.Errorf("no-alerts %q", got)
	}
	if doc.Find(testid("webhooks")).Length() != 0 {
		t.Error("webhooks shown without a notifier")
	}
	if got := text(doc.Find(testid("alerts-count"))); got != "alerts: none firing" {
		t.Errorf("alerts-count %q", got)
	}
	rec := ev.do(req{method: "GET", path: "/api/v1/alerts"})
	if strings.TrimSpace(rec.Body.String()) != `{"alerts":[]}` {
		t.Errorf("GET /api/v1/alerts: %s", rec.Body)
	}
}

func TestAlertsPageSaysWhenTheOutboxCannotBeRead(t *testing.T) {
	ev := newEnv(t, func(c *Config) {
		c.Alerts = fakeAlerts{}
		c.Webhooks = fakeWebhooks{err: errors.New("bolt: closed")}
	})
	doc := ev.page("/alerts", "")
	if got := text(doc.Find(testid("outbox-pending"))); !strings.Contains(got, "could not be read") {
		t.Errorf("outbox %q", got)
	}
	if doc.Find(testid("no-firing")).Length() != 1 || doc.Find(testid("no-deliveries")).Length() != 1 {
		t.Error("empty sections are not said to be empty")
	}
	var body struct {
		Webhooks map[string]any `json:"webhooks"`
	}
	rec := ev.do(req{method: "GET", path: "/api/v1/alerts"})
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Webhooks["pending"] != nil {
		t.Errorf("webhooks %v (%v)", body.Webhooks, err)
	}
}

// realEngine is an SLO engine on the test clock with an SLO on payments
// that has seen calls fail for the last ten minutes, after an hour of
// successes.
func realEngine(t *testing.T, ev *env) *alerting.SLOEngine {
	t.Helper()
	eng, err := alerting.NewSLOEngine(alerting.SLOEngineConfig{
		SLOs:  []alerting.SLOConfig{{Name: "payments-availability", Pipeline: "payments", Objective: 99.9, Period: 30 * 24 * time.Hour}},
		Clock: ev.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := ev.clock.Now()
	for i := range 70 * 60 {
		out := resilience.OutcomeSuccess
		if i >= 60*60 {
			out = resilience.OutcomeFailure
		}
		eng.Observe(ctx, resilience.Event{Kind: resilience.KindCallEnd, Pipeline: "payments", Outcome: out, Time: start.Add(time.Duration(i) * time.Second)})
	}
	ev.clock.Advance(70 * time.Minute)
	return eng
}

func TestRealEngineAndAlertManagerOnTheSLOPage(t *testing.T) {
	ev := newEnv(t)
	eng := realEngine(t, ev)
	am, err := alerting.NewAlertManager(alerting.AlertManagerConfig{SLOs: eng, Clock: ev.clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := am.Evaluate(ev.clock.Now()); err != nil {
		t.Fatal(err)
	}
	ev2 := newEnv(t, func(c *Config) { c.SLOs, c.Alerts = eng, am; c.Clock = ev.clock })
	doc := ev2.page("/slos", "")
	sec := doc.Find(testid("slo-payments-availability"))
	if sec.Length() != 1 {
		t.Fatalf("no SLO section: %s", doc.Text())
	}
	page := sec.Find(`[data-testid="slo-alert-row"][data-long="1h"]`)
	if got := page.AttrOr("data-status", ""); got != "firing" {
		t.Errorf("1h page row status %q, want firing: %q", got, text(page))
	}
	// Ten minutes of errors after an hour of successes is a burn fast
	// enough for every row; the header counts the firing alerts.
	firing := sec.Find(`[data-testid="slo-alert-row"][data-status="firing"]`).Length()
	if firing != 4 {
		t.Errorf("%d rows firing, want 4", firing)
	}
	if got, want := text(doc.Find(testid("alerts-count"))), fmt.Sprintf("alerts: %d firing ▲", firing); got != want {
		t.Errorf("alerts-count %q, want %q", got, want)
	}
	if n := len(strings.Fields(sec.Find(".budget-line").AttrOr("points", ""))); n != 60 {
		t.Errorf("budget chart has %d points, want 60", n)
	}
	alerts, _ := getAlerts(t, ev2)
	found := false
	for _, a := range alerts {
		if a.Name == "ErrorBudgetBurn" && a.Labels["slo"] == "payments-availability" && a.Source == "fusebox" && a.State == "firing" {
			found = true
		}
	}
	if !found {
		t.Errorf("no firing ErrorBudgetBurn of payments-availability in %+v", alerts)
	}
	tile := ev2.page("/", "").Find(testid("budget-payments"))
	if got := text(tile); !strings.HasPrefix(got, "budget ") || !strings.Contains(got, "left · burn ") {
		t.Errorf("tile budget line %q", got)
	}
}
