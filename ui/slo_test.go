package ui

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/resilience"
)

// fakeSLOs reports fixed statuses.
type fakeSLOs []alerting.SLOStatus

func (f fakeSLOs) Statuses(history bool) []alerting.SLOStatus {
	out := make([]alerting.SLOStatus, len(f))
	for i, st := range f {
		if !history {
			st.BudgetHistory = nil
		}
		out[i] = st
	}
	return out
}

func (f fakeSLOs) ForPipeline(p string) []alerting.SLOStatus {
	var out []alerting.SLOStatus
	for _, st := range f {
		if st.Pipeline == p {
			out = append(out, st)
		}
	}
	return out
}

// sloStatus is an SLO of pipeline at 99.9 % over 30 days with remaining
// budget and burn rates by window name; its budget history falls linearly
// from 100 % to remaining over 60 points.
func sloStatus(name, pipeline string, remaining float64, burns map[string]float64) alerting.SLOStatus {
	st := alerting.SLOStatus{
		SLOConfig: alerting.SLOConfig{Name: name, Pipeline: pipeline, SLI: alerting.SLIAvailability, Objective: 99.9, Period: 30 * 24 * time.Hour},
		Time:      t0, Coverage: 30 * 24 * time.Hour,
		Good: 999_620, Total: 1_000_000, Availability: 0.99962,
		BudgetTotal: 1000, BudgetRemaining: remaining, BudgetRemainingCalls: 1000 * remaining,
	}
	for _, w := range alerting.BurnWindows() {
		st.BurnRates = append(st.BurnRates, alerting.BurnRate{Window: w, Rate: burns[w.Name]})
	}
	if b := burns["1h"]; b > 0 && remaining > 0 {
		st.Exhausts, st.TimeToExhaustion = true, time.Duration(remaining*float64(st.Period)/b)
	}
	for i := range 60 {
		st.BudgetHistory = append(st.BudgetHistory, alerting.BudgetPoint{
			Time:      t0.Add(-st.Period).Add(time.Duration(i+1) * st.Period / 60),
			Remaining: 1 - (1-remaining)*float64(i)/59,
		})
	}
	return st
}

// paymentsSLOs: payments burns fast (the 1h page row over its threshold,
// firing in the alert list), search is healthy.
func paymentsSLOs() fakeSLOs {
	return fakeSLOs{
		sloStatus("payments-availability", "payments", 0.62, map[string]float64{"5m": 20, "30m": 16, "1h": 14.9, "2h": 9.1, "6h": 2.2, "1d": 0.9, "3d": 0.5}),
		sloStatus("search-availability", "search", 0.98, map[string]float64{"5m": 0.4, "1h": 0.4, "6h": 0.3}),
	}
}

func burnAlert(slo, long string, state alerting.AlertState) alerting.Alert {
	return alerting.Alert{AlertRecord: alerting.AlertRecord{
		Fingerprint: slo + long, Name: alerting.AlertErrorBudgetBurn, State: state, Source: alerting.SourceFusebox,
		Labels: map[string]string{"alertname": alerting.AlertErrorBudgetBurn, "slo": slo, "long_window": long},
	}}
}

