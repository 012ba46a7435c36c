package alerting

import (
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/store"
)

// storeAdapter adapts *store.Store to AlertStore and Outbox, as cmd/app
// does; *store.Store is an SLOHistoryStore as it is.
type storeAdapter struct{ s *store.Store }

func (a storeAdapter) PutAlert(r AlertRecord) error {
	h := make([]store.AlertTransition, len(r.History))
	for i, t := range r.History {
		h[i] = store.AlertTransition(t)
	}
	return a.s.PutAlert(store.AlertRecord{
		Fingerprint: r.Fingerprint, Name: r.Name, Severity: r.Severity, Labels: r.Labels, Annotations: r.Annotations,
		State: r.State, ActiveAt: r.ActiveAt, StartsAt: r.StartsAt, EndsAt: r.EndsAt, Source: r.Source,
		GeneratorURL: r.GeneratorURL, History: h,
	})
}

func (a storeAdapter) Alerts() ([]AlertRecord, error) {
	recs, err := a.s.Alerts()
	if err != nil {
		return nil, err
	}
	out := make([]AlertRecord, len(recs))
	for i, r := range recs {
		h := make([]AlertTransition, len(r.History))
		for j, t := range r.History {
			h[j] = AlertTransition(t)
		}
		out[i] = AlertRecord{
			Fingerprint: r.Fingerprint, Name: r.Name, Severity: r.Severity, Labels: r.Labels, Annotations: r.Annotations,
			State: r.State, ActiveAt: r.ActiveAt, StartsAt: r.StartsAt, EndsAt: r.EndsAt, Source: r.Source,
			GeneratorURL: r.GeneratorURL, History: h,
		}
	}
	return out, nil
}

func (a storeAdapter) DeleteAlert(fp string) error { return a.s.DeleteAlert(fp) }

func (a storeAdapter) EnqueueNotification(n Notification) (uint64, error) {
	return a.s.EnqueueNotification(store.Notification(n))
}

func (a storeAdapter) PendingNotifications(receiver string) ([]Notification, error) {
	ns, err := a.s.PendingNotifications(receiver)
	out := make([]Notification, len(ns))
	for i, n := range ns {
		out[i] = Notification(n)
	}
	return out, err
}

func (a storeAdapter) UpdateNotification(n Notification) error {
	return a.s.UpdateNotification(store.Notification(n))
}

func (a storeAdapter) AckNotification(id uint64) error { return a.s.AckNotification(id) }

func (a storeAdapter) PutNotifiedGroup(g NotifiedGroup) error {
	return a.s.PutNotifiedGroup(store.NotifiedGroup(g))
}

func (a storeAdapter) DeleteNotifiedGroup(receiver, group string) error {
	return a.s.DeleteNotifiedGroup(receiver, group)
}

func (a storeAdapter) NotifiedGroups() ([]NotifiedGroup, error) {
	gs, err := a.s.NotifiedGroups()
	out := make([]NotifiedGroup, len(gs))
	for i, g := range gs {
		out[i] = NotifiedGroup(g)
	}
	return out, err
}

var (
	_ NotificationLog = storeAdapter{}
	_ AlertStore      = storeAdapter{}
	_ Outbox          = storeAdapter{}
	_ SLOHistoryStore = (*store.Store)(nil)
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
	clock := resiliencetest.NewClock(sloStart)
	slo := SLOConfig{Name: "payments-availability", Pipeline: "payments", Objective: 99.9}

	// First run: 100 % errors page; the receiver is down.
	rs := newReceiverServer(t, "", 1<<30)
	rc := WebhookConfig{Name: "ops", URL: rs.URL}
	s := openStore(t, dir)
	eng, err := NewSLOEngine(SLOEngineConfig{Clock: clock, History: s, SLOs: []SLOConfig{slo}})
	if err != nil {
		t.Fatal(err)
	}
	obs, _ := eng.Bind("payments")
	n := fastNotifier(t, storeAdapter{s}, rc)
	am, err := NewAlertManager(AlertManagerConfig{Clock: clock, SLOs: eng, Store: storeAdapter{s}, Notifier: n})
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
	rs.mu.Lock()
	rs.failN = 0
	rs.mu.Unlock()
	s = openStore(t, dir)
	defer s.Close()
	eng, err = NewSLOEngine(SLOEngineConfig{Clock: clock, History: s, SLOs: []SLOConfig{slo}})
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := eng.Status(slo.Name); after.Total != before.Total || after.Good != before.Good {
		t.Errorf("SLO counts after restart %v/%v, want %v/%v", after.Good, after.Total, before.Good, before.Total)
	}
	n = fastNotifier(t, storeAdapter{s}, rc)
	am, err = NewAlertManager(AlertManagerConfig{Clock: clock, SLOs: eng, Store: storeAdapter{s}, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	page, ok := findAlert(am.Alerts(), rowLabels(BurnRateAlerts()[0]))
	if !ok || page.State != AlertFiring {
		t.Fatalf("page after restart = %+v", page)
	}
	if err := am.Evaluate(clock.Now()); err != nil {
		t.Fatal(err)
	}
	deliverAll(t, n, 3)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.accepted[page.Fingerprint+"/firing"] != 1 {
		t.Errorf("accepted = %v, want the page once", rs.accepted)
	}
}
