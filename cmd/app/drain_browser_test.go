package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fusebox-dev/fusebox/resilience"
)

// TestBrowserDropsTheTileOfADrainedPipelineAndShowsOneThatCame leaves the
// overview and a removed pipeline's page open while the pipeline drains:
// once its last call returns, the overview drops its tile without a
// reload, and its page says it was removed; brought back by a reload, it
// reappears on the overview.
func TestBrowserDropsTheTileOfADrainedPipelineAndShowsOneThatCame(t *testing.T) {
	chromium := chromiumPath(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	rewrite(t, path, ordersConfig(20, 0.5, 2, true))
	r := startApp(t, filepath.Join(dir, "data"), nil, path)
	billing, err := r.registry.Get("billing")
	if err != nil {
		t.Fatal(err)
	}
	started, release, returned := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		returned <- resilience.Run(context.Background(), billing, func(context.Context) error {
			close(started)
			<-release
			return nil
		})
	}()
	var once sync.Once
	finish := func() error {
		var err error
		once.Do(func() {
			close(release)
			err = <-returned
		})
		return err
	}
	defer finish()
	<-started
	rewrite(t, path, ordersConfig(20, 0.5, 2, false))
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, nil); code != 200 {
		t.Fatalf("reload = %d", code)
	}

	logs := &browserLog{}
	defer logs.flush(t)
	ctx, cancel := context.WithTimeoutCause(context.Background(), 45*time.Second,
		fmt.Errorf("the browser test ran longer than 45s"))
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	poll := func(tab context.Context, what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatalf("%s: not within 10s: %v", what, err)
		}
	}
	const live = `document.querySelector('[data-testid="live"]').textContent.trim() === "live"`
	const billingTile = `document.querySelector('[data-testid="tile-billing"]')`

	overview, cancelA := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logs.printf), chromedp.WithLogf(logs.printf))
	defer cancelA()
	if err := chromedp.Do(overview, chromedp.Navigate(r.url+"/"), chromedp.WaitVisible(byTestID("tile-billing"))); err != nil {
		t.Fatalf("the overview while billing drains: %v", err)
	}
	if _, err := chromedp.Run(overview, chromedp.Evaluate[int](`window.__noReload = 1`)); err != nil {
		t.Fatal(err)
	}
	poll(overview, "the overview's stream", live)
	page, cancelB := chromedp.NewContext(overview)
	defer cancelB()
	if err := chromedp.Do(page, chromedp.Navigate(r.url+"/pipelines/billing"), chromedp.WaitVisible(byTestID("live"))); err != nil {
		t.Fatalf("billing's page while it drains: %v", err)
	}
	poll(page, "billing's stream", live)

	if err := finish(); err != nil {
		t.Errorf("the call in flight: %v", err)
	}
	poll(overview, "the overview dropping billing's tile", billingTile+` === null && window.__noReload === 1`)
	if _, err := chromedp.Run(overview, chromedp.Poll[bool](`document.querySelector('[data-testid="tile-orders"]') !== null`,
		chromedp.WithPollingTimeout(time.Second))); err != nil {
		t.Errorf("the overview lost orders' tile too: %v", err)
	}
	poll(page, "billing's page saying it is gone",
		`document.querySelector('[data-testid="live"]').textContent.includes("billing was removed by a configuration reload")`)

	rewrite(t, path, ordersConfig(20, 0.5, 2, true))
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, nil); code != 200 {
		t.Fatalf("reload = %d", code)
	}
	// A tile that came makes the page reload itself to show it in place.
	waitCtx, cancelWait := context.WithTimeout(overview, 10*time.Second)
	defer cancelWait()
	if err := chromedp.Do(waitCtx, chromedp.WaitVisible(byTestID("tile-billing"))); err != nil {
		t.Fatalf("the overview showing billing back: %v", err)
	}
}
