package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

var availability999 = SLOConfig{Name: "payments-availability", Pipeline: "payments", Objective: 99.9}

// TestBurnAlertDetectionTimeFollowsTheWorkbook checks each row against the
// SRE Workbook: with a 99.9 % SLO and 100 % errors, detection = (1 −
// SLO)/error ratio × long window × factor (51.8 s for the 1h page), plus at
// most one evaluation interval. The engine starts fresh: the part of each
// window before its history began counts as clean, as the formula assumes.
func TestBurnAlertDetectionTimeFollowsTheWorkbook(t *testing.T) {
	for _, row := range BurnRateAlerts() {
		t.Run(row.Severity+" at "+fmtBurn(row.Factor)+"x over "+row.Long.Name+" and "+row.Short.Name, func(t *testing.T) {
			h := newSLOHarness(t, availability999, AlertManagerConfig{})
			detect := time.Duration(0.001 / 1.0 * float64(row.Long.Duration) * row.Factor)
			var firedAt time.Duration
			h.drive(detect+2*DefaultEvaluationInterval, 10, func(int) bool { return true }, func(since time.Duration) {
				if firedAt == 0 && h.state(rowLabels(row)) == AlertFiring {
					firedAt = since
				}
			})
			if firedAt == 0 {
				t.Fatalf("did not fire within %v", detect+2*DefaultEvaluationInterval)
			}
			if firedAt < detect || firedAt > detect+DefaultEvaluationInterval {
				t.Errorf("fired after %v, want within (%v, %v]", firedAt, detect, detect+DefaultEvaluationInterval)
			}
			a, _ := findAlert(h.alerts.Alerts(), rowLabels(row))
			if !a.StartsAt.Equal(sloStart.Add(firedAt)) || a.Source != SourceFusebox || a.Labels["slo"] != availability999.Name {
				t.Errorf("alert = %+v", a.AlertRecord)
			}
		})
	}
}

// TestBurnAlertPageAfterAnHourOfCleanTraffic is the Workbook case with a
// full window of history: 1 call/s, clean for an hour, then all failing;
// the 52nd failure in the hour crosses 14.4×.
func TestBurnAlertPageAfterAnHourOfCleanTraffic(t *testing.T) {
	h := newSLOHarness(t, availability999, AlertManagerConfig{})
	page := BurnRateAlerts()[0]
	h.drive(time.Hour, 1, func(int) bool { return false }, nil)
	if s := h.state(rowLabels(page)); s != AlertInactive {
		t.Fatalf("state after a clean hour = %q", s)
	}
	start := h.clock.Now().Sub(h.start)
	var firedAt time.Duration
	h.drive(2*time.Minute, 1, func(int) bool { return true }, func(since time.Duration) {
		if firedAt == 0 && h.state(rowLabels(page)) == AlertFiring {
			firedAt = since - start
		}
	})
	if firedAt < 51*time.Second || firedAt > 52*time.Second+DefaultEvaluationInterval {
		t.Errorf("fired %v after the errors began, want 51.8 s plus at most one interval", firedAt)
	}
}

// TestBurnAlertRows checks each row with steady traffic over its whole long
// window: it fires just above its factor, not just below, and resolves
// once the short window is clean again.
func TestBurnAlertRows(t *testing.T) {
	for _, row := range BurnRateAlerts() {
		badPerMille := func(x float64) uint64 { return uint64(x*row.Factor*0.001*100000 + 0.5) }
		t.Run(row.Long.Name+" row fires at 1.1x its factor", func(t *testing.T) {
			h := newSLOHarness(t, availability999, AlertManagerConfig{})
			h.fill(row.Long.Duration, 100000, badPerMille(1.1))
			h.evaluate()
			if s := h.state(rowLabels(row)); s != AlertFiring {
				t.Fatalf("state = %q, want firing", s)
			}
			h.fill(row.Short.Duration+time.Minute, 100000, 0)
			h.evaluate()
			a, _ := findAlert(h.alerts.Alerts(), rowLabels(row))
			if a.State != AlertResolved || !a.EndsAt.Equal(h.clock.Now()) {
				t.Errorf("after a clean short window: state %q endsAt %v, want resolved at %v", a.State, a.EndsAt, h.clock.Now())
			}
			if n := len(a.History); n != 3 || a.History[0].To != AlertPending || a.History[1].To != AlertFiring || a.History[2].To != AlertResolved {
				t.Errorf("history = %+v", a.History)
			}
		})
		t.Run(row.Long.Name+" row does not fire at 0.9x its factor", func(t *testing.T) {
			h := newSLOHarness(t, availability999, AlertManagerConfig{})
			h.fill(row.Long.Duration, 100000, badPerMille(0.9))
			h.evaluate()
			if s := h.state(rowLabels(row)); s != AlertInactive {
				t.Errorf("state = %q, want none", s)
			}
		})
		t.Run(row.Long.Name+" row needs its short window too", func(t *testing.T) {
			h := newSLOHarness(t, availability999, AlertManagerConfig{})
			h.fill(row.Long.Duration-row.Short.Duration, 100000, badPerMille(2))
			h.fill(row.Short.Duration, 100000, 0)
			h.evaluate()
			st, _ := h.engine.Status(availability999.Name)
			if st.Burn(row.Long.Name) <= row.Factor {
				t.Fatalf("long burn %v is not above %v", st.Burn(row.Long.Name), row.Factor)
			}
			if s := h.state(rowLabels(row)); s != AlertInactive {
				t.Errorf("state = %q with a clean short window, want none", s)
			}
		})
	}
}

