package alerting

import (
	"slices"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

func TestFiringCountsListEveryAlertTheRulesCanRaise(t *testing.T) {
	h := newSLOHarness(t, availability999, AlertManagerConfig{
		Breakers: BreakerReaderFunc(func() []BreakerStatus {
			return []BreakerStatus{{Pipeline: "payments", State: resilience.StateForcedOpen}}
		}),
	})
	h.fill(time.Hour, 1000, 100) // an hour at 10 % errors: 100× burn
	h.evaluate()
	want := []FiringCount{
		{Alert: AlertBreakerForcedOpen, Severity: "info", Firing: 1},
		{Alert: AlertBreakerOpen, Severity: "ticket", Firing: 0},
		{Alert: AlertErrorBudgetBurn, Severity: "page", Firing: 2},
		{Alert: AlertErrorBudgetBurn, Severity: "ticket", Firing: 2},
	}
	if got := h.alerts.FiringCounts(); !slices.Equal(got, want) {
		t.Errorf("FiringCounts() = %v, want %v", got, want)
	}
}

func TestDeliveryCountsListEveryResultOfEveryReceiver(t *testing.T) {
	n, _ := newQueueOnlyNotifier(t, nil)
	n.receivers[0].count(DeliverySuccess)
	n.receivers[0].count(DeliverySuccess)
	n.receivers[0].count(DeliveryTimeout)
	want := []DeliveryCount{
		{Receiver: "hook", Result: DeliverySuccess, Count: 2},
		{Receiver: "hook", Result: DeliveryFailure},
		{Receiver: "hook", Result: DeliveryTimeout, Count: 1},
		{Receiver: "hook", Result: DeliveryRejected},
		{Receiver: "hook", Result: DeliveryDropped},
	}
	if got := n.DeliveryCounts(); !slices.Equal(got, want) {
		t.Errorf("DeliveryCounts() = %v, want %v", got, want)
	}
}
