package fleet_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// memOutbox is an in-memory alerting.Outbox.
type memOutbox struct {
	mu   sync.Mutex
	next uint64
	ns   []alerting.Notification
}

func (o *memOutbox) EnqueueNotification(n alerting.Notification) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	n.ID = o.next
	o.ns = append(o.ns, n)
	return n.ID, nil
}

func (o *memOutbox) PendingNotifications(string) ([]alerting.Notification, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.ns), nil
}

func (o *memOutbox) UpdateNotification(alerting.Notification) error { return nil }

func (o *memOutbox) AckNotification(id uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ns = slices.DeleteFunc(o.ns, func(n alerting.Notification) bool { return n.ID == id })
	return nil
}

func (o *memOutbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ns)
}

// notification returns the notification of one alert group whose alerts
// have the given statuses by fingerprint; the annotations differ from hub
// to hub (each computes its own figures) and do not count.
func notification(t *testing.T, annotation string, statuses map[string]alerting.AlertState) alerting.Notification {
	t.Helper()
	p := alerting.AlertmanagerPayload{Version: "4", GroupKey: `{}:{alertname="ErrorBudgetBurn", slo="s"}`, Status: alerting.AlertResolved.String(), Receiver: "oncall"}
	for fp, st := range statuses {
		if st == alerting.AlertFiring {
			p.Status = alerting.AlertFiring.String()
		}
		p.Alerts = append(p.Alerts, alerting.AlertmanagerAlert{Status: st.String(), Fingerprint: fp, Annotations: map[string]string{"budget_remaining": annotation}})
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return alerting.Notification{Receiver: "oncall", Group: p.GroupKey, Payload: b}
}

func newDedup(t *testing.T, url string, clock resilience.Clock, inner alerting.Outbox) *fleet.DedupOutbox {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := fleet.NewDedupOutbox(ctx, fleet.DedupConfig{
		Conn: connect(t, url), Outbox: inner, RepeatInterval: 4 * time.Hour, Clock: clock, Timeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Two hubs' outboxes let each transition of a group through once, and a
// repeat once half the repeat interval has passed.
func TestDedupOutboxLetsEachTransitionThroughOnce(t *testing.T) {
	srv := startServer(t, "", "")
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))
	var innerA, innerB memOutbox
	a, b := newDedup(t, srv.ClientURL(), clock, &innerA), newDedup(t, srv.ClientURL(), clock, &innerB)
	enqueue := func(o *fleet.DedupOutbox, n alerting.Notification) {
		t.Helper()
		if _, err := o.EnqueueNotification(n); err != nil {
			t.Fatal(err)
		}
	}
	want := func(step string, na, nb int) {
		t.Helper()
		if innerA.len() != na || innerB.len() != nb {
			t.Fatalf("%s: outboxes hold %d and %d, want %d and %d", step, innerA.len(), innerB.len(), na, nb)
		}
	}
	firing := map[string]alerting.AlertState{"fp1": alerting.AlertFiring}
	enqueue(a, notification(t, "0.5", firing))
	enqueue(b, notification(t, "0.4", firing))
	want("fired", 1, 0)
	clock.Advance(time.Hour)
	enqueue(b, notification(t, "0.3", firing))
	want("an early repeat", 1, 0)
	clock.Advance(time.Hour + time.Second)
	enqueue(b, notification(t, "0.2", firing))
	enqueue(a, notification(t, "0.2", firing))
	want("a repeat half a repeat interval on", 1, 1)
	two := map[string]alerting.AlertState{"fp1": alerting.AlertFiring, "fp2": alerting.AlertFiring}
	enqueue(a, notification(t, "0.1", two))
	enqueue(b, notification(t, "0.1", two))
	want("a second alert in the group", 2, 1)
	resolved := map[string]alerting.AlertState{"fp1": alerting.AlertResolved, "fp2": alerting.AlertResolved}
	enqueue(b, notification(t, "0", resolved))
	enqueue(a, notification(t, "0", resolved))
	want("resolved", 2, 2)
	enqueue(a, notification(t, "0.5", firing))
	enqueue(b, notification(t, "0.5", firing))
	want("fired again", 3, 2)
	other := notification(t, "0.5", firing)
	other.Receiver = "chat"
	enqueue(b, other)
	want("another receiver", 3, 3)
	for _, o := range []*fleet.DedupOutbox{a, b} {
		if p, err := o.PendingNotifications(""); err != nil || len(p) == 0 {
			t.Fatalf("pending: %d (%v)", len(p), err)
		}
	}
}

// A hub cut off from NATS queues what it cannot record: a duplicate
// rather than a lost notification.
func TestDedupOutboxWithoutNATSQueuesTheNotification(t *testing.T) {
	srv := startServer(t, "", "")
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))
	var inner memOutbox
	o := newDedup(t, srv.ClientURL(), clock, &inner)
	srv.Shutdown()
	id, err := o.EnqueueNotification(notification(t, "0.5", map[string]alerting.AlertState{"fp1": alerting.AlertFiring}))
	if err != nil || id == 0 || inner.len() != 1 {
		t.Fatalf("EnqueueNotification without NATS = %d, %v; outbox holds %d, want the notification", id, err, inner.len())
	}
	if p, _ := o.PendingNotifications(""); len(p) != 1 {
		t.Fatalf("pending: %d, want 1", len(p))
	}
}

// Hubs that queue the same transition at the same moment keep one copy
// between them: the loser of the compare-and-set removes its own.
func TestDedupOutboxRacingHubsKeepOneCopy(t *testing.T) {
	srv := startServer(t, "", "")
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))
	inners := make([]*memOutbox, 4)
	outs := make([]*fleet.DedupOutbox, 4)
	for i := range outs {
		inners[i] = &memOutbox{}
		outs[i] = newDedup(t, srv.ClientURL(), clock, inners[i])
	}
	for round := range 12 {
		st := alerting.AlertFiring
		if round%2 == 1 {
			st = alerting.AlertResolved
		}
		n := notification(t, "x", map[string]alerting.AlertState{"fp1": st})
		var wg sync.WaitGroup
		for _, o := range outs {
			wg.Go(func() {
				if _, err := o.EnqueueNotification(n); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		total := 0
		for _, in := range inners {
			total += in.len()
		}
		if total != round+1 {
			t.Fatalf("after transition %d the outboxes hold %d notifications, want %d", round+1, total, round+1)
		}
	}
}
