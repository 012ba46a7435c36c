package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// TestAReloadNamesEachSectionThatWaitsForARestart changes sections a
// reload does not apply: the API answer, the audit entry and a banner on
// every page name each, until a reload brings the file back to what runs.
func TestAReloadNamesEachSectionThatWaitsForARestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	base := ordersConfig(20, 0.5, 2, false)
	rewrite(t, path, "title: Shop\n"+base)
	r := startApp(t, filepath.Join(dir, "data"), nil, path)

	rewrite(t, path, "title: Shop 2\nhttp: {read_timeout: 7s}\n"+base+
		"slos:\n  - {name: orders-availability, pipeline: orders, objective: 99, period: 1h}\n")
	var rep struct {
		Changed []string
		Notes   []string
	}
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, &rep); code != 200 {
		t.Fatalf("reload = %d", code)
	}
	want := []string{
		"title changed: applies at the next restart",
		"slos changed: applies at the next restart",
		"http changed: applies at the next restart",
	}
	for _, w := range want {
		if !slices.Contains(rep.Notes, w) {
			t.Errorf("the reload's answer %q lacks %q", rep.Notes, w)
		}
	}
	if len(rep.Notes) != len(want) || len(rep.Changed) != 0 {
		t.Errorf("notes %q, changed %v; want the three sections only and no pipeline changed", rep.Notes, rep.Changed)
	}
	var audit auditJSON
	r.do(t, "GET", "/api/v1/audit", nil, &audit)
	if len(audit.Entries) == 0 || audit.Entries[0].Action != "config.reload" {
		t.Fatalf("audit %+v, want the reload first", audit.Entries)
	}
	for _, w := range want {
		if !strings.Contains(audit.Entries[0].Reason, w) {
			t.Errorf("the reload's audit entry %q lacks %q", audit.Entries[0].Reason, w)
		}
	}
	page := func(path string) string {
		resp, err := http.Get(r.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, p := range []string{"/", "/pipelines/orders", "/audit"} {
		body := page(p)
		if !strings.Contains(body, `data-testid="restart-banner"`) {
			t.Errorf("%s shows no banner of the changes that wait for a restart", p)
			continue
		}
		for _, w := range want {
			if !strings.Contains(body, "<li>"+w+"</li>") {
				t.Errorf("%s: the banner lacks %q", p, w)
			}
		}
	}

	// Back to the file the app runs: nothing waits any more.
	rewrite(t, path, "title: Shop\n"+base)
	rep.Notes = nil
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, &rep); code != 200 || len(rep.Notes) != 0 {
		t.Errorf("reload = %d, notes %q; want 200 and none", code, rep.Notes)
	}
	if strings.Contains(page("/"), `data-testid="restart-banner"`) {
		t.Error("the banner stays once the file is back to what runs")
	}
}

func TestRestartNotesOfTheGateway(t *testing.T) {
	gw := func(listen string) *proxyConfig {
		return &proxyConfig{Listen: listen, Routes: []routeConfig{{Name: "r", Pipeline: "orders"}}}
	}
	for _, tt := range []struct {
		name          string
		running, next *proxyConfig
		want          []string
	}{
		{"no gateway either way", nil, nil, nil},
		{"routes change: they reload", gw(":9000"), &proxyConfig{Listen: ":9000"}, nil},
		{"a gateway added", nil, gw(":9000"), []string{"proxy added: the gateway starts at the next restart"}},
		{"the gateway removed", gw(":9000"), nil, []string{"proxy removed: the gateway stops at the next restart"}},
		{"its address changed", gw(":9000"), gw(":9001"), []string{"proxy.listen changed: applies at the next restart"}},
	} {
		got := restartNotes(&fileConfig{Proxy: tt.running}, &fileConfig{Proxy: tt.next})
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A hub reloads its own file as a hub's: its SLOs, on the fleet's
// service/pipeline names, are as valid at a reload as they were at start.
func TestAHubReloadsItsConfigurationAsAHub(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))
	hub := newHub(t, clock, t.TempDir(), hubSLOConfig(t, "http://127.0.0.1:9/hook"), &hubOptions{NATSListen: "127.0.0.1:-1"})
	t.Cleanup(func() { _ = hub.Close() })
	if _, err := hub.reloader.Reload(context.Background(), "test"); err != nil {
		t.Fatalf("reloading the hub's unchanged configuration: %v", err)
	}
	if s := hub.reloader.Refused(); s != "" {
		t.Errorf("refused banner %q after a good reload", s)
	}
}
