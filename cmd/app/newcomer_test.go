package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// fastClock runs a fake clock ahead of real time: every tick of real time
// it advances step, until stop is called. The app then lives minutes of
// the demo in seconds, while every part of it (load, downstreams,
// breakers, SLO windows, alerts, live updates) keeps its own timing.
func fastClock(clock *resiliencetest.Clock, tick, step time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				clock.Advance(step)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// screenshots is where the newcomer test writes its screenshots:
// $FUSEBOX_ARTIFACTS, or a directory under the system's temporary one.
func screenshots(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FUSEBOX_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "fusebox-e2e-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserWalksTheNewcomersPath follows the README's story in a browser:
// the overview of a healthy demo, log in, start the payments outage, see
// the breaker open and the page alert fire, stop it, see the breaker close
// and the alert resolve. The waits are on the live pages, never reloaded;
// the demo runs on a fake clock some 10 times faster than real time.
//
// The times it asserts are the README's, with room: they are read off the
// app's own records (breaker transitions, alert start and end) on the fake
// clock, whose load generator may skip ticks when the machine lags (under
// -race the breaker opens ~5 s into the outage here, against 2 s measured
// on the real clock). The README's figures come from real-time runs.
func TestBrowserWalksTheNewcomersPath(t *testing.T) {
	if testing.Short() {
		t.Skip("runs some eight minutes of the demo in under a minute")
	}
	chromium := chromiumPath(t)
	clock := resiliencetest.NewClock(time.Now())
	r := startApp(t, t.TempDir(), clock, "")
	stopClock := fastClock(clock, 10*time.Millisecond, 100*time.Millisecond)
	defer stopClock()
	shots := screenshots(t)

	logs := &browserLog{}
	defer logs.flush(t)
	ctx, cancel := context.WithTimeoutCause(context.Background(), 3*time.Minute,
		fmt.Errorf("the newcomer's path took longer than 3 minutes"))
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logs.printf), chromedp.WithLogf(logs.printf))
	defer cancelTab()

	shot := func(tab context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	// waitFor polls a JavaScript condition on a page left open; the bound
	// is real time, for failure only.
	waitFor := func(tab context.Context, what, cond string, within time.Duration) {
		t.Helper()
		start := time.Now()
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](cond,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(within))); err != nil {
			t.Fatalf("%s: not within %v of real time (%v)", what, within, err)
		}
		t.Logf("%s after %v (clock at %s)", what, time.Since(start).Round(time.Millisecond), clock.Now().Format("15:04:05"))
	}
	text := func(id string) string {
		return fmt.Sprintf(`(document.querySelector('[data-testid=%q]') || {textContent: ""}).textContent`, id)
	}
	state := func(pipeline string) string {
		return fmt.Sprintf(`(document.querySelector('[data-testid="state-%s"]') || {dataset: {}}).dataset.state`, pipeline)
	}
	noReload := func(tab context.Context) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.__noReload = 1`)); err != nil {
			t.Fatal(err)
		}
	}
	// click clicks by script: the live updates may replace the element
	// between a lookup and a click by the mouse.
	click := func(id string) chromedp.Action[chromedp.Void] {
		js := chromedp.Evaluate[bool](fmt.Sprintf(`(document.querySelector('[data-testid=%q]').click(), true)`, id))
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := js(ctx, tg)
			return err
		})
	}
	assertNoReload := func(tab context.Context, when string) {
		t.Helper()
		if v, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.__noReload || 0`)); err != nil || v != 1 {
			t.Fatalf("the page was reloaded %s (marker %v, %v)", when, v, err)
		}
	}

	// 1. A healthy demo: every breaker closed, nothing firing, scenarios
	// offered with a hint to log in.
	resp, err := chromedp.RunResponse(tab, chromedp.Navigate(r.url+"/"))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("opening the overview: %v, %v", resp, err)
	}
	waitFor(tab, "the overview is live", `document.querySelector('[data-testid="live"]').textContent.trim() === "live"`, 10*time.Second)
	for _, p := range []string{"payments", "inventory"} {
		if st, err := chromedp.Run(tab, chromedp.Evaluate[string](state(p))); err != nil || st != "state-closed" {
			t.Errorf("at start, %s is %q (%v), want state-closed", p, st, err)
		}
	}
	if got, _ := chromedp.Run(tab, chromedp.Evaluate[string](text("alerts-count"))); !strings.Contains(got, "none firing") {
		t.Errorf("at start, the header says %q, want none firing", got)
	}
	if got, _ := chromedp.Run(tab, chromedp.Evaluate[string](text("scenarios-hint"))); !strings.Contains(got, "log in") {
		t.Errorf("logged out, the scenarios say %q, want a hint to log in", got)
	}
	shot(tab, "01-healthy-overview")

	// 2. Log in and start the payments outage.
	if err := chromedp.Do(tab,
		click("scenarios-login"),
		chromedp.WaitVisible(byTestID("login-form")),
		chromedp.SendKeys(byTestID("login-token"), testToken),
		chromedp.SendKeys(byTestID("login-name"), "newcomer"),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	if resp, err := chromedp.RunResponse(tab, chromedp.Click(byTestID("login-submit"))); err != nil || !strings.HasSuffix(resp.URL, "/") {
		t.Fatalf("logging in led to %v (%v), want the overview", resp, err)
	}
	expect, err := chromedp.Run(tab, chromedp.Evaluate[string](text("scenario-expect-payments-outage")))
	if err != nil || !strings.Contains(expect, "opens within ~5 s") {
		t.Fatalf("the payments outage expects %q (%v)", expect, err)
	}
	// The clock is read before the click (as for the stop below): on the
	// fast clock the breaker may open before the click's response arrives.
	started := clock.Now()
	if resp, err := chromedp.RunResponse(tab, click("scenario-start-payments-outage")); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("starting the payments outage: %v (%v)", resp, err)
	}
	waitFor(tab, "the overview is live again", `document.querySelector('[data-testid="live"]').textContent.trim() === "live"`, 10*time.Second)
	noReload(tab)

	// A second tab keeps the alerts page open.
	alertsTab, cancelAlerts := chromedp.NewContext(tab)
	defer cancelAlerts()
	if _, err := chromedp.RunResponse(alertsTab, chromedp.Navigate(r.url+"/alerts")); err != nil {
		t.Fatalf("opening /alerts: %v", err)
	}
	waitFor(alertsTab, "the alerts page is live", `document.querySelector('[data-testid="live"]').textContent.trim() === "live"`, 10*time.Second)
	noReload(alertsTab)

	// 3. The breaker opens, then the page alert fires, without a reload.
	waitFor(tab, "the payments breaker is open", state("payments")+` === "state-open"`, 30*time.Second)
	if at := transition(t, r, "open", started); at.Sub(started) > 10*time.Second {
		t.Errorf("the breaker opened %v into the outage by the app's clock, want within ~5 s (10 s here)", at.Sub(started))
	}
	shot(tab, "02-breaker-open")
	waitFor(tab, "the header counts a firing alert", text("alerts-count")+`.includes("firing ▲")`, 60*time.Second)
	page, fired, _ := pageAlert(t, r)
	if page == "" {
		t.Fatal("the header counts a firing alert, but the API lists no 1h page of payments-availability")
	}
	if fired.Sub(started) > 90*time.Second {
		t.Errorf("the page alert fired %v into the outage by the app's clock, want within ~1 min (90 s here)", fired.Sub(started))
	}
	alertState := fmt.Sprintf(`(document.querySelector('article[data-fingerprint=%q]') || {dataset: {}}).dataset.state`, page)
	waitFor(alertsTab, "the alerts page shows the payments page alert firing", alertState+` === "firing"`, 30*time.Second)
	shot(tab, "03-alert-firing-overview")
	shot(alertsTab, "04-alert-firing-alerts-page")
	assertNoReload(tab, "while the outage ran")
	assertNoReload(alertsTab, "while the outage ran")

	// 4. Stop it: the breaker closes and the alert resolves.
	// The clock is read before the click, as for the start.
	stopped := clock.Now()
	if resp, err := chromedp.RunResponse(tab, click("scenario-stop-payments-outage")); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("stopping the payments outage: %v (%v)", resp, err)
	}
	waitFor(tab, "the overview is live again", `document.querySelector('[data-testid="live"]').textContent.trim() === "live"`, 10*time.Second)
	noReload(tab)
	waitFor(tab, "the payments breaker is closed", state("payments")+` === "state-closed"`, 60*time.Second)
	if at := transition(t, r, "closed", stopped); at.Sub(stopped) > 30*time.Second {
		t.Errorf("the breaker closed %v after the stop by the app's clock, want within ~20 s (30 s here)", at.Sub(stopped))
	}
	shot(tab, "05-breaker-closed")
	waitFor(alertsTab, "the payments page alert resolves", alertState+` === "resolved"`, 120*time.Second)
	if _, _, ended := pageAlert(t, r); ended.Sub(stopped) > 8*time.Minute {
		t.Errorf("the page alert resolved %v after the stop by the app's clock, want ~6 min (8 min here)", ended.Sub(stopped))
	}
	shot(alertsTab, "06-alert-resolved-alerts-page")
	assertNoReload(tab, "while the demo recovered")
	assertNoReload(alertsTab, "while the demo recovered")

	cancelAlerts()
	cancelTab()
	cancelAlloc()
}