func TestSLOPage(t *testing.T) {
	ev := newEnv(t, func(c *Config) {
		c.SLOs = paymentsSLOs()
		c.Alerts = fakeAlerts{burnAlert("payments-availability", "1h", alerting.AlertFiring)}
	})
	doc := ev.page("/slos", "")
	if doc.Find(`nav a[href="/slos"].current`).Length() != 1 {
		t.Error("no current nav link to /slos")
	}
	sec := doc.Find(testid("slo-payments-availability"))
	if sec.Length() != 1 || sec.AttrOr("id", "") != "slo-payments-availability" {
		t.Fatalf("payments SLO section: %d", sec.Length())
	}
	checks := []struct{ testid, want string }{
		{"slo-objective", "99.9% over 30d"},
		{"slo-availability", "99.96% 1,000,000 calls, 380 bad"},
		{"slo-budget", "62.00% ≈ 620 of 1,000 bad calls left"},
		{"slo-exhaustion", "in 1d5h at the 1h burn rate"},
		{"burn-5m", "20.0×"},
		{"burn-1h", "14.9×"},
		{"burn-3d", "0.5×"},
	}
	for _, c := range checks {
		if got := text(sec.Find(testid(c.testid))); got != c.want {
			t.Errorf("%s: %q, want %q", c.testid, got, c.want)
		}
	}
	var windows []string
	sec.Find(testid("slo-burns") + " thead th[scope=col]").Each(func(_ int, s *goquery.Selection) { windows = append(windows, text(s)) })
	if got := strings.Join(windows, " "); got != "5m 30m 1h 2h 6h 1d 3d" {
		t.Errorf("burn windows %q", got)
	}
	if cls := sec.Find(testid("burn-1h")).AttrOr("class", ""); cls != "burn-bad" {
		t.Errorf("burn-1h class %q", cls)
	}

	rows := sec.Find(testid("slo-alert-row"))
	if rows.Length() != 4 {
		t.Fatalf("%d alert rows, want 4", rows.Length())
	}
	want := []struct{ severity, long, short, threshold, status, spends string }{
		{"page", "1h: 14.9×", "5m: 20.0×", "14.4×", "firing", "2% of the budget in 1h"},
		{"page", "6h: 2.2×", "30m: 16.0×", "6.0×", "ok", "5% of the budget in 6h"},
		{"ticket", "1d: 0.9×", "2h: 9.1×", "3.0×", "ok", "10% of the budget in 1d"},
		{"ticket", "3d: 0.5×", "6h: 2.2×", "1.0×", "ok", "10% of the budget in 3d"},
	}
	rows.Each(func(i int, row *goquery.Selection) {
		var cells []string
		row.Find("td").Each(func(_ int, td *goquery.Selection) { cells = append(cells, text(td)) })
		w := want[i]
		if got := []string{w.severity, w.threshold, w.long, w.short, w.spends, w.status}; strings.Join(cells, "|") != strings.Join(got, "|") {
			t.Errorf("row %d: %q, want %q", i, cells, got)
		}
	})

	chart := sec.Find(testid("budget-chart"))
	if n := len(strings.Fields(chart.Find(".budget-line").AttrOr("points", ""))); n != 60 {
		t.Errorf("budget chart has %d points, want 60", n)
	}
	if label := chart.Find("svg").AttrOr("aria-label", ""); !strings.Contains(label, "now 62.0%") {
		t.Errorf("chart label %q", label)
	}
	if doc.Find(testid("slo-search-availability")).Length() != 1 {
		t.Error("no section for search-availability")
	}
}

func TestSLOAlertRowsWithoutAlertingShowTheCondition(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.SLOs = paymentsSLOs() })
	doc := ev.page("/slos", "")
	row := doc.Find(`[data-testid="slo-payments-availability"] [data-testid="slo-alert-row"][data-long="1h"]`)
	if got := row.AttrOr("data-status", ""); got != "over threshold" {
		t.Errorf("1h row %q, want over threshold", got)
	}
}

func TestSLOPageWithoutSLOs(t *testing.T) {
	ev := newEnv(t)
	doc := ev.page("/slos", "")
	if got := text(doc.Find(testid("no-slos"))); got != "No SLO is configured." {
		t.Errorf("no-slos %q", got)
	}
	if doc.Find(testid("budget-payments")).Children().Length() != 0 {
		t.Error("a budget line without SLOs")
	}
	if doc := ev.page("/pipelines/payments", ""); doc.Find(testid("pipeline-slos")).Length() != 0 {
		t.Error("an SLO section on a pipeline page without SLOs")
	}
}

