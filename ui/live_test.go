package ui

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// liveAlerts is an AlertLister whose alerts a test changes.
type liveAlerts struct {
	mu  sync.Mutex
	all []alerting.Alert
}

func (l *liveAlerts) Alerts() []alerting.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]alerting.Alert(nil), l.all...)
}

func (l *liveAlerts) fire(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, alerting.Alert{AlertRecord: alerting.AlertRecord{Fingerprint: name, Name: name, State: alerting.AlertFiring, Severity: "page", Source: alerting.SourceFusebox, StartsAt: t0}})
}

func TestLivePartsUpdate(t *testing.T) {
	for _, tt := range []struct {
		path  string
		first []string // the events of the first message, in order
	}{
		{"/events", []string{"nav", "tile", "tile", "pipelines", "scenarios"}},
		{"/events?pipeline=payments", []string{"nav", "header", "charts", "calls", "slo"}},
		{"/events?page=slos", []string{"nav", "slo", "slo"}},
		{"/events?page=alerts", []string{"nav", "alerts"}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			// A server of its own: the update interval runs on a fake
			// clock that does not move, so only a first update goes out.
			alerts := &liveAlerts{}
			sc := &fakeScenarios{list: []Scenario{{Name: "payments-outage", Title: "Payments outage", Downstream: "payments"}}}
			ev := newEnv(t, func(c *Config) { c.Alerts, c.Scenarios, c.SLOs = alerts, sc, paymentsSLOs() })
			ts := httptest.NewServer(ev.e)
			defer ts.Close()
			r, done := stream(t, ts, tt.path)
			defer done()
			for _, want := range tt.first {
				if e := readAnyEvent(t, r); e.name != want {
					t.Fatalf("event %q, want %q", e.name, want)
				}
			}
			// An alert fires: the next update's nav counts it.
			alerts.fire("ErrorBudgetBurn-" + strings.ReplaceAll(tt.path, "/", "_"))
			ev.stats.update("payments", func(ps *telemetry.PipelineSnapshot) { ps.Breaker.State = resilience.StateHalfOpen })
			e := readAnyEvent(t, r)
			if e.name != "nav" || !strings.Contains(e.data, `id="nav-alerts"`) || !strings.Contains(e.data, "firing ▲") {
				t.Fatalf("update starts with %q: %s", e.name, e.data)
			}
			for range len(tt.first) - 1 {
				e := readAnyEvent(t, r)
				switch e.name {
				case "alerts":
					if !strings.Contains(e.data, `id="alerts-body"`) || !strings.Contains(e.data, "ErrorBudgetBurn-") {
						t.Errorf("alerts update: %.200s", e.data)
					}
				case "charts":
					if !strings.Contains(e.data, `id="charts-payments"`) || !strings.Contains(e.data, `data-testid="timeline"`) {
						t.Errorf("charts update: %.200s", e.data)
					}
				case "scenarios":
					if !strings.Contains(e.data, `id="scenarios"`) {
						t.Errorf("scenarios update: %.200s", e.data)
					}
				case "pipelines":
					if !strings.Contains(e.data, `<li>payments</li>`) {
						t.Errorf("pipelines update: %.200s", e.data)
					}
				}
			}
		})
	}
}

func TestLivePagesLinkTheirStreams(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.Alerts = &liveAlerts{}; c.SLOs = paymentsSLOs() })
	for path, want := range map[string]string{
		"/": "/events", "/pipelines/payments": "/events?pipeline=payments",
		"/slos": "/events?page=slos", "/alerts": "/events?page=alerts",
	} {
		if got := ev.page(path, "").Find(testid("live")).AttrOr("data-events", ""); got != want {
			t.Errorf("%s streams from %q, want %q", path, got, want)
		}
	}
	if rec := ev.do(req{method: "GET", path: "/events?page=audit"}); rec.Code != 404 {
		t.Errorf("/events?page=audit: %d", rec.Code)
	}
}
