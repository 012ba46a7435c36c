package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func loginForm(token string) url.Values {
	return url.Values{"token": {token}, "name": {"ana"}, "next": {"/"}}
}

func TestGuessingTheAdminTokenIsRefusedWith429AfterTenFailuresAMinute(t *testing.T) {
	var logs syncBuffer
	ev := newEnv(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	codes := map[int]int{}
	for i := range 100 {
		rec := ev.do(req{method: http.MethodPost, path: "/login", form: loginForm(fmt.Sprintf("guess-%03d", i))})
		codes[rec.Code]++
		if rec.Code == http.StatusTooManyRequests {
			if ra := rec.Header().Get("Retry-After"); ra != "60" {
				t.Fatalf("Retry-After = %q, want 60 (the rest of the minute)", ra)
			}
		}
	}
	if codes[401] != 10 || codes[429] != 90 {
		t.Errorf("100 wrong tokens got %v, want 10 × 401 then 90 × 429", codes)
	}
	if rec := ev.do(req{method: http.MethodPost, path: "/login", form: loginForm(testToken)}); rec.Code != http.StatusTooManyRequests {
		t.Errorf("the right token while refused: %d, want 429 (a refusal must not say whether the token was right)", rec.Code)
	}
	rec := ev.do(req{method: http.MethodPut, path: "/api/v1/pipelines/payments/breaker", bearer: testToken, body: `{"state":"auto","reason":"x"}`})
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("a bearer request from the same client: %d, want 429 with Retry-After", rec.Code)
	}
	if n := strings.Count(logs.String(), "too many failed attempts"); n != 1 {
		t.Errorf("the refusals were logged %d times, want once per window:\n%s", n, logs.String())
	}
	ev.clock.Advance(time.Minute)
	if rec := ev.do(req{method: http.MethodPost, path: "/login", form: loginForm(testToken)}); rec.Code != http.StatusSeeOther {
		t.Errorf("the right token a minute later: %d, want 303", rec.Code)
	}
}

func TestWrongBearerTokensAreLimitedPerClientAndInTotal(t *testing.T) {
	ev := newEnv(t)
	put := func(addr, auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPut, "/api/v1/pipelines/payments/breaker", strings.NewReader(`{"state":"auto","reason":"x"}`))
		r.RemoteAddr = addr + ":4321"
		r.Header.Set("Authorization", auth)
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		ev.e.ServeHTTP(rec, r)
		return rec
	}
	for i := range 10 {
		if rec := put("198.51.100.1", "Bearer wrong"); rec.Code != 401 {
			t.Fatalf("wrong token #%d: %d, want 401", i+1, rec.Code)
		}
	}
	if rec := put("198.51.100.1", "Bearer wrong"); rec.Code != 429 {
		t.Errorf("the 11th wrong token: %d, want 429", rec.Code)
	}
	if rec := put("198.51.100.2", "Bearer "+testToken); rec.Code != 200 {
		t.Errorf("another client with the right token: %d, want 200", rec.Code)
	}
	// 90 more failures from 90 addresses reach the total of 100.
	for i := range 90 {
		put(fmt.Sprintf("203.0.113.%d", i), "Bearer wrong")
	}
	if rec := put("198.51.100.3", "Bearer "+testToken); rec.Code != 429 {
		t.Errorf("a fresh client once 100 failures were counted: %d, want 429", rec.Code)
	}
}

func TestTheAdminTokenIsComparedAsADigest(t *testing.T) {
	ev := newEnv(t)
	want := sha256.Sum256([]byte(testToken))
	if !bytes.Equal(ev.srv.auth.token, want[:]) {
		t.Error("the authenticator keeps the token itself, whose comparison time depends on its length")
	}
	for _, tok := range []string{"", "s", testToken[:len(testToken)-1], testToken + "x", strings.Repeat("s", 1000)} {
		if ev.srv.auth.tokenOK(tok) {
			t.Errorf("tokenOK(%q) = true", tok)
		}
	}
	if !ev.srv.auth.tokenOK(testToken) {
		t.Error("tokenOK(the token) = false")
	}
}

func TestTheBearerSchemeIsCaseInsensitive(t *testing.T) {
	ev := newEnv(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		r := httptest.NewRequest(http.MethodPut, "/api/v1/pipelines/payments/breaker", strings.NewReader(`{"state":"auto","reason":"x"}`))
		r.Header.Set("Authorization", scheme+" "+testToken)
		rec := httptest.NewRecorder()
		ev.e.ServeHTTP(rec, r)
		if rec.Code != 200 {
			t.Errorf("%s scheme: %d, want 200", scheme, rec.Code)
		}
	}
}

func TestACSRFTokenInTheQueryStringIsRefused(t *testing.T) {
	ev := newEnv(t)
	session := ev.login("ana")
	csrf := ev.srv.auth.csrf(session)
	form := url.Values{"state": {"forced_open"}, "reason": {"vendor incident"}}
	r := httptest.NewRequest(http.MethodPost, "/pipelines/payments/breaker?csrf="+url.QueryEscape(csrf), strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: session})
	rec := httptest.NewRecorder()
	ev.e.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden {
		t.Errorf("CSRF token in the query string: %d, want 403", rec.Code)
	}
	form.Set("csrf", csrf)
	if rec := ev.do(req{method: http.MethodPost, path: "/pipelines/payments/breaker", session: session, form: form}); rec.Code != http.StatusSeeOther {
		t.Errorf("CSRF token in the form body: %d, want 303", rec.Code)
	}
}