func TestTileBudgetLine(t *testing.T) {
	slos := paymentsSLOs()
	slos = append(slos,
		// A second SLO of payments with less budget left: the tile shows
		// the worse one.
		sloStatus("payments-latency", "payments", 0.05, map[string]float64{"1h": 3.25}),
		sloStatus("search-spent", "nothing-bound", -0.4, nil),
		sloStatus("inventory-availability", "inventory", 0.9, map[string]float64{"1h": 6.5}),
	)
	ev := newEnv(t, func(c *Config) { c.SLOs = slos })
	ev.stats.snap.Pipelines = append(ev.stats.snap.Pipelines, pipelineSnap("inventory", resilience.StateClosed))
	doc := ev.page("/", "")
	tests := []struct{ name, pipeline, want, class string }{
		{"the SLO with the least budget left is shown", "payments", "budget 5.0% left · burn 3.2×", "budget-low"},
		{"a healthy SLO", "search", "budget 98% left · burn 0.4×", "budget-ok"},
		{"plenty left but burning at a paging rate", "inventory", "budget 90% left · burn 6.5×", "budget-low"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := doc.Find(testid("budget-" + tt.pipeline))
			if got := text(b); got != tt.want {
				t.Errorf("%q, want %q", got, tt.want)
			}
			if cls := b.Find("a").AttrOr("class", ""); cls != tt.class {
				t.Errorf("class %q, want %q", cls, tt.class)
			}
		})
	}
	if got := tileBudget(slos[3]); got.Left != "overspent 40%" || got.Class != "budget-out" {
		t.Errorf("spent budget %+v", got)
	}
	for r, want := range map[float64]string{0: "spent", -0.004: "spent", -0.4: "overspent 40%", -1.5: "overspent 1.5×", -115.22: "overspent 115×"} {
		if got := fmtOverspent(r); got != want {
			t.Errorf("fmtOverspent(%v) = %q, want %q", r, got, want)
		}
	}
}

func TestPipelinePageShowsItsSLOs(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.SLOs = paymentsSLOs() })
	doc := ev.page("/pipelines/payments", "")
	list := doc.Find(testid("pipeline-slos"))
	if list.Find(testid("slo-payments-availability")).Length() != 1 || list.Find(testid("slo-search-availability")).Length() != 0 {
		t.Errorf("pipeline SLOs: %q", text(list.Find("h2")))
	}
}

func TestEventsForAPipelineSendItsSLOs(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.SLOs = paymentsSLOs() })
	ts := httptest.NewServer(ev.e)
	defer ts.Close()
	r, done := stream(t, ts, "/events?pipeline=payments")
	defer done()
	for _, want := range []string{"header", "calls", "slo"} {
		e := readEvent(t, r)
		if e.name != want {
			t.Fatalf("event %q, want %q", e.name, want)
		}
		if want == "slo" && !strings.Contains(e.data, `id="slo-payments-availability"`) {
			t.Errorf("slo event: %.120s", e.data)
		}
	}
	msg, err := ev.srv.fragments(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg), "budget 62% left · burn 14.9×") {
		t.Error("the live tiles carry no budget line")
	}
}

func TestFormats(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"a period in whole days", fmtSpan(30 * 24 * time.Hour), "30d"},
		{"days and hours", fmtSpan(52*time.Hour + 10*time.Minute), "2d4h"},
		{"hours and minutes", fmtSpan(3*time.Hour + 12*time.Minute + 5*time.Second), "3h12m"},
		{"seconds", fmtSpan(30 * time.Second), "30s"},
		{"a burn of nothing", fmtBurn(0), "0×"},
		{"a small burn", fmtBurn(0.043), "0.04×"},
		{"a page burn", fmtBurn(14.94), "14.9×"},
		{"a huge burn", fmtBurn(1000), "1000×"},
		{"a budget left", fmtBudget(0.6204, 2), "62.04%"},
		{"an overspent budget", fmtBudget(-0.123, 0), "-12%"},
		{"no negative zero", fmtBudget(-0.00001, 1), "0.0%"},
		{"an availability just under 100%", fmtAvailability(0.999999), "99.99%"},
		{"a full availability", fmtAvailability(1), "100%"},
		{"a count", fmtCount(1234567), "1,234,567"},
		{"a small count", fmtCount(47), "47"},
		{"a share of the budget", spends(14.4, alerting.BurnWindow{Name: "1h", Duration: time.Hour}, 30*24*time.Hour), "2% of the budget in 1h"},
		{"a burn that spends a short period", spends(14.4, alerting.BurnWindow{Name: "1h", Duration: time.Hour}, time.Hour), "all of it in 4m10s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%q, want %q", tt.got, tt.want)
			}
		})
	}
}
