package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// watched is ordersConfig with billing or without, watched every second.
func watched(billing bool) string {
	return "reload: {watch: true, interval: 1s}\n" + ordersConfig(20, 0.5, 2, billing)
}

// reloadsCounted returns fusebox_config_reloads_total's two series.
func reloadsCounted(t *testing.T, r *running) (success, failure string) {
	t.Helper()
	m := metricsText(t, r)
	value := func(result string) string {
		prefix := `fusebox_config_reloads_total{result="` + result + `"} `
		for _, line := range strings.Split(m, "\n") {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				return v
			}
		}
		return "missing"
	}
	return value("success"), value("failure")
}

// TestTheFileWatchAppliesEachNewContentOnceItSettles drives the watch's
// polls by hand (the clock does not move, so its own never run): a content
// is applied when two polls in a row read it, never twice, whether the
// file is written in place, in bursts, half-way, replaced by a rename or
// deleted and created again; an invalid save is refused once, as any
// reload is.
func TestTheFileWatchAppliesEachNewContentOnceItSettles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	rewrite(t, path, watched(false))
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	r := startApp(t, filepath.Join(dir, "data"), clock, path)
	w := r.reloader.watch
	if w == nil {
		t.Fatal("reload.watch is set but the app does not watch the file")
	}
	ctx := context.Background()
	poll := func(want bool, when string) {
		t.Helper()
		if got := w.poll(ctx); got != want {
			t.Fatalf("%s: poll reloaded %v, want %v", when, got, want)
		}
	}
	counts := func(success, failure, when string) {
		t.Helper()
		if s, f := reloadsCounted(t, r); s != success || f != failure {
			t.Fatalf("%s: reloads %s succeeded, %s failed; want %s and %s", when, s, f, success, failure)
		}
	}
	has := func(name string) bool {
		_, err := r.registry.Get(name)
		return err == nil
	}

	poll(false, "the file as the app started with it")
	poll(false, "the file as the app started with it, again")
	counts("0", "0", "an unchanged file")

	// Half a file, then the rest before the next poll, then a burst.
	full := watched(true)
	rewrite(t, path, full[:len(full)/2])
	poll(false, "a half-written file")
	rewrite(t, path, full)
	poll(false, "the file completed since")
	rewrite(t, path, watched(false))
	rewrite(t, path, full)
	poll(true, "the complete file, unchanged for an interval")
	if !has("billing") {
		t.Fatal("billing is missing after the watch applied the file that adds it")
	}
	poll(false, "the content applied already")
	poll(false, "the content applied already, again")
	counts("1", "0", "one content applied")

	// An editor writes a new file and renames it over the old one.
	tmp := path + ".swp"
	rewrite(t, tmp, watched(false))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	poll(false, "a file renamed over the old one")
	poll(true, "the renamed file, settled")
	if has("billing") {
		t.Error("billing is still there after the renamed file removed it")
	}
	// Deleted, then created again.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	poll(false, "no file")
	rewrite(t, path, full)
	poll(false, "a file created again")
	poll(true, "the created file, settled")
	counts("3", "0", "three contents applied")

	// An invalid save is refused once, however long it stays.
	rewrite(t, path, "reload: {watch: true, interval: 1s}\npipelines:\n  - name: orders\n    retry: {max_attempts: -1}\n")
	poll(false, "an invalid save")
	poll(true, "the invalid save, settled")
	for range 3 {
		poll(false, "the invalid save, refused already")
	}
	counts("3", "1", "one invalid save")
	if msg := r.reloader.Refused(); !strings.Contains(msg, "pipelines[0].retry.max_attempts") || !strings.Contains(msg, "line 4") {
		t.Errorf("the banner's error %q does not name the field and its line", msg)
	}
	var audit auditJSON
	r.do(t, "GET", "/api/v1/audit", nil, &audit)
	if len(audit.Entries) == 0 || audit.Entries[0].Action != "config.reload_failed" || audit.Entries[0].Actor != "file change" {
		t.Errorf("audit %+v, want the refused reload by the file change first", audit.Entries)
	}
	if !has("billing") {
		t.Error("the refused save changed the pipelines")
	}

	// A reload by the API reads the file itself: the watch does not apply
	// the same content again.
	rewrite(t, path, watched(false))
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, nil); code != 200 {
		t.Fatalf("reload = %d", code)
	}
	poll(false, "the content the API reloaded")
	poll(false, "the content the API reloaded, again")
	counts("4", "1", "after the API's reload")
}

// TestTheFileWatchRunsOnTheAppsClock checks that a running app polls the
// file every interval of its clock, and applies a change two polls after.
func TestTheFileWatchRunsOnTheAppsClock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	rewrite(t, path, watched(false))
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), AdminToken: testToken, Clock: clock, ConfigPath: path,
	})
	if err != nil {
		t.Fatal(err)
	}
	polled := make(chan bool)
	a.reloader.watch.polled = polled
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	step := func(want bool, when string) {
		t.Helper()
		clock.Advance(time.Second)
		if got := <-polled; got != want {
			t.Fatalf("%s: the poll reloaded %v, want %v", when, got, want)
		}
	}
	step(false, "the first poll")
	rewrite(t, path, watched(true))
	step(false, "the poll that sees the change")
	step(true, "the poll that sees it settled")
	if _, err := a.registry.Get("billing"); err != nil {
		t.Errorf("billing after the watch applied the file: %v", err)
	}
	step(false, "the poll after")
}

// The watch compares the file with the content the app loaded, not with
// the file as it is when the watch starts: a save made while the app was
// starting is applied once it settles.
func TestTheFileWatchAppliesASaveMadeWhileTheAppStarted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	rewrite(t, path, watched(false))
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	r := startApp(t, filepath.Join(dir, "data"), clock, path)
	// The save lands after the app read the file, before its watch starts.
	rewrite(t, path, watched(true))
	rl := newReloader(r.app)
	t.Cleanup(func() { rl.watch.timer.Stop() })
	ctx := context.Background()
	if rl.watch.poll(ctx) {
		t.Fatal("the first poll of the saved file reloaded: want it applied once it settles")
	}
	if !rl.watch.poll(ctx) {
		t.Fatal("the save made while the app started was never applied")
	}
	if _, err := r.registry.Get("billing"); err != nil {
		t.Fatalf("billing is missing after the watch applied the file that adds it: %v", err)
	}
}
