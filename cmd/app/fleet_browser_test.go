package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fusebox-dev/fusebox/fleet"
)

// TestBrowserForcesAFleetBreakerForOneInstanceThenTheService drives the
// hub's fleet pages: the service page's scoped buttons force one instance's
// breaker, then the whole service's, then release them, and the strip of
// the fleet page, left open, follows each change without a reload.
func TestBrowserForcesAFleetBreakerForOneInstanceThenTheService(t *testing.T) {
	chromium := chromiumPath(t)
	hub := startHubApp(t)
	for _, id := range []string{"web-1", "web-2"} {
		startAgentApp(t, hub.natsURL(), "web", id)
	}

	waitFleet(t, hub, "2 instances of web", func(h *fleet.Hub) bool {
		return len(pipelineOf(h, "web", "payments").Breakers) == 2
	})

	logs := &browserLog{}
	defer logs.flush(t)
	ctx, cancel := context.WithTimeoutCause(context.Background(), 60*time.Second,
		fmt.Errorf("the fleet browser test ran longer than 60s"))
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

	// Tab A: the fleet page, never reloaded.
	tabA, cancelA := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logs.printf), chromedp.WithLogf(logs.printf))
	defer cancelA()
	resp, err := chromedp.RunResponse(tabA, chromedp.Navigate(hub.url+"/fleet"))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("tab A: opening /fleet: %v %v", resp, err)
	}
	cell := func(id string) string { return `[data-testid="cell-web-payments-` + id + `"]` }
	if err := chromedp.Do(tabA, chromedp.WaitVisible(cell("web-1")), chromedp.WaitVisible(cell("web-2"))); err != nil {
		t.Fatalf("tab A: waiting for both instances in the strip: %v", err)
	}
	if _, err := chromedp.Run(tabA, chromedp.Evaluate[int](`window.__noReload = 1`)); err != nil {
		t.Fatal(err)
	}

	// Tab B logs in and uses the service page's buttons.
	tabB, cancelB := chromedp.NewContext(tabA)
	defer cancelB()
	if err := chromedp.Do(tabB,
		chromedp.Navigate(hub.url+"/login?next=/fleet/web"),
		chromedp.WaitVisible(byTestID("login-form")),
		chromedp.SendKeys(byTestID("login-token"), testToken),
		chromedp.SendKeys(byTestID("login-name"), "fleet-operator"),
	); err != nil {
		t.Fatalf("tab B: filling the login form: %v", err)
	}
	if resp, err := chromedp.RunResponse(tabB, chromedp.Click(byTestID("login-submit"))); err != nil || !strings.HasSuffix(resp.URL, "/fleet/web") {
		t.Fatalf("tab B: logging in: %v %v", resp, err)
	}
	submit := func(scope, reason, button string) {
		t.Helper()
		if err := chromedp.Do(tabB,
			chromedp.WaitVisible(byTestID("override-form-payments")),
			chromedp.SetValue(byTestID("scope-payments"), scope),
			chromedp.SendKeys(byTestID("reason-payments"), reason),
		); err != nil {
			t.Fatalf("tab B: filling the form (%s): %v", button, err)
		}
		resp, err := chromedp.RunResponse(tabB, chromedp.Click(byTestID(button+"-payments")))
		if err != nil || resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/fleet/web") {
			t.Fatalf("tab B: %s for scope %q: %v %v", button, scope, resp, err)
		}
	}
	// waitStates waits until tab A's strip shows web-1 and web-2 in these
	// states, pushed by the event stream.
	waitStates := func(s1, s2 string) {
		t.Helper()
		sel := cell("web-1") + `[data-state="` + s1 + `"]`
		sel2 := cell("web-2") + `[data-state="` + s2 + `"]`
		wctx, cancel := context.WithTimeout(tabA, 10*time.Second)
		defer cancel()
		if err := chromedp.Do(wctx, chromedp.WaitVisible(sel), chromedp.WaitVisible(sel2)); err != nil {
			a, _ := chromedp.Run(tabA, chromedp.AttributeValue(chromedp.CSS(cell("web-1")), "data-state"))
			b, _ := chromedp.Run(tabA, chromedp.AttributeValue(chromedp.CSS(cell("web-2")), "data-state"))
			t.Fatalf("tab A: strip shows web-1 %s, web-2 %s; want %s, %s: %v", a.Value, b.Value, s1, s2, err)
		}
	}

	// The buttons are for the pipelines with a breaker only (the demo's
	// shipping has none), and the service counts only breakers.
	if ok, err := chromedp.Run(tabB, chromedp.Evaluate[bool](
		`document.querySelector('[data-testid="control-payments"]') !== null && document.querySelector('[data-testid="control-shipping"]') === null && !document.body.innerText.includes("continue")`)); err != nil || !ok {
		t.Errorf("tab B: want the controls of payments and none of shipping (%v)", err)
	}
	submit("web-2", "drain web-2", "force-open")
	waitStates("state-closed", "state-forced-open")
	if text, err := chromedp.Run(tabA, chromedp.TextContent(byTestID("open-web"))); err != nil || !strings.HasSuffix(text, "of 4 breakers open") {
		t.Errorf("tab A: the service says %q (%v), want it to count the 4 breakers of payments and inventory", text, err)
	}
	row, err := chromedp.Run(tabB, chromedp.TextContent(byTestID("override-payments-instance web-2")))
	if err != nil || !strings.Contains(row, "drain web-2") || !strings.Contains(row, "fleet-operator") {
		t.Errorf("tab B: the override row says %q (%v), want the reason and the actor", row, err)
	}
	submit("", "provider outage", "force-open")
	waitStates("state-forced-open", "state-forced-open")
	submit("", "recovered", "release")
	waitStates("state-closed", "state-forced-open")
	submit("web-2", "drained", "release")
	waitStates("state-closed", "state-closed")

	if marker, err := chromedp.Run(tabA, chromedp.Evaluate[int](`window.__noReload`)); err != nil || marker != 1 {
		t.Errorf("tab A was reloaded: %v %v", marker, err)
	}
	if text, err := chromedp.Run(tabA, chromedp.TextContent(byTestID("open-web-payments"))); err != nil || text != "0 of 2 open" {
		t.Errorf("tab A: the strip says %q (%v), want 0 of 2 open", text, err)
	}
	cancelB()
	cancelA()
	cancelAlloc()
}
