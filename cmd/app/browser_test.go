package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath returns the Chromium binary the browser test drives. The
// test is skipped when there is none, and fails instead when FUSEBOX_E2E=1
// says the browser test must run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FUSEBOX_E2E") == "1" {
		t.Fatal("FUSEBOX_E2E=1 but no Chromium was found (/usr/bin/chromium or chromium on PATH): install the Debian package chromium")
	}
	t.Skip("skipping the browser test: no Chromium found (/usr/bin/chromium or chromium on PATH); install the Debian package chromium, and set FUSEBOX_E2E=1 to make its absence a failure")
	return ""
}

// browserLog collects what chromedp reports while the browser runs; the
// test logs it once every browser goroutine has ended.
type browserLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *browserLog) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *browserLog) flush(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		t.Log("chromium: " + line)
	}
	l.lines = nil
}

// byTestID is the CSS selector of the element with that data-testid.
func byTestID(id string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf("[data-testid=%q]", id))
}

func TestBrowserForcesABreakerOpenAndTheOpenOverviewFollowsWithoutReload(t *testing.T) {
	chromium := chromiumPath(t)
	r := startApp(t, t.TempDir(), nil, "")

	logs := &browserLog{}
	defer logs.flush(t)
	// Everything the browser does is bounded: the whole flow takes a few
	// seconds, and a hung browser must not hang the test binary.
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
	// Cancelling the allocator kills Chromium and waits for it to exit.
	defer cancelAlloc()

	// Tab A: the overview, left open and never reloaded.
	tabA, cancelA := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logs.printf), chromedp.WithLogf(logs.printf))
	defer cancelA()
	resp, err := chromedp.RunResponse(tabA, chromedp.Navigate(r.url+"/"))
	if err != nil {
		t.Fatalf("tab A: opening the overview: %v", err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("tab A: GET / answered %d", resp.Status)
	}
	if err := chromedp.Do(tabA, chromedp.WaitVisible(byTestID("tile-payments"))); err != nil {
		t.Fatalf("tab A: waiting for the payments tile: %v", err)
	}
	if _, err := chromedp.Run(tabA, chromedp.Evaluate[int](`window.__noReload = 1`)); err != nil {
		t.Fatalf("tab A: setting the no-reload marker: %v", err)
	}
	// The live indicator turns to "live" once the event stream is open.
	if _, err := chromedp.Run(tabA, chromedp.Poll[bool](
		`document.querySelector('[data-testid="live"]').textContent.trim() === "live"`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		text, _ := chromedp.Run(tabA, chromedp.TextContent(byTestID("live")))
		t.Fatalf("tab A: the live indicator did not say %q within 5s (it says %q): %v", "live", text, err)
	}
	before, err := chromedp.Run(tabA, chromedp.AttributeValue(byTestID("state-payments"), "data-state"))
	if err != nil {
		t.Fatalf("tab A: reading the payments state: %v", err)
	}
	if before.Value == "state-forced-open" {
		t.Fatalf("tab A: the payments breaker is forced open before anyone forced it")
	}

	// Tab B: a second tab of the same browser logs in and forces the
	// payments breaker open.
	tabB, cancelB := chromedp.NewContext(tabA)
	defer cancelB()
	if err := chromedp.Do(tabB,
		chromedp.Navigate(r.url+"/login?next=/pipelines/payments"),
		chromedp.WaitVisible(byTestID("login-form")),
		chromedp.SendKeys(byTestID("login-token"), testToken),
		chromedp.SendKeys(byTestID("login-name"), "e2e-operator"),
	); err != nil {
		t.Fatalf("tab B: filling the login form: %v", err)
	}
	resp, err = chromedp.RunResponse(tabB, chromedp.Click(byTestID("login-submit")))
	if err != nil {
		t.Fatalf("tab B: logging in: %v", err)
	}
	if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/pipelines/payments") {
		t.Fatalf("tab B: logging in led to %s (%d), want /pipelines/payments (200)", resp.URL, resp.Status)
	}
	const reason = "e2e: payments provider incident"
	if err := chromedp.Do(tabB,
		chromedp.WaitVisible(byTestID("override-form")),
		chromedp.Click(byTestID("override-forced-open")),
		chromedp.SendKeys(byTestID("override-reason"), reason),
	); err != nil {
		t.Fatalf("tab B: filling the override form: %v", err)
	}
	submitted := time.Now()
	resp, err = chromedp.RunResponse(tabB, chromedp.Click(byTestID("override-submit")))
	if err != nil {
		t.Fatalf("tab B: submitting the override: %v", err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("tab B: submitting the override led to %s (%d)", resp.URL, resp.Status)
	}

	// Tab A follows through the event stream, within 3s of the submit.
	forced := byTestID("state-payments") + `[data-state="state-forced-open"]`
	waitCtx, cancelWait := context.WithDeadlineCause(tabA, submitted.Add(3*time.Second),
		fmt.Errorf("the overview did not show payments forced open within 3s of the submit"))
	err = chromedp.Do(waitCtx, chromedp.WaitVisible(forced))
	cancelWait()
	if err != nil {
		state, _ := chromedp.Run(tabA, chromedp.AttributeValue(byTestID("state-payments"), "data-state"))
		t.Fatalf("tab A: payments state is %q, want state-forced-open within 3s: %v (%v)", state.Value, err, context.Cause(waitCtx))
	}
	t.Logf("tab A showed payments forced open %v after the submit", time.Since(submitted).Round(time.Millisecond))

	marker, err := chromedp.Run(tabA, chromedp.Evaluate[int](`window.__noReload`))
	if err != nil || marker != 1 {
		t.Fatalf("tab A was reloaded: window.__noReload = %v (%v), want 1", marker, err)
	}
	pill, err := chromedp.Run(tabA, chromedp.TextContent(byTestID("state-payments")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pill, "FORCED OPEN") {
		t.Errorf("tab A: the payments pill says %q, want it to contain FORCED OPEN", pill)
	}
	note, err := chromedp.Run(tabA, chromedp.TextContent(byTestID("forced-payments")))
	if err != nil {
		t.Fatalf("tab A: reading who forced payments: %v", err)
	}
	if !strings.Contains(note, reason) || !strings.Contains(note, "e2e-operator") {
		t.Errorf("tab A: the forced note says %q, want the reason %q and the actor e2e-operator", note, reason)
	}
	live, err := chromedp.Run(tabA, chromedp.TextContent(byTestID("live")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(live) != "live" {
		t.Errorf("tab A: the live indicator says %q, want %q", live, "live")
	}

	shot, err := chromedp.Run(tabA, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("tab A: screenshot: %v", err)
	}
	path := filepath.Join(t.TempDir(), "overview-payments-forced-open.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the overview: %s", path)

	// Close the tabs, then the browser, and wait for Chromium to exit
	// before the app stops (t.Cleanup) and goleak looks.
	cancelB()
	cancelA()
	cancelAlloc()
}