// TestBurnAlertNeverPagesAtHalfTheBudgetRate drives 0.05 % errors (a 0.5×
// burn of a 99.9 % SLO) call by call for two hours, then steadily for
// three days: no row fires.
func TestBurnAlertNeverPagesAtHalfTheBudgetRate(t *testing.T) {
	h := newSLOHarness(t, availability999, AlertManagerConfig{})
	check := func(time.Duration) {
		for _, a := range h.alerts.Alerts() {
			t.Fatalf("alert %s %v at %v", a.State, a.Labels, h.clock.Now().Sub(h.start))
		}
	}
	h.drive(2*time.Hour, 10, func(i int) bool { return i%2000 == 1999 }, check)
	h.fill(72*time.Hour, 20000, 10)
	h.evaluate()
	check(0)
}

func TestBreakerAlerts(t *testing.T) {
	clock := resiliencetest.NewClock(sloStart)
	br, err := resilience.NewBreaker(resilience.BreakerConfig{WindowSize: 2, MinimumCalls: 2, HalfOpenProbes: 1, OpenDuration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("payments", resilience.Config{Policies: []resilience.Policy{br}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var reg resilience.Registry
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	am, err := NewAlertManager(AlertManagerConfig{Breakers: RegistryBreakers(&reg), Clock: clock, BreakerOpenFor: time.Minute, ResolveHold: -1})
	if err != nil {
		t.Fatal(err)
	}
	eval := func() {
		t.Helper()
		if err := am.Evaluate(clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	open := map[string]string{"alertname": AlertBreakerOpen, "pipeline": "payments", "severity": "ticket"}
	forced := map[string]string{"alertname": AlertBreakerForcedOpen, "pipeline": "payments", "severity": "info"}
	state := func(l map[string]string) AlertState {
		a, _ := findAlert(am.Alerts(), l)
		return a.State
	}
	fail := func() {
		_ = resilience.Run(context.Background(), p, func(context.Context) error { return errors.New("down") })
	}
	ok := func() { _ = resilience.Run(context.Background(), p, func(context.Context) error { return nil }) }

	t.Run("an open breaker is pending, then fires after the configured time", func(t *testing.T) {
		fail()
		fail()
		eval()
		if s := state(open); s != AlertPending {
			t.Fatalf("state = %q, want pending", s)
		}
		clock.Advance(30 * time.Second) // half-open by now: still not closed
		eval()
		if s := state(open); s != AlertPending {
			t.Fatalf("state after 30 s = %q, want pending", s)
		}
		clock.Advance(30 * time.Second)
		eval()
		if s := state(open); s != AlertFiring {
			t.Fatalf("state after 60 s = %q, want firing", s)
		}
	})
	t.Run("it resolves when the breaker closes", func(t *testing.T) {
		ok() // the half-open probe succeeds
		eval()
		if s := state(open); s != AlertResolved {
			t.Fatalf("state = %q, want resolved", s)
		}
	})
	t.Run("a breaker that closes before the time never fires", func(t *testing.T) {
		fail()
		fail()
		eval()
		clock.Advance(20 * time.Second)
		ok()
		eval()
		if s := state(open); s != AlertResolved { // the resolved one from before, untouched
			t.Fatalf("state = %q, want the earlier resolved alert", s)
		}
		a, _ := findAlert(am.Alerts(), open)
		if n := len(a.History); n != 5 || a.History[3].To != AlertPending || a.History[4].To != AlertResolved {
			t.Errorf("history = %+v, want the earlier three transitions, pending and resolved", a.History)
		}
	})
	t.Run("a forced-open breaker fires an info alert at once with the reason", func(t *testing.T) {
		ctx := resilience.WithActor(context.Background(), "alice")
		if err := reg.Override(ctx, "payments", resilience.StateForcedOpen, "maintenance window", time.Time{}); err != nil {
			t.Fatal(err)
		}
		eval()
		a, _ := findAlert(am.Alerts(), forced)
		if a.State != AlertFiring || !strings.Contains(a.Annotations["description"], "alice") || !strings.Contains(a.Annotations["description"], "maintenance window") {
			t.Fatalf("alert = %+v", a.AlertRecord)
		}
		if err := reg.Auto(ctx, "payments", "done"); err != nil {
			t.Fatal(err)
		}
		eval()
		if s := state(forced); s != AlertResolved {
			t.Errorf("state after auto = %q, want resolved", s)
		}
	})
}

func TestResolvedAlertIsHeldAgainstFlapping(t *testing.T) {
	clock := resiliencetest.NewClock(sloStart)
	st := resilience.StateForcedOpen
	breakers := BreakerReaderFunc(func() []BreakerStatus { return []BreakerStatus{{Pipeline: "p", State: st}} })
	notifier, outbox := newQueueOnlyNotifier(t, clock)
	am, err := NewAlertManager(AlertManagerConfig{Breakers: breakers, Clock: clock, ResolveHold: time.Minute, Notifier: notifier})
	if err != nil {
		t.Fatal(err)
	}
	eval := func() {
		t.Helper()
		if err := am.Evaluate(clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	labels := map[string]string{"alertname": AlertBreakerForcedOpen}
	eval() // fires
	clock.Advance(5 * time.Second)
	st = resilience.StateClosed
	eval() // resolves
	clock.Advance(5 * time.Second)
	st = resilience.StateForcedOpen
	for range 11 { // 55 s: within the hold
		eval()
		a, _ := findAlert(am.Alerts(), labels)
		if a.State != AlertResolved {
			t.Fatalf("state %v after resolving, within the hold = %q", clock.Now().Sub(a.EndsAt), a.State)
		}
		clock.Advance(5 * time.Second)
	}
	eval()
	a, _ := findAlert(am.Alerts(), labels)
	if a.State != AlertFiring || !a.StartsAt.Equal(clock.Now()) {
		t.Fatalf("after the hold: %+v", a.AlertRecord)
	}
	if got := statuses(t, outbox); strings.Join(got, ",") != "firing,resolved,firing" {
		t.Errorf("notifications = %v, want firing,resolved,firing", got)
	}
	if fp := Fingerprint(a.Labels); fp != a.Fingerprint {
		t.Errorf("fingerprint %s, want %s", a.Fingerprint, fp)
	}
}

// newQueueOnlyNotifier returns a notifier whose one receiver is never
// delivered to (nothing calls DeliverPending), to count what is queued.
func newQueueOnlyNotifier(t *testing.T, clock resilience.Clock) (*WebhookNotifier, *memoryOutbox) {
	t.Helper()
	outbox := &memoryOutbox{}
	n, err := NewWebhookNotifier(WebhookNotifierConfig{Clock: clock, Outbox: outbox,
		Receivers: []WebhookConfig{{Name: "hook", URL: "http://127.0.0.1:1/"}}})
	if err != nil {
		t.Fatal(err)
	}
	return n, outbox
}

// statuses returns the status of each queued notification, in order.
func statuses(t *testing.T, o Outbox) []string {
	t.Helper()
	ns, err := o.PendingNotifications("")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range ns {
		var p AlertmanagerPayload
		if err := json.Unmarshal(n.Payload, &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Status)
	}
	return out
}

func TestAlertStateSurvivesARestart(t *testing.T) {
	clock := resiliencetest.NewClock(sloStart)
	st := resilience.StateForcedOpen
	breakers := BreakerReaderFunc(func() []BreakerStatus { return []BreakerStatus{{Pipeline: "p", State: st}} })
	store := &memAlertStore{}
	notifier, outbox := newQueueOnlyNotifier(t, clock)
	cfg := AlertManagerConfig{Breakers: breakers, Clock: clock, Store: store, Notifier: notifier}
	am, err := NewAlertManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := am.Evaluate(clock.Now()); err != nil {
		t.Fatal(err)
	}
	firing := am.Alerts()
	am2, err := NewAlertManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := am2.Alerts(); len(got) != 1 || got[0].State != AlertFiring || !got[0].StartsAt.Equal(firing[0].StartsAt) {
		t.Fatalf("after restart: %+v", got)
	}
	clock.Advance(5 * time.Second)
	if err := am2.Evaluate(clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got := statuses(t, outbox); len(got) != 1 {
		t.Errorf("a still-firing alert was notified again after the restart: %v", got)
	}
	st = resilience.StateClosed
	if err := am2.Evaluate(clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got := statuses(t, outbox); strings.Join(got, ",") != "firing,resolved" {
		t.Errorf("notifications = %v", got)
	}
	recs, _ := store.Alerts()
	if len(recs) != 1 || recs[0].State != AlertResolved || len(recs[0].History) != 3 {
		t.Errorf("stored = %+v", recs)
	}
	t.Run("resolved alerts are forgotten after the retention", func(t *testing.T) {
		clock.Advance(DefaultResolvedRetention + time.Second)
		if err := am2.Evaluate(clock.Now()); err != nil {
			t.Fatal(err)
		}
		if got := am2.Alerts(); len(got) != 0 {
			t.Errorf("alerts = %+v", got)
		}
		if recs, _ := store.Alerts(); len(recs) != 0 {
			t.Errorf("stored = %+v", recs)
		}
	})
}

func TestAlertManagerRunEvaluatesOnItsClock(t *testing.T) {
	clock := resiliencetest.NewClock(sloStart)
	var st resilience.State
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	breakers := BreakerReaderFunc(func() []BreakerStatus {
		<-mu
		defer func() { mu <- struct{}{} }()
		return []BreakerStatus{{Pipeline: "p", State: st}}
	})
	am, err := NewAlertManager(AlertManagerConfig{Breakers: breakers, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- am.Run(ctx) }()
	clock.BlockUntil(1) // evaluated once, waiting
	if len(am.Alerts()) != 0 {
		t.Fatal("alert without a condition")
	}
	<-mu
	st = resilience.StateForcedOpen
	mu <- struct{}{}
	clock.Advance(DefaultEvaluationInterval - time.Millisecond)
	if len(am.Alerts()) != 0 {
		t.Fatal("evaluated before the interval")
	}
	clock.Advance(time.Millisecond)
	clock.BlockUntil(1)
	if as := am.Alerts(); len(as) != 1 || as[0].State != AlertFiring {
		t.Fatalf("alerts after one interval = %+v", as)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestAlertManagerRejectsBadConfig(t *testing.T) {
	for _, c := range []AlertManagerConfig{
		{EvaluationInterval: -time.Second}, {BreakerOpenFor: -1}, {ResolvedRetention: -1}, {MaxExternalAlerts: -1},
	} {
		if _, err := NewAlertManager(c); err == nil {
			t.Errorf("NewAlertManager(%+v) = nil error", c)
		}
	}
}

func TestFingerprintMatchesAlertmanager(t *testing.T) {
	// The values of prometheus/common's model.LabelSet.Fingerprint tests
	// (14695981039346656037 and 5799056148416392346).
	tests := []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{}, "cbf29ce484222325"},
		{map[string]string{"name": "garland, briggs", "fear": "love is not enough"}, "507a62d79ee76c9a"},
	}
	for _, tt := range tests {
		if got := Fingerprint(tt.labels); got != tt.want {
			t.Errorf("Fingerprint(%v) = %s, want %s", tt.labels, got, tt.want)
		}
	}
	a := Fingerprint(map[string]string{"a": "b", "c": "d"})
	if b := Fingerprint(map[string]string{"c": "d", "a": "b"}); a != b {
		t.Error("fingerprint depends on map order")
	}
	if b := Fingerprint(map[string]string{"a": "bc", "": "d"}); a == b {
		t.Error("fingerprint does not separate names and values")
	}
}
