package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"github.com/fusebox-dev/fusebox/resilience"
)

// ordersConfig is a configuration of pipeline orders, and of billing when
// billing is set.
func ordersConfig(windowSize int, threshold float64, attempts int, billing bool) string {
	s := fmt.Sprintf(`pipelines:
  - name: orders
    breaker: {window_size: %d, minimum_calls: 10, failure_rate_threshold: %g, open_duration: 1h}
    retry: {max_attempts: %d, backoff: {base: 1ms, max: 1ms}, budget: {disabled: true}}
`, windowSize, threshold, attempts)
	if billing {
		s += "  - name: billing\n    timeout: {attempt: 1s}\n"
	}
	return s
}

// rewrite replaces the content of the configuration file at path.
func rewrite(t interface{ Fatal(...any) }, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func metricsText(t *testing.T, r *running) string {
	t.Helper()
	resp, err := http.Get(r.url + "/metrics")
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

func TestAnInvalidReloadKeepsTheConfigurationInForce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	rewrite(t, path, ordersConfig(20, 0.5, 2, false))
	r := startApp(t, filepath.Join(dir, "data"), nil, path)
	before, _ := r.registry.Get("orders")
	rewrite(t, path, "pipelines:\n  - name: orders\n    retry:\n      max_attempts: -1\n")
	var out struct {
		Error string `json:"error"`
	}
	code := r.do(t, "POST", "/api/v1/config/reload", nil, &out)
	msg := out.Error
	if code != 400 || !strings.Contains(msg, "pipelines[0].retry.max_attempts") || !strings.Contains(msg, "line 4") {
		t.Errorf("reload of an invalid file = %d %q, want 400 naming the field and its line", code, msg)
	}
	if after, _ := r.registry.Get("orders"); after != before {
		t.Error("the pipeline was replaced by a refused reload")
	}
	m := metricsText(t, r)
	for _, want := range []string{`fusebox_config_reloads_total{result="failure"} 1`, `fusebox_config_reloads_total{result="success"} 0`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var audit auditJSON
	r.do(t, "GET", "/api/v1/audit", nil, &audit)
	if len(audit.Entries) == 0 || audit.Entries[0].Action != "config.reload_failed" {
		t.Errorf("audit %+v, want the refused reload first", audit.Entries)
	}
	banner := func() bool {
		resp, err := http.Get(r.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `data-testid="reload-banner"`) && strings.Contains(string(b), "max_attempts")
	}
	if !banner() {
		t.Error("the dashboard shows no banner with the refused reload's error")
	}
	rewrite(t, path, ordersConfig(20, 0.5, 3, false))
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, nil); code != 200 || banner() {
		t.Errorf("a good reload = %d, banner still shown %v; want 200 and no banner", code, banner())
	}
}

func TestAReloadKeepsBreakerStateKillSwitchesAndOverrides(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	rewrite(t, path, ordersConfig(20, 0.5, 2, false))
	r := startApp(t, filepath.Join(dir, "data"), nil, path)
	orders := func() *resilience.Pipeline {
		p, err := r.registry.Get("orders")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for range 10 {
		_ = resilience.Run(context.Background(), orders(), func(context.Context) error { return errors.New("down") })
	}
	if s := orders().Breaker().State(); s != resilience.StateOpen {
		t.Fatalf("breaker %s after 10 failures, want open", s)
	}
	if code := r.do(t, "PUT", "/api/v1/pipelines/orders/policies/retry", map[string]any{"enabled": false, "reason": "storm"}, nil); code != 200 {
		t.Fatalf("kill switch: %d", code)
	}
	old := orders()

	// Thresholds and retries change, the window keeps its shape; billing appears.
	rewrite(t, path, ordersConfig(20, 0.6, 3, true))
	var rep struct{ Unchanged, Changed, Added, Removed, Reset []string }
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, &rep); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	if fmt.Sprint(rep.Changed, rep.Added, rep.Reset) != "[orders] [billing] []" {
		t.Errorf("report %+v, want orders changed, billing added, nothing reset", rep)
	}
	if orders() == old {
		t.Fatal("orders was not rebuilt")
	}
	if s := orders().Breaker().State(); s != resilience.StateOpen {
		t.Errorf("breaker %s after a reload that kept the window's shape, want still open", s)
	}
	if ks := orders().KillSwitches(); len(ks) != 1 || ks[0].Policy != resilience.PolicyRetry {
		t.Errorf("kill switches after reload %+v, want retry still off", ks)
	}
	if _, err := r.registry.Get("billing"); err != nil {
		t.Errorf("billing after reload: %v", err)
	}
	if !strings.Contains(metricsText(t, r), `fusebox_config_reloads_total{result="success"} 1`) {
		t.Error("/metrics does not count the reload")
	}

	// An override survives a reload that changes the window's shape;
	// without one the breaker starts afresh, and the audit says so.
	if code := r.do(t, "PUT", "/api/v1/pipelines/orders/breaker", map[string]any{"state": "forced_open", "reason": "maintenance"}, nil); code != 200 {
		t.Fatalf("override: %d", code)
	}
	rewrite(t, path, ordersConfig(30, 0.6, 3, false))
	rep.Reset, rep.Removed = nil, nil
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, &rep); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	if fmt.Sprint(rep.Reset, rep.Removed) != "[orders] [billing]" {
		t.Errorf("report %+v, want orders reset and billing removed", rep)
	}
	if s := orders().Breaker().State(); s != resilience.StateForcedOpen {
		t.Errorf("breaker %s after a reset, want the override kept", s)
	}
	var audit struct {
		Entries []struct{ Action, Pipeline, Reason string } `json:"entries"`
	}
	r.do(t, "GET", "/api/v1/audit", nil, &audit)
	found := false
	for _, e := range audit.Entries {
		if e.Action == "config.pipeline_changed" && e.Pipeline == "orders" && strings.Contains(e.Reason, "breaker reset") {
			found = true
		}
	}
	if !found {
		t.Errorf("audit %+v, want the reset of orders' breaker said", audit.Entries)
	}
}

