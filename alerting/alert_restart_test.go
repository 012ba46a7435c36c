package alerting_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// TestACrashDoesNotResolveFiringAlertsWithoutFreshEvidence pages on a
// payments outage, kills the process (no last save of the SLO history, no
// clean shutdown), keeps it down for six minutes (longer than the page's
// 5m short window) and starts it again on the same data directory with a
// fresh breaker: the page and the breaker alert stay firing, and no
// receiver hears "resolved", until calls flow again and show the
// dependency healthy; then both resolve.
func TestACrashDoesNotResolveFiringAlertsWithoutFreshEvidence(t *testing.T) {
	dir := t.TempDir()
	clock := resiliencetest.NewClock(alerting.SLOStart)
	slo := alerting.SLOConfig{Name: "payments-availability", Pipeline: "payments", Objective: 99.9, Period: time.Hour}
	rc := alerting.WebhookConfig{Name: "ops", URL: "http://127.0.0.1:1/"}
	page := alerting.RowLabels(alerting.BurnRateAlerts()[0])
	breakerOpen := map[string]string{"alertname": alerting.AlertBreakerOpen, "pipeline": "payments"}

	type run struct {
		s   interface{ Close() error }
		p   *resilience.Pipeline
		eng *alerting.SLOEngine
		am  *alerting.AlertManager
		n   *alerting.WebhookNotifier
	}
	start := func() run {
		t.Helper()
		s := openStore(t, dir)
		t.Cleanup(func() { _ = s.Close() })
		eng, err := alerting.NewSLOEngine(alerting.SLOEngineConfig{Clock: clock, History: s, SLOs: []alerting.SLOConfig{slo}})
		if err != nil {
			t.Fatal(err)
		}
		br, err := resilience.NewBreaker(resilience.BreakerConfig{WindowSize: 10, MinimumCalls: 5, OpenDuration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		p, err := resilience.New("payments", resilience.Config{Policies: []resilience.Policy{br}, Observers: []resilience.Observer{eng}, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		var reg resilience.Registry
		if err := reg.Add(p); err != nil {
			t.Fatal(err)
		}
		n, err := alerting.NewWebhookNotifier(alerting.WebhookNotifierConfig{Receivers: []alerting.WebhookConfig{rc}, Outbox: s, Log: s, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		am, err := alerting.NewAlertManager(alerting.AlertManagerConfig{Clock: clock, SLOs: eng, Store: s, Notifier: n,
			Breakers: alerting.RegistryBreakers(&reg), BreakerOpenFor: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return run{s: s, p: p, eng: eng, am: am, n: n}
	}
	// traffic makes 10 calls a second for d, evaluating every 5 s.
	traffic := func(r run, d time.Duration, fail bool) {
		t.Helper()
		for end := clock.Now().Add(d); clock.Now().Before(end); {
			clock.Advance(100 * time.Millisecond)
			_ = resilience.Run(context.Background(), r.p, func(context.Context) error {
				if fail {
					return errors.New("payments down")
				}
				return nil
			})
			if clock.Now().Sub(alerting.SLOStart)%alerting.DefaultEvaluationInterval == 0 {
				if err := r.am.Evaluate(clock.Now()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	state := func(r run, labels map[string]string) alerting.AlertState {
		a, _ := alerting.FindAlert(r.am.Alerts(), labels)
		return a.State
	}
	// notified lists, for each queued notification in order, each of its
	// alerts as alertname/long_window:status.
	notified := func(r run) []string {
		t.Helper()
		ps, err := r.n.Pending()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			pl, err := alerting.ParseAlertmanagerPayload(p.Payload)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range pl.Alerts {
				out = append(out, a.Labels["alertname"]+"/"+a.Labels["long_window"]+":"+a.Status)
			}
		}
		return out
	}

	first := start()
	traffic(first, 3*time.Minute, true)
	if s, b := state(first, page), state(first, breakerOpen); s != alerting.AlertFiring || b != alerting.AlertFiring {
		t.Fatalf("after 3 minutes of outage: page %q, breaker %q; want both firing", s, b)
	}
	if err := first.eng.Save(); err != nil { // the last periodic save
		t.Fatal(err)
	}
	traffic(first, 5*time.Second, true) // lost with the process
	before := notified(first)

	clock.Advance(6 * time.Minute)          // kill -9, down for six minutes
	if err := first.s.Close(); err != nil { // what is written is on disk
		t.Fatal(err)
	}
	second := start()
	for range 3 {
		clock.Advance(alerting.DefaultEvaluationInterval)
		if err := second.am.Evaluate(clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if s, b := state(second, page), state(second, breakerOpen); s != alerting.AlertFiring || b != alerting.AlertFiring {
		t.Fatalf("after the restart, before any call: page %q, breaker %q; want both still firing", s, b)
	}
	for _, s := range notified(second)[len(before):] {
		if strings.HasSuffix(s, ":resolved") {
			t.Fatalf("notified %s after the restart, before any call", s)
		}
	}

	traffic(second, time.Minute, false) // the dependency is healthy again
	if s, b := state(second, page), state(second, breakerOpen); s != alerting.AlertResolved || b != alerting.AlertResolved {
		t.Fatalf("after a minute of healthy calls: page %q, breaker %q; want both resolved", s, b)
	}
	got := notified(second)[len(before):]
	if !slices.Contains(got, alerting.AlertErrorBudgetBurn+"/1h:resolved") || !slices.Contains(got, alerting.AlertBreakerOpen+"/:resolved") {
		t.Errorf("notified after healthy calls: %v, want the page and the breaker alert resolved", got)
	}
}
