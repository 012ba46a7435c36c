package ui

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// page gets path (with the session, if any) and parses the HTML.
func (ev *env) page(path, session string) *goquery.Document {
	ev.t.Helper()
	rec := ev.do(req{method: http.MethodGet, path: path, session: session})
	if rec.Code != http.StatusOK {
		ev.t.Fatalf("GET %s: status %d: %s", path, rec.Code, rec.Body)
	}
	doc, err := goquery.NewDocumentFromReader(rec.Body)
	if err != nil {
		ev.t.Fatal(err)
	}
	return doc
}

func testid(id string) string { return `[data-testid="` + id + `"]` }

func text(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

func TestOverviewTiles(t *testing.T) {
	ev := newEnv(t)
	doc := ev.page("/", "")
	tile := doc.Find(testid("tile-payments"))
	if tile.Length() != 1 || tile.AttrOr("id", "") != "tile-payments" {
		t.Fatalf("tile-payments: %d found, id %q", tile.Length(), tile.AttrOr("id", ""))
	}
	if doc.Find(testid("tile-search")).Length() != 1 {
		t.Error("no tile for search")
	}
	checks := []struct{ testid, want string }{
		{"state-payments", "● OPEN"},
		{"state-search", "● CLOSED"},
		{"rate-payments", "10.0"},
		{"success-payments", "90.0% eff · 69.2% act"},
		{"latency-payments", "p50 38 ms · p99 410 ms"},
		{"retries-payments", "3.0/s · ×1.30 attempts per call"},
		{"rejected-payments", "0.5/s (breaker)"},
		{"budget-payments", ""},
	}
	for _, c := range checks {
		if got := text(doc.Find(testid(c.testid))); got != c.want {
			t.Errorf("%s: %q, want %q", c.testid, got, c.want)
		}
	}
	if cls := doc.Find(testid("state-payments")).AttrOr("class", ""); !strings.Contains(cls, "state-open") {
		t.Errorf("state pill class %q, want state-open", cls)
	}
	pts := tile.Find(testid("sparkline")+" polyline").AttrOr("points", "")
	if n := len(strings.Fields(pts)); n != 120 {
		t.Errorf("sparkline has %d points, want 120", n)
	}
	if doc.Find(testid("live")).AttrOr("data-events", "") != "/events" {
		t.Error("the overview has no live indicator for /events")
	}
	if doc.Find(testid("login-link")).Length() != 1 || doc.Find(testid("logout")).Length() != 0 {
		t.Error("logged out, the header should offer to log in")
	}
}

func TestForcedTileSaysWhoWhyAndUntil(t *testing.T) {
	ev := newEnv(t)
	ctx := resilience.WithActor(context.Background(), "ana")
	if err := ev.reg.Override(ctx, "payments", resilience.StateForcedOpen, "vendor incident", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ev.stats.update("payments", func(ps *telemetry.PipelineSnapshot) { ps.Breaker.State = resilience.StateForcedOpen })
	doc := ev.page("/", "")
	if got := text(doc.Find(testid("state-payments"))); got != "● FORCED OPEN" {
		t.Errorf("state pill %q", got)
	}
	if got := text(doc.Find(testid("forced-payments"))); got != "by ana: “vendor incident” · until 13:00:00" {
		t.Errorf("forced line %q", got)
	}
}

func TestDetailPage(t *testing.T) {
	ev := newEnv(t)
	doc := ev.page("/pipelines/payments", "")
	if h := doc.Find(testid("header-payments")); h.AttrOr("id", "") != "header-payments" {
		t.Fatal("no header-payments element with a stable id")
	}
	if got := text(doc.Find(testid("state-detail-payments"))); !strings.Contains(got, "failure") {
		t.Errorf("state detail %q", got)
	}
	var states []string
	doc.Find(testid("timeline") + " " + testid("segment")).Each(func(_ int, s *goquery.Selection) {
		states = append(states, s.AttrOr("data-state", ""))
	})
	want := "state-closed state-open state-half-open state-closed state-open"
	if got := strings.Join(states, " "); got != want {
		t.Errorf("timeline %q, want %q", got, want)
	}
	if n := doc.Find(testid("latency-chart") + " polyline").Length(); n != 2 {
		t.Errorf("latency chart has %d lines, want p50 and p99", n)
	}
	if n := doc.Find(testid("outcome-chart") + " rect").Length(); n != 720 {
		t.Errorf("outcome chart has %d rects, want 2 × 360", n)
	}
	if n := doc.Find(testid("backoff-chart") + " " + testid("bar")).Length(); n != 2 {
		t.Errorf("backoff chart has %d bars, want 2", n)
	}
	var labels []string
	doc.Find(testid("attempts-chart") + " .bar-label").Each(func(_ int, s *goquery.Selection) { labels = append(labels, s.Text()) })
	if strings.Join(labels, ",") != "1,2,3" {
		t.Errorf("attempts labels %v", labels)
	}
	calls := doc.Find(testid("calls-payments") + " " + testid("call"))
	if calls.Length() != 2 || !strings.Contains(text(calls.First()), "#0-4813") {
		t.Fatalf("calls: %d, first %q", calls.Length(), text(calls.First()))
	}
	var steps []string
	calls.Eq(1).Find(testid("step")).Each(func(_ int, s *goquery.Selection) { steps = append(steps, text(s)) })
	wantSteps := []string{
		"attempt 1 ✗ 503 Service Unavailable (38 ms)", "wait 212 ms", "attempt 2 ✗ timeout (300 ms)",
		"attempt 3 ⊘ breaker open", "↩ fallback: stale cache", "= success (600 ms)",
	}
	if strings.Join(steps, " | ") != strings.Join(wantSteps, " | ") {
		t.Errorf("steps\n%q\nwant\n%q", steps, wantSteps)
	}
	if got := text(doc.Find(testid("policy") + " li")); !strings.HasPrefix(got, "breaker count window 100 calls") {
		t.Errorf("policy %q", got)
	}
	if doc.Find(testid("live")).AttrOr("data-events", "") != "/events?pipeline=payments" {
		t.Error("the detail page has no live indicator for its stream")
	}
}

func TestControlsNeedALogin(t *testing.T) {
	ev := newEnv(t)
	doc := ev.page("/pipelines/payments", "")
	if doc.Find(testid("override-form")).Length() != 0 {
		t.Error("logged out, the override form is shown")
	}
	if href := doc.Find(testid("login-to-control")).AttrOr("href", ""); !strings.HasPrefix(href, "/login?next=") {
		t.Errorf("login link %q", href)
	}
	if _, ok := doc.Find(testid("downstream-payments") + ` input[name="error_rate"]`).Attr("disabled"); !ok {
		t.Error("logged out, the fault sliders are enabled")
	}

	session := ev.login("ana")
	doc = ev.page("/pipelines/payments", session)
	form := doc.Find(testid("override-form"))
	if form.Length() != 1 || form.AttrOr("method", "") != "post" || form.AttrOr("action", "") != "/pipelines/payments/breaker" {
		t.Fatalf("override form: %d, %s %s", form.Length(), form.AttrOr("method", ""), form.AttrOr("action", ""))
	}
	if got := form.Find(`input[name="csrf"]`).AttrOr("value", ""); got != ev.srv.auth.csrf(session) {
		t.Errorf("form CSRF %q, want the session's", got)
	}
	if _, ok := form.Find(testid("override-reason")).Attr("required"); !ok {
		t.Error("the reason is not required")
	}
	var durations []string
	form.Find(testid("override-duration") + " option").Each(func(_ int, s *goquery.Selection) { durations = append(durations, s.AttrOr("value", "?")) })
	if strings.Join(durations, ",") != ",15m,1h" { // no override in force: nothing to keep
		t.Errorf("durations %q", durations)
	}
	if got := text(doc.Find(testid("actor"))); got != "ana" {
		t.Errorf("actor %q", got)
	}
	if doc.Find(testid("downstream-submit-payments")).Length() != 1 {
		t.Error("logged in, the fault form has no submit button")
	}
}

func TestLoginPageFields(t *testing.T) {
	ev := newEnv(t)
	doc := ev.page("/login?next=/audit", "")
	form := doc.Find(testid("login-form"))
	if form.AttrOr("method", "") != "post" || form.AttrOr("action", "") != "/login" {
		t.Errorf("login form %s %s", form.AttrOr("method", ""), form.AttrOr("action", ""))
	}
	if form.Find(testid("login-token")).AttrOr("type", "") != "password" || form.Find(testid("login-name")).Length() != 1 ||
		form.Find(testid("login-submit")).Length() != 1 || form.Find(`input[name="next"]`).AttrOr("value", "") != "/audit" {
		t.Error("the login form lacks a field")
	}
}

func TestListsPages(t *testing.T) {
	ev := newEnv(t)
	doc := ev.page("/audit", "")
	row := doc.Find(testid("audit-entry"))
	var cells []string
	row.Find("td").Each(func(_ int, s *goquery.Selection) { cells = append(cells, text(s)) })
	want := "2025-03-14 12:00:00|ana|override|payments|closed → forced_open|vendor incident|2025-03-14 13:00:00"
	if row.Length() != 1 || strings.Join(cells, "|") != want {
		t.Errorf("audit row %q, want %q", strings.Join(cells, "|"), want)
	}
	doc = ev.page("/alerts", "")
	if doc.Find(testid("no-alerts")).Length() != 1 {
		t.Error("the alerts page does not say there is none")
	}
}

// TestPagesHaveNoInlineScriptOrStyle keeps the pages within the CSP: no
// style attribute or element, no inline script or event handler.
func TestPagesHaveNoInlineScriptOrStyle(t *testing.T) {
	ev := newEnv(t)
	session := ev.login("ana")
	for _, path := range []string{"/", "/pipelines/payments", "/pipelines/search", "/alerts", "/audit", "/login"} {
		doc := ev.page(path, session)
		if n := doc.Find("[style], style").Length(); n > 0 {
			t.Errorf("%s: %d inline styles", path, n)
		}
		if n := doc.Find("script:not([src])").Length(); n > 0 {
			t.Errorf("%s: %d inline scripts", path, n)
		}
		doc.Find("*").Each(func(_ int, s *goquery.Selection) {
			for _, a := range s.Nodes[0].Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("%s: inline handler %s on <%s>", path, a.Key, s.Nodes[0].Data)
				}
			}
		})
	}
}

