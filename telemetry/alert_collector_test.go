package telemetry

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fusebox-dev/fusebox/resilience"
)

func TestAlertingCollectorExposesSLOAlertAndWebhookMetrics(t *testing.T) {
	h := newSLOHarness(t, availability999, AlertManagerConfig{
		Breakers: BreakerReaderFunc(func() []BreakerStatus {
			return []BreakerStatus{{Pipeline: "payments", State: resilience.StateForcedOpen}}
		}),
	})
	h.fill(time.Hour, 1000, 100) // an hour at 10 % errors: 100× burn
	h.evaluate()
	n, _ := newQueueOnlyNotifier(t, nil)
	n.receivers[0].count(DeliverySuccess)
	n.receivers[0].count(DeliverySuccess)
	n.receivers[0].count(DeliveryTimeout)

	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewAlertingCollector(h.engine, h.alerts, n)); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP fusebox_alerts_firing Number of firing Fusebox alerts by alert name and severity.
# TYPE fusebox_alerts_firing gauge
fusebox_alerts_firing{alert="BreakerForcedOpen",severity="info"} 1
fusebox_alerts_firing{alert="BreakerOpen",severity="ticket"} 0
fusebox_alerts_firing{alert="ErrorBudgetBurn",severity="page"} 2
fusebox_alerts_firing{alert="ErrorBudgetBurn",severity="ticket"} 2
# HELP fusebox_webhook_deliveries_total Webhook delivery rounds by receiver and result (success, failure, timeout, rejected, dropped).
# TYPE fusebox_webhook_deliveries_total counter
fusebox_webhook_deliveries_total{receiver="hook",result="dropped"} 0
fusebox_webhook_deliveries_total{receiver="hook",result="failure"} 0
fusebox_webhook_deliveries_total{receiver="hook",result="rejected"} 0
fusebox_webhook_deliveries_total{receiver="hook",result="success"} 2
fusebox_webhook_deliveries_total{receiver="hook",result="timeout"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "fusebox_alerts_firing", "fusebox_webhook_deliveries_total"); err != nil {
		t.Error(err)
	}
	st, _ := h.engine.Status(availability999.Name)
	wantSLO := `
# HELP fusebox_slo_error_budget_remaining_ratio Share of the SLO's error budget left over its period; 1 is untouched, below 0 overspent.
# TYPE fusebox_slo_error_budget_remaining_ratio gauge
fusebox_slo_error_budget_remaining_ratio{slo="payments-availability"} ` + formatFloat(st.BudgetRemaining) + `
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantSLO), "fusebox_slo_error_budget_remaining_ratio"); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(NewAlertingCollector(h.engine, nil, nil), "fusebox_slo_burn_rate"); got != len(BurnWindows()) {
		t.Errorf("%d burn-rate series, want one per window", got)
	}
	if err := testutil.CollectAndCompare(NewAlertingCollector(nil, nil, nil), strings.NewReader("")); err != nil {
		t.Errorf("an empty collector exposes something: %v", err)
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
