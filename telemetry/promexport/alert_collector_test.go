package promexport

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func TestAlertingCollectorExposesSLOAlertAndWebhookMetrics(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	slo := alerting.SLOConfig{Name: "payments-availability", Pipeline: "payments", Objective: 99.9}
	eng, err := alerting.NewSLOEngine(alerting.SLOEngineConfig{SLOs: []alerting.SLOConfig{slo}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	n, err := alerting.NewWebhookNotifier(alerting.WebhookNotifierConfig{Clock: clock,
		Receivers: []alerting.WebhookConfig{{Name: "hook", URL: "http://127.0.0.1:1/"}}})
	if err != nil {
		t.Fatal(err)
	}
	am, err := alerting.NewAlertManager(alerting.AlertManagerConfig{SLOs: eng, Clock: clock,
		Breakers: alerting.BreakerReaderFunc(func() []alerting.BreakerStatus {
			return []alerting.BreakerStatus{{Pipeline: "payments", State: resilience.StateForcedOpen}}
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := am.Evaluate(clock.Now()); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewAlertingCollector(eng, am, n)); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP fusebox_alerts_firing Number of firing Fusebox alerts by alert name and severity.
# TYPE fusebox_alerts_firing gauge
fusebox_alerts_firing{alert="BreakerForcedOpen",severity="info"} 1
fusebox_alerts_firing{alert="BreakerOpen",severity="ticket"} 0
fusebox_alerts_firing{alert="ErrorBudgetBurn",severity="page"} 0
fusebox_alerts_firing{alert="ErrorBudgetBurn",severity="ticket"} 0
# HELP fusebox_slo_error_budget_remaining_ratio Share of the SLO's error budget left over its period; 1 is untouched, below 0 overspent.
# TYPE fusebox_slo_error_budget_remaining_ratio gauge
fusebox_slo_error_budget_remaining_ratio{slo="payments-availability"} 1
# HELP fusebox_webhook_deliveries_total Webhook delivery rounds by receiver and result (success, failure, timeout, rejected, dropped).
# TYPE fusebox_webhook_deliveries_total counter
fusebox_webhook_deliveries_total{receiver="hook",result="dropped"} 0
fusebox_webhook_deliveries_total{receiver="hook",result="failure"} 0
fusebox_webhook_deliveries_total{receiver="hook",result="rejected"} 0
fusebox_webhook_deliveries_total{receiver="hook",result="success"} 0
fusebox_webhook_deliveries_total{receiver="hook",result="timeout"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"fusebox_alerts_firing", "fusebox_slo_error_budget_remaining_ratio", "fusebox_webhook_deliveries_total"); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(NewAlertingCollector(eng, nil, nil), "fusebox_slo_burn_rate"); got != len(alerting.BurnWindows()) {
		t.Errorf("%d burn-rate series, want one per window", got)
	}
	if err := testutil.CollectAndCompare(NewAlertingCollector(nil, nil, nil), strings.NewReader("")); err != nil {
		t.Errorf("an empty collector exposes something: %v", err)
	}
}
