package ui

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLiveStreamsAreCappedPerClientAddressAndRefusalsLoggedOnce(t *testing.T) {
	var logs syncBuffer
	ev := newEnv(t, func(c *Config) {
		c.MaxStreamsPerClient = 2
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	ts := httptest.NewServer(ev.e)
	defer ts.Close()
	for range 2 {
		r, done := stream(t, ts, "/events")
		defer done()
		readEvent(t, r)
	}
	for range 5 {
		resp, err := ts.Client().Get(ts.URL + "/events")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a third stream from the same address: %d, want 429", resp.StatusCode)
		}
	}
	if n := strings.Count(logs.String(), "too many live streams from one client"); n != 1 {
		t.Errorf("5 refusals logged %d times, want once:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a refusal was logged as an error:\n%s", logs.String())
	}
	other, err := ev.srv.hub.add("", "198.51.100.7")
	if err != nil {
		t.Fatalf("a stream from another address: %v", err)
	}
	ev.srv.hub.remove(other)
}

func TestRequireLoginGuardsThePagesTheStreamAndTheReadAPI(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.RequireLogin = true })
	session := ev.login("ana")
	tests := []struct {
		path     string
		anon     int
		location string
	}{
		{"/", http.StatusSeeOther, "/login?next=%2F"},
		{"/pipelines/payments?x=1", http.StatusSeeOther, "/login?next=%2Fpipelines%2Fpayments%3Fx%3D1"},
		{"/alerts", http.StatusSeeOther, ""},
		{"/audit", http.StatusSeeOther, ""},
		{"/events", http.StatusUnauthorized, ""},
		{"/api/v1/pipelines", http.StatusUnauthorized, ""},
		{"/api/v1/audit", http.StatusUnauthorized, ""},
		{"/login", http.StatusOK, ""},
		{"/healthz", http.StatusOK, ""},
		{"/readyz", http.StatusOK, ""},
		{"/static/app.css", http.StatusOK, ""},
	}
	for _, tt := range tests {
		rec := ev.do(req{method: http.MethodGet, path: tt.path})
		if rec.Code != tt.anon {
			t.Errorf("GET %s without a login: %d, want %d", tt.path, rec.Code, tt.anon)
		}
		if tt.location != "" && rec.Header().Get("Location") != tt.location {
			t.Errorf("GET %s redirects to %q, want %q", tt.path, rec.Header().Get("Location"), tt.location)
		}
		if tt.path == "/events" {
			continue // a stream does not end by itself; the status above is enough
		}
		if rec := ev.do(req{method: http.MethodGet, path: tt.path, session: session}); rec.Code != http.StatusOK {
			t.Errorf("GET %s with a session: %d, want 200", tt.path, rec.Code)
		}
		if rec := ev.do(req{method: http.MethodGet, path: tt.path, bearer: testToken}); rec.Code != http.StatusOK {
			t.Errorf("GET %s with the bearer token: %d, want 200", tt.path, rec.Code)
		}
	}
	if rec := ev.do(req{method: http.MethodGet, path: "/", bearer: "wrong"}); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET / with a wrong bearer token: %d, want 401", rec.Code)
	}
	open := newEnv(t)
	if rec := open.do(req{method: http.MethodGet, path: "/api/v1/pipelines"}); rec.Code != http.StatusOK {
		t.Errorf("without RequireLogin the API is open: %d, want 200", rec.Code)
	}
}
