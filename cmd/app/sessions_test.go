package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestALoggedOutCookieStaysRefusedAfterARestart logs in through the form,
// logs out, restarts the app on the same data directory and presents the
// cookie copied before the logout.
func TestALoggedOutCookieStaysRefusedAfterARestart(t *testing.T) {
	dir := t.TempDir()
	r := startApp(t, dir, nil, "")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(r.url+"/login", url.Values{"token": {testToken}, "name": {"ana"}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "fusebox_session" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("login: %d and no session cookie", resp.StatusCode)
	}
	get := func(r *running) string {
		req, _ := http.NewRequest("GET", r.url+"/pipelines/payments", nil)
		req.AddCookie(cookie)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := csrfInput.FindStringSubmatch(string(b))
		if m == nil {
			return ""
		}
		return m[1]
	}
	override := func(r *running, csrf string) int {
		req, _ := http.NewRequest("PUT", r.url+"/api/v1/pipelines/payments/breaker", strings.NewReader(`{"state":"forced_open","reason":"x"}`))
		req.AddCookie(cookie)
		req.Header.Set("X-CSRF-Token", csrf)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	csrf := get(r)
	if csrf == "" {
		t.Fatal("the logged-in page has no CSRF field")
	}
	if code := override(r, csrf); code != 200 {
		t.Fatalf("override with the session: %d", code)
	}
	req, _ := http.NewRequest("POST", r.url+"/logout", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookie)
	if resp, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if code := override(r, csrf); code != http.StatusUnauthorized {
		t.Errorf("the copied cookie after logout: %d, want 401", code)
	}
	r.stop()

	r = startApp(t, dir, nil, "")
	if code := override(r, csrf); code != http.StatusUnauthorized {
		t.Errorf("the copied cookie after logout and a restart: %d, want 401", code)
	}
	if get(r) != "" {
		t.Error("the page still shows the logged-out session as logged in")
	}
}
