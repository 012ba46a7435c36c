package ui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

func TestNewRejectsAnIncompleteConfig(t *testing.T) {
	stats := newFakeStats()
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"a config without stats is refused", Config{AdminToken: testToken}, "Config.Stats"},
		{"a config without an admin token is refused", Config{Stats: stats}, "Config.AdminToken"},
		{"a blank admin token is refused", Config{Stats: stats, AdminToken: "  "}, "Config.AdminToken"},
		{"a negative session TTL is refused", Config{Stats: stats, AdminToken: testToken, SessionTTL: -time.Second}, "Config.SessionTTL"},
		{"a negative update interval is refused", Config{Stats: stats, AdminToken: testToken, UpdateInterval: -1}, "Config.UpdateInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("New: error %v, want one naming %s", err, tt.field)
			}
		})
	}
}

func TestEveryResponseCarriesTheSecurityHeaders(t *testing.T) {
	ev := newEnv(t)
	paths := []req{
		{method: "GET", path: "/"},
		{method: "GET", path: "/pipelines/payments"},
		{method: "GET", path: "/pipelines/nope"},
		{method: "GET", path: "/alerts"},
		{method: "GET", path: "/audit"},
		{method: "GET", path: "/login"},
		{method: "GET", path: "/static/app.css"},
		{method: "GET", path: "/healthz"},
		{method: "GET", path: "/api/v1/pipelines"},
		{method: "PUT", path: "/api/v1/pipelines/payments/breaker"},
	}
	for _, r := range paths {
		rec := ev.do(r)
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s %s: CSP %q", r.method, r.path, csp)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s %s: %s = %q, want %q", r.method, r.path, k, got, want)
			}
		}
	}
}

func TestOverrideAPIStatusCodes(t *testing.T) {
	ev := newEnv(t)
	session := ev.login("ana")
	csrf := ev.srv.auth.csrf(session)
	const path = "/api/v1/pipelines/payments/breaker"
	good := `{"state":"forced_open","reason":"vendor incident"}`
	tests := []struct {
		name string
		r    req
		want int
	}{
		{"a request without credentials is unauthorized", req{body: good}, 401},
		{"a wrong bearer token is unauthorized", req{body: good, bearer: "guess"}, 401},
		{"a session without a CSRF token is forbidden", req{body: good, session: session}, 403},
		{"a session with a bad CSRF token is forbidden", req{body: good, session: session, csrf: "forged"}, 403},
		{"a forged session is unauthorized", req{body: good, session: session + "x", csrf: csrf}, 401},
		{"a session with its CSRF token may override", req{body: good, session: session, csrf: csrf}, 200},
		{"the bearer token may override", req{body: good, bearer: testToken}, 200},
		{"an unknown state is a bad request", req{body: `{"state":"sideways","reason":"x"}`, bearer: testToken}, 400},
		{"a missing reason is a bad request", req{body: `{"state":"forced_open"}`, bearer: testToken}, 400},
		{"a blank reason is a bad request", req{body: `{"state":"forced_open","reason":"  "}`, bearer: testToken}, 400},
		{"an unknown field is a bad request", req{body: `{"state":"auto","reason":"x","force":true}`, bearer: testToken}, 400},
		{"malformed JSON is a bad request", req{body: `{"state":`, bearer: testToken}, 400},
		{"trailing data is a bad request", req{body: good + `{}`, bearer: testToken}, 400},
		{"a bad duration is a bad request", req{body: `{"state":"forced_open","reason":"x","duration":"soon"}`, bearer: testToken}, 400},
		{"a duration on auto is a bad request", req{body: `{"state":"auto","reason":"x","duration":"1h"}`, bearer: testToken}, 400},
		{"an unknown pipeline is not found", req{path: "/api/v1/pipelines/nope/breaker", body: good, bearer: testToken}, 404},
		{"a pipeline the controls do not know is not found", req{path: "/api/v1/pipelines/search/breaker", body: good, bearer: testToken}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.method = http.MethodPut
			if tt.r.path == "" {
				tt.r.path = path
			}
			rec := ev.do(tt.r)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.want, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, rec.Body)
			}
			if tt.want >= 400 {
				if msg, _ := body["error"].(string); msg == "" {
					t.Errorf("error body %s has no error message", rec.Body)
				}
			}
		})
	}
}