func TestTheLoginTokenIsReadFromTheFormBodyOnly(t *testing.T) {
	ev := newEnv(t)
	r := httptest.NewRequest(http.MethodPost, "/login?token="+url.QueryEscape(testToken), strings.NewReader("next=/"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	ev.e.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("the token in the query string: %d, want 401", rec.Code)
	}
	if rec := ev.do(req{method: http.MethodPost, path: "/login", form: loginForm("  " + testToken + "\n")}); rec.Code != http.StatusSeeOther {
		t.Errorf("the token with spaces around it, as the Bearer path trims them: %d, want 303", rec.Code)
	}
}

func TestNewRefusesAnAdminTokenWithSpacesOrOfOneRepeatedCharacter(t *testing.T) {
	for _, tok := range []string{" " + testToken, testToken + "\n", "aaaaaaaaaaaaaaaaaaaa", "éééééééééééééééé"} {
		if _, err := New(Config{Stats: newFakeStats(), AdminToken: tok}); err == nil || !strings.Contains(err.Error(), "Config.AdminToken") {
			t.Errorf("New with token %q: %v, want an error naming Config.AdminToken", tok, err)
		}
	}
}

func TestACookieCopiedBeforeLogoutIsRefusedAfterIt(t *testing.T) {
	ev := newEnv(t)
	session := ev.login("ana")
	csrf := ev.srv.auth.csrf(session)
	good := `{"state":"forced_open","reason":"vendor incident"}`
	put := req{method: http.MethodPut, path: "/api/v1/pipelines/payments/breaker", body: good, session: session, csrf: csrf}
	if rec := ev.do(put); rec.Code != 200 {
		t.Fatalf("before logout: %d", rec.Code)
	}
	if rec := ev.do(req{method: http.MethodPost, path: "/logout", session: session, form: url.Values{"csrf": {csrf}}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	if rec := ev.do(put); rec.Code != http.StatusUnauthorized {
		t.Errorf("the copied cookie after logout: %d, want 401", rec.Code)
	}
	if other := ev.login("bo"); ev.do(req{method: http.MethodPut, path: put.path, body: good, session: other, csrf: ev.srv.auth.csrf(other)}).Code != 200 {
		t.Error("a new session after the logout does not work")
	}
}

func TestChangingTheAdminTokenEndsEverySession(t *testing.T) {
	ev := newEnv(t)
	session := ev.login("ana")
	rotated := newEnv(t, func(c *Config) { c.AdminToken = "another-admin-token-0123" })
	rec := rotated.do(req{method: http.MethodPut, path: "/api/v1/pipelines/payments/breaker", body: `{"state":"auto","reason":"x"}`,
		session: session, csrf: rotated.srv.auth.csrf(session)})
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("a session of the old token: %d, want 401", rec.Code)
	}
}

func TestAPIErrorsNameTheJSONFieldNotTheGoType(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.AlertReceiver = &fakeReceiver{} })
	tests := []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"a number for the state", "PUT", "/api/v1/pipelines/payments/breaker", `{"state":1,"reason":"x"}`, 400, "state: a JSON number, want a string"},
		{"a key given twice", "PUT", "/api/v1/pipelines/payments/breaker", `{"state":"forced_open","reason":"x","state":"auto"}`, 400, `"state" is given twice`},
		{"an unknown field", "PUT", "/api/v1/pipelines/payments/breaker", `{"state":"auto","reason":"x","force":true}`, 400, `unknown field "force" (known: duration, reason, state)`},
		{"an unfinished body", "PUT", "/api/v1/pipelines/payments/breaker", `{"state":`, 400, "malformed JSON body"},
		{"an array body", "PUT", "/api/v1/pipelines/payments/breaker", `[1]`, 400, "the body is a JSON array: want an object"},
		{"an empty body", "PUT", "/api/v1/pipelines/payments/breaker", ` `, 400, "the body is empty"},
		{"a string for a rate", "PUT", "/api/v1/demo/downstreams/payments", `{"error_rate":"high"}`, 400, "error_rate: a JSON string, want a number"},
		{"a nested key given twice", "POST", "/api/v1/alertmanager", `{"version":"4","alerts":[{"labels":{"a":"1","a":"2"}}]}`, 400, `"alerts"[0]."labels"."a" is given twice`},
		{"a string for the alerts", "POST", "/api/v1/alertmanager", `{"version":"4","status":"firing","alerts":"nope"}`, 400, "alerts: a JSON string, want a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := ev.do(req{method: tt.method, path: tt.path, body: tt.body, bearer: testToken})
			var out struct{ Error string }
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
			if rec.Code != tt.want || !strings.Contains(out.Error, tt.msg) {
				t.Errorf("%d %q, want %d with %q", rec.Code, out.Error, tt.want, tt.msg)
			}
			for _, goWord := range []string{"Go struct", "ui.", "telemetry", "resilience", "overrideBody", "json:"} {
				if strings.Contains(out.Error, goWord) {
					t.Errorf("the message %q speaks Go (%q)", out.Error, goWord)
				}
			}
		})
	}
}