// transition returns when the payments breaker first went to state at or
// after from, by the app's clock (GET /api/v1/pipelines/payments).
func transition(t *testing.T, r *running, state string, from time.Time) time.Time {
	t.Helper()
	var p struct {
		Transitions []struct {
			Time time.Time `json:"time"`
			To   string    `json:"to"`
		} `json:"transitions"`
	}
	r.do(t, "GET", "/api/v1/pipelines/payments", nil, &p)
	for _, tr := range p.Transitions {
		if tr.To == state && !tr.Time.Before(from) {
			return tr.Time
		}
	}
	t.Fatalf("no transition of payments to %s since %v: %+v", state, from, p.Transitions)
	return time.Time{}
}

// pageAlert returns the fingerprint of the 1h page alert of
// payments-availability, when it started firing and when it ended (zero
// while it fires), by the app's clock (GET /api/v1/alerts).
func pageAlert(t *testing.T, r *running) (fingerprint string, started, ended time.Time) {
	t.Helper()
	var list struct {
		Alerts []struct {
			Fingerprint string            `json:"fingerprint"`
			Labels      map[string]string `json:"labels"`
			StartsAt    time.Time         `json:"starts_at"`
			EndsAt      *time.Time        `json:"ends_at"`
		} `json:"alerts"`
	}
	r.do(t, "GET", "/api/v1/alerts", nil, &list)
	for _, a := range list.Alerts {
		if a.Labels["slo"] == "payments-availability" && a.Labels["severity"] == "page" && a.Labels["long_window"] == "1h" {
			if a.EndsAt != nil {
				ended = *a.EndsAt
			}
			return a.Fingerprint, a.StartsAt, ended
		}
	}
	return "", time.Time{}, time.Time{}
}