func TestOverrideAPIPassesTheRequestToControls(t *testing.T) {
	ev := newEnv(t)
	rec := ev.do(req{method: "PUT", path: "/api/v1/pipelines/payments/breaker", bearer: testToken,
		body: `{"state":"forced_closed","reason":"  known flaky check  ","duration":"15m"}`})
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := ev.controls.requests()
	want := OverrideRequest{Pipeline: "payments", State: OverrideForcedClosed, Reason: "known flaky check", Actor: "api", Duration: 15 * time.Minute}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("Controls got %+v, want [%+v]", got, want)
	}
	var body struct{ Pipeline, State, Reason, Actor, Duration string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.State != "forced_closed" || body.Duration != "15m0s" || body.Actor != "api" {
		t.Errorf("answer %+v", body)
	}
	m := ev.reg.List()[0].Breaker().Metrics()
	if m.State != resilience.StateForcedClosed || m.Override.Reason != "known flaky check" {
		t.Errorf("breaker %v %+v, want forced closed with the reason", m.State, m.Override)
	}
}

func TestControlErrorsMapToStatuses(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"an unknown pipeline in the registry is not found", resilience.ErrUnknownPipeline, 404},
		{"a pipeline without a breaker is a conflict", resilience.ErrNoBreaker, 409},
		{"an invalid *Error is a bad request", Errorf(EINVALID, "until is past"), 400},
		{"any other error is an internal error that hides its text", errors.New("disk on fire"), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newEnv(t)
			ev.controls.err = tt.err
			rec := ev.do(req{method: "PUT", path: "/api/v1/pipelines/payments/breaker", bearer: testToken, body: `{"state":"auto","reason":"x"}`})
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d", rec.Code, tt.want)
			}
			if strings.Contains(rec.Body.String(), "disk on fire") {
				t.Errorf("the internal error leaked: %s", rec.Body)
			}
		})
	}
}