// The aggregator is what cmd/app passes as Config.Stats.
var _ Stats = (*telemetry.Aggregator)(nil)

func TestOverviewIsReusedUntilTheIntervalEndsOrAnOverride(t *testing.T) {
	ev := newEnv(t)
	state := func() string { return text(ev.page("/", "").Find(testid("state-payments"))) }
	if got := state(); got != "● OPEN" {
		t.Fatalf("state %q", got)
	}
	ev.stats.update("payments", func(ps *telemetry.PipelineSnapshot) { ps.Breaker.State = resilience.StateHalfOpen })
	if got := state(); got != "● OPEN" {
		t.Fatalf("within the interval: state %q, want the cached OPEN", got)
	}
	ev.clock.Advance(time.Second)
	if got := state(); got != "● HALF-OPEN" {
		t.Fatalf("after the interval: state %q", got)
	}
	ev.stats.update("payments", func(ps *telemetry.PipelineSnapshot) { ps.Breaker.State = resilience.StateForcedOpen })
	rec := ev.do(req{method: "PUT", path: "/api/v1/pipelines/payments/breaker", bearer: testToken, body: `{"state":"forced_open","reason":"drill"}`})
	if rec.Code != 200 {
		t.Fatalf("override: %d", rec.Code)
	}
	if got := state(); got != "● FORCED OPEN" {
		t.Fatalf("after an override: state %q", got)
	}
}