// TestReloadsUnderTrafficLoseNoCallAndNoBreakerState reloads random
// variants of the configuration while 64 goroutines call the pipeline: a
// forced-open breaker must refuse every call through every reload, and
// every call must return.
func TestReloadsUnderTrafficLoseNoCallAndNoBreakerState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	rewrite(t, path, ordersConfig(20, 0.5, 2, false))
	r := startApp(t, filepath.Join(dir, "data"), nil, path)
	if code := r.do(t, "PUT", "/api/v1/pipelines/orders/breaker", map[string]any{"state": "forced_open", "reason": "maintenance"}, nil); code != 200 {
		t.Fatalf("override: %d", code)
	}
	rapid.Check(t, func(rt *rapid.T) {
		var started, returned, wrong atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					p, err := r.registry.Get("orders")
					if err != nil {
						wrong.Add(1)
						return
					}
					started.Add(1)
					err = resilience.Run(context.Background(), p, func(context.Context) error { return nil })
					returned.Add(1)
					if !errors.Is(err, resilience.ErrOpen) {
						wrong.Add(1)
					}
				}
			})
		}
		for range rapid.IntRange(1, 5).Draw(rt, "reloads") {
			rewrite(rt, path, ordersConfig(
				rapid.SampledFrom([]int{20, 30}).Draw(rt, "window"),
				rapid.SampledFrom([]float64{0.5, 0.6}).Draw(rt, "threshold"),
				rapid.IntRange(1, 3).Draw(rt, "attempts"),
				rapid.Bool().Draw(rt, "billing")))
			if _, err := r.reloader.Reload(context.Background(), "test"); err != nil {
				rt.Fatal(err)
			}
			p, _ := r.registry.Get("orders")
			if s := p.Breaker().State(); s != resilience.StateForcedOpen {
				rt.Fatalf("breaker %s after a reload, want forced_open", s)
			}
		}
		close(stop)
		wg.Wait()
		if started.Load() != returned.Load() || wrong.Load() != 0 {
			rt.Fatalf("%d calls started, %d returned, %d not refused by the forced-open breaker", started.Load(), returned.Load(), wrong.Load())
		}
	})
}