func TestAPIPipelinesShape(t *testing.T) {
	ev := newEnv(t)
	rec := ev.do(req{method: "GET", path: "/api/v1/pipelines"})
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	var body struct {
		Pipelines []struct {
			Name    string
			Breaker struct {
				State       string
				Forced      bool
				FailureRate *float64 `json:"failure_rate"`
			}
			Windows map[string]struct {
				CallsPerSecond       float64               `json:"calls_per_second"`
				EffectiveSuccessRate float64               `json:"effective_success_rate"`
				Latency              struct{ P99 float64 } `json:"latency_seconds"`
				Rejections           map[string]float64    `json:"rejections_per_second"`
			}
			Policies []string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Pipelines) != 2 || body.Pipelines[0].Name != "payments" || body.Pipelines[1].Name != "search" {
		t.Fatalf("pipelines %+v", body.Pipelines)
	}
	p := body.Pipelines[0]
	w := p.Windows["10s"]
	if p.Breaker.State != "open" || p.Breaker.FailureRate == nil || *p.Breaker.FailureRate != 0.62 ||
		w.CallsPerSecond != 10 || w.EffectiveSuccessRate != 0.9 || w.Latency.P99 != 0.41 ||
		w.Rejections["breaker_open"] != 0.5 || len(p.Policies) != 1 {
		t.Errorf("payments %+v", p)
	}
	for _, win := range []string{"10s", "1m", "5m"} {
		if _, ok := p.Windows[win]; !ok {
			t.Errorf("window %s missing", win)
		}
	}
}

func TestAPIPipelineDetail(t *testing.T) {
	ev := newEnv(t)
	rec := ev.do(req{method: "GET", path: "/api/v1/pipelines/payments"})
	var body struct {
		Name        string
		Transitions []struct{ From, To, Reason string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
		t.Fatalf("status %d, %v", rec.Code, err)
	}
	if len(body.Transitions) != 4 || body.Transitions[0].To != "open" || body.Transitions[0].Reason != "auto" {
		t.Errorf("transitions %+v", body.Transitions)
	}
	rec = ev.do(req{method: "GET", path: "/api/v1/pipelines/nope"})
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Errorf("unknown pipeline: %d %s", rec.Code, rec.Body)
	}
}

func TestAPIAuditAndAlerts(t *testing.T) {
	ev := newEnv(t)
	rec := ev.do(req{method: "GET", path: "/api/v1/audit"})
	var audit struct{ Entries []map[string]any }
	if err := json.Unmarshal(rec.Body.Bytes(), &audit); err != nil || rec.Code != 200 {
		t.Fatalf("audit: %d %v", rec.Code, err)
	}
	if len(audit.Entries) != 1 || audit.Entries[0]["actor"] != "ana" || audit.Entries[0]["until"] == nil {
		t.Errorf("audit %+v", audit.Entries)
	}
	if rec := ev.do(req{method: "GET", path: "/api/v1/audit?limit=0"}); rec.Code != 400 {
		t.Errorf("limit=0: status %d, want 400", rec.Code)
	}
	rec = ev.do(req{method: "GET", path: "/api/v1/alerts"})
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"alerts":[]}` {
		t.Errorf("alerts: %d %s", rec.Code, rec.Body)
	}
}

func TestDemoKnobsAPI(t *testing.T) {
	ev := newEnv(t)
	const path = "/api/v1/demo/downstreams/payments"
	tests := []struct {
		name string
		r    req
		want int
	}{
		{"changing knobs without credentials is unauthorized", req{path: path, body: `{"error_rate":0.5}`}, 401},
		{"an unknown downstream is not found", req{path: "/api/v1/demo/downstreams/nope", body: `{"error_rate":0.5}`, bearer: testToken}, 404},
		{"an error rate above 1 is a bad request", req{path: path, body: `{"error_rate":1.5}`, bearer: testToken}, 400},
		{"a negative latency is a bad request", req{path: path, body: `{"latency_ms":-1}`, bearer: testToken}, 400},
		{"an unknown knob is a bad request", req{path: path, body: `{"errors":1}`, bearer: testToken}, 400},
		{"valid knobs are applied", req{path: path, body: `{"error_rate":0.25,"latency_ms":100,"jitter_ms":20,"outage":true}`, bearer: testToken}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.method = http.MethodPut
			if rec := ev.do(tt.r); rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
		})
	}
	rec := ev.do(req{method: "GET", path: "/api/v1/demo/downstreams"})
	want := `{"downstreams":[{"name":"payments","description":"intermittent outages","knobs":{"error_rate":0.25,"latency_ms":100,"jitter_ms":20,"outage":true}}]}`
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != want {
		t.Errorf("GET downstreams: %d %s\nwant %s", rec.Code, rec.Body, want)
	}
}

func TestDemoRoutesAreNotFoundOutsideTheDemo(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.Faults = nil })
	if rec := ev.do(req{method: "GET", path: "/api/v1/demo/downstreams"}); rec.Code != 404 {
		t.Errorf("GET: status %d, want 404", rec.Code)
	}
	if rec := ev.do(req{method: "PUT", path: "/api/v1/demo/downstreams/x", bearer: testToken, body: `{}`}); rec.Code != 404 {
		t.Errorf("PUT: status %d, want 404", rec.Code)
	}
}

func TestLoginFlow(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.Secure = true })

	rec := ev.do(req{method: "POST", path: "/login", form: url.Values{"token": {"wrong"}}})
	if rec.Code != 401 || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("wrong token: status %d, cookies %v", rec.Code, rec.Result().Cookies())
	}

	rec = ev.do(req{method: "POST", path: "/login", form: url.Values{"token": {testToken}, "name": {"ana"}, "next": {"/pipelines/payments"}}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/pipelines/payments" {
		t.Fatalf("login: status %d, location %q", rec.Code, rec.Header().Get("Location"))
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	ck := cookies[0]
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
		t.Errorf("cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/", ck)
	}
	session := ck.Value
	csrf := ev.srv.auth.csrf(session)

	form := url.Values{"state": {"forced_open"}, "reason": {"vendor incident"}, "duration": {"1h"}}
	rec = ev.do(req{method: "POST", path: "/pipelines/payments/breaker", form: form, session: session})
	if rec.Code != 403 {
		t.Fatalf("form without CSRF: status %d, want 403", rec.Code)
	}
	rec = ev.do(req{method: "POST", path: "/pipelines/payments/breaker", form: form})
	if rec.Code != 401 {
		t.Fatalf("form without a session: status %d, want 401", rec.Code)
	}
	form.Set("csrf", csrf)
	rec = ev.do(req{method: "POST", path: "/pipelines/payments/breaker", form: form, session: session})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/pipelines/payments" {
		t.Fatalf("form: status %d, location %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	got := ev.controls.requests()
	if len(got) != 1 || got[0].Actor != "ana" || got[0].Duration != time.Hour || got[0].State != OverrideForcedOpen {
		t.Fatalf("Controls got %+v", got)
	}

	form.Set("reason", "")
	if rec = ev.do(req{method: "POST", path: "/pipelines/payments/breaker", form: form, session: session}); rec.Code != 400 {
		t.Errorf("form without a reason: status %d, want 400", rec.Code)
	}
	form.Set("reason", "x")
	form.Set("state", "upside_down")
	if rec = ev.do(req{method: "POST", path: "/pipelines/payments/breaker", form: form, session: session}); rec.Code != 400 {
		t.Errorf("form with an unknown state: status %d, want 400", rec.Code)
	}

	rec = ev.do(req{method: "POST", path: "/logout", form: url.Values{"csrf": {csrf}}, session: session})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("logout: status %d", rec.Code)
	}
	if ck := rec.Result().Cookies(); len(ck) != 1 || ck[0].MaxAge >= 0 {
		t.Errorf("logout cookies %+v: want the session cleared", ck)
	}
}

func TestSessionsExpire(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.SessionTTL = time.Hour })
	session := ev.login("ana")
	csrf := ev.srv.auth.csrf(session)
	body := `{"state":"auto","reason":"x"}`
	if rec := ev.do(req{method: "PUT", path: "/api/v1/pipelines/payments/breaker", body: body, session: session, csrf: csrf}); rec.Code != 200 {
		t.Fatalf("fresh session: status %d", rec.Code)
	}
	ev.clock.Advance(time.Hour)
	if rec := ev.do(req{method: "PUT", path: "/api/v1/pipelines/payments/breaker", body: body, session: session, csrf: csrf}); rec.Code != 401 {
		t.Fatalf("expired session: status %d, want 401", rec.Code)
	}
}

func TestLoginRedirectsOnlyWithinTheSite(t *testing.T) {
	tests := []struct{ next, want string }{
		{"/pipelines/payments", "/pipelines/payments"},
		{"https://evil.example/", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"", "/"},
	}
	for _, tt := range tests {
		if got := safeNext(tt.next); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}
}

func TestKnobsForm(t *testing.T) {
	ev := newEnv(t)
	session := ev.login("ana")
	form := url.Values{"csrf": {ev.srv.auth.csrf(session)}, "error_rate": {"0.4"}, "latency_ms": {"250"}, "jitter_ms": {"50"}, "outage": {"true"}, "back": {"/pipelines/payments"}}
	rec := ev.do(req{method: "POST", path: "/demo/downstreams/payments", form: form, session: session})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/pipelines/payments" {
		t.Fatalf("status %d, location %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if k := ev.faults.Downstreams()[0].Knobs; k != (Knobs{ErrorRate: 0.4, LatencyMS: 250, JitterMS: 50, Outage: true}) {
		t.Errorf("knobs %+v", k)
	}
	form.Set("error_rate", "lots")
	if rec := ev.do(req{method: "POST", path: "/demo/downstreams/payments", form: form, session: session}); rec.Code != 400 {
		t.Errorf("bad error rate: status %d, want 400", rec.Code)
	}
	form.Del("csrf")
	if rec := ev.do(req{method: "POST", path: "/demo/downstreams/payments", form: form, session: session}); rec.Code != 403 {
		t.Errorf("no CSRF: status %d, want 403", rec.Code)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	var notReady error
	ev := newEnv(t, func(c *Config) {
		c.Ready = func(context.Context) error { return notReady }
	})
	if rec := ev.do(req{method: "GET", path: "/healthz"}); rec.Code != 200 {
		t.Errorf("healthz: status %d", rec.Code)
	}
	if rec := ev.do(req{method: "GET", path: "/readyz"}); rec.Code != 200 {
		t.Errorf("ready: status %d", rec.Code)
	}
	notReady = errors.New("store not open")
	if rec := ev.do(req{method: "GET", path: "/readyz"}); rec.Code != 503 {
		t.Errorf("not ready: status %d, want 503", rec.Code)
	}
}

func TestStaticFiles(t *testing.T) {
	ev := newEnv(t)
	rec := ev.do(req{method: "GET", path: "/static/app.js"})
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Type"), "javascript") || rec.Header().Get("ETag") == "" {
		t.Errorf("app.js: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := ev.do(req{method: "GET", path: "/static/nope.js"}); rec.Code != 404 {
		t.Errorf("unknown file: status %d", rec.Code)
	}
	if rec := ev.do(req{method: "GET", path: "/static/"}); rec.Code != 404 {
		t.Errorf("directory: status %d", rec.Code)
	}
}

func TestPagesAnswerTheRightStatus(t *testing.T) {
	ev := newEnv(t)
	tests := []struct {
		path string
		want int
	}{
		{"/", 200}, {"/pipelines/payments", 200}, {"/pipelines/search", 200}, {"/pipelines/nope", 404},
		{"/alerts", 200}, {"/audit", 200}, {"/login", 200},
	}
	for _, tt := range tests {
		rec := ev.do(req{method: "GET", path: tt.path})
		if rec.Code != tt.want {
			t.Errorf("GET %s: status %d, want %d", tt.path, rec.Code, tt.want)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", tt.path, ct)
		}
	}
}

func TestSafeNextRefusesControlCharacters(t *testing.T) {
	for _, next := range []string{"/\t/evil.example", "/\n/evil.example", "//evil.example", "/\\evil.example", "https://evil.example"} {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", next, got)
		}
	}
	if got := safeNext("/pipelines/payments"); got != "/pipelines/payments" {
		t.Errorf("safeNext of a local path = %q", got)
	}
}

func TestFormPostsOverTheLimitAreRefused(t *testing.T) {
	ev := newEnv(t)
	body := "token=x&pad=" + strings.Repeat("a", maxForm)
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	ev.e.ServeHTTP(rec, r)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST /login with a %d-byte body: %d, want 413", len(body), rec.Code)
	}
}
