package alerting_test

import (
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/store"
)

// *store.Store is the alert store, outbox, notification log and SLO
// history of the app, as it is.
var (
	_ alerting.NotificationLog = (*store.Store)(nil)
	_ alerting.AlertStore      = (*store.Store)(nil)
	_ alerting.Outbox          = (*store.Store)(nil)
	_ alerting.SLOHistoryStore = (*store.Store)(nil)
)

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAlertingWithTheRealStore restarts alerts, SLO history and the
// outbox on the bbolt store.
func TestAlertingWithTheRealStore(t *testing.T) {
	dir := t.TempDir()
	clock := resiliencetest.NewClock(alerting.SLOStart)
	slo := alerting.SLOConfig{Name: "payments-availability", Pipeline: "payments", Objective: 99.9}

	// First run: 100 % errors page; the receiver is down.
	rs := alerting.NewReceiverServer(t, "", 1<<30)
	rc := alerting.WebhookConfig{Name: "ops", URL: rs.URL}
	s := openStore(t, dir)
	eng, err := alerting.NewSLOEngine(alerting.SLOEngineConfig{Clock: clock, History: s, SLOs: []alerting.SLOConfig{slo}})
	if err != nil {
		t.Fatal(err)
	}
	obs, _ := eng.Bind("payments")
	n := alerting.FastNotifier(t, s, rc)
	am, err := alerting.NewAlertManager(alerting.AlertManagerConfig{Clock: clock, SLOs: eng, Store: s, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	for range 600 { // 60 s at 10 calls/s
		clock.Advance(100 * time.Millisecond)
		obs.Observe(t.Context(), resilience.Event{Kind: resilience.KindCallEnd, Outcome: resilience.OutcomeFailure, Time: clock.Now()})
	}
	if err := am.Evaluate(clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := n.DeliverPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := eng.Status(slo.Name)
	_ = n.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Second run: the receiver is back.
	rs.SetFailN(0)
	s = openStore(t, dir)
	defer s.Close()
	eng, err = alerting.NewSLOEngine(alerting.SLOEngineConfig{Clock: clock, History: s, SLOs: []alerting.SLOConfig{slo}})
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := eng.Status(slo.Name); after.Total != before.Total || after.Good != before.Good {
		t.Errorf("SLO counts after restart %v/%v, want %v/%v", after.Good, after.Total, before.Good, before.Total)
	}
	n = alerting.FastNotifier(t, s, rc)
	am, err = alerting.NewAlertManager(alerting.AlertManagerConfig{Clock: clock, SLOs: eng, Store: s, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	page, ok := alerting.FindAlert(am.Alerts(), alerting.RowLabels(alerting.BurnRateAlerts()[0]))
	if !ok || page.State != alerting.AlertFiring {
		t.Fatalf("page after restart = %+v", page)
	}
	if err := am.Evaluate(clock.Now()); err != nil {
		t.Fatal(err)
	}
	alerting.DeliverAll(t, n, 3)
	if got := rs.Accepted(page.Fingerprint + "/firing"); got != 1 {
		t.Errorf("the page was accepted %d times, want once", got)
	}
}
