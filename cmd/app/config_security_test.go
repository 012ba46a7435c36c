package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fusebox-dev/fusebox/ui"
)

func TestTheDashboardNeedsALoginByDefaultOnlyOffLoopback(t *testing.T) {
	tests := []struct {
		addr string
		set  *bool
		want bool
	}{
		{"127.0.0.1:8080", nil, false},
		{"[::1]:8080", nil, false},
		{"localhost:8080", nil, false},
		{"0.0.0.0:8080", nil, true},
		{":8080", nil, true},
		{"192.0.2.10:8080", nil, true},
		{"0.0.0.0:8080", new(false), false},
		{"127.0.0.1:8080", new(true), true},
	}
	for _, tt := range tests {
		var cfg ui.Config
		uiSettings{RequireLogin: tt.set}.apply(&cfg, tt.addr)
		if cfg.RequireLogin != tt.want {
			t.Errorf("addr %s, require_login %v: RequireLogin = %v, want %v", tt.addr, tt.set, cfg.RequireLogin, tt.want)
		}
	}
}

func TestTheUISectionReachesTheDashboard(t *testing.T) {
	r := startWithConfig(t, "ui: {require_login: true, max_streams_per_client: 1}\n")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(r.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("GET / without a login: %d to %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code := r.do(t, "GET", "/api/v1/pipelines", nil, nil); code != 200 {
		t.Errorf("GET /api/v1/pipelines with the bearer token: %d", code)
	}
	open := func() *http.Response {
		req, _ := http.NewRequest("GET", r.url+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := open()
	defer first.Body.Close()
	second := open()
	second.Body.Close()
	if first.StatusCode != 200 || second.StatusCode != http.StatusTooManyRequests {
		t.Errorf("two streams from one address with max_streams_per_client 1: %d then %d, want 200 then 429", first.StatusCode, second.StatusCode)
	}
}

func TestTheHTTPAndUISectionsAreValidated(t *testing.T) {
	_, err := parseConfig([]byte("http:\n  read_timeout: -1s\n  idle_timeout: 2h\nui:\n  max_streams: -1\n  session_ttl: 1s\n  require_login: maybe\n"))
	for _, want := range []string{
		"http.read_timeout: -1s is outside [0, 1h] (0 means the default) (line 2)",
		"http.idle_timeout: 2h0m0s is outside [0, 1h]",
		"ui.max_streams: -1 is outside [0, 100000] (0 means the default) (line 5)",
		"ui.session_ttl: 1s is outside [1m, 720h] (line 6)",
		`ui.require_login: "maybe" is not true or false (line 7)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
