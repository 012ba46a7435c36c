package alerting

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// sloAlert is a burn-rate alert of SLO slo, row severity/long, in state.
func sloAlert(slo, severity, long string, state AlertState) AlertRecord {
	labels := map[string]string{"alertname": AlertErrorBudgetBurn, "severity": severity, "slo": slo, "pipeline": "payments", "long_window": long}
	r := AlertRecord{Fingerprint: Fingerprint(labels), Name: AlertErrorBudgetBurn, Severity: severity, Labels: labels,
		Annotations: map[string]string{"summary": slo + " burns " + long}, State: state, StartsAt: sloStart, Source: SourceFusebox}
	if state != AlertFiring {
		r.EndsAt = sloStart.Add(time.Hour)
	}
	return r
}

// sent is one queued notification, decoded.
type sent struct {
	receiver, group, status string
	alerts                  []string // fingerprint/status, sorted
}

// drain returns the notifications queued since the last drain, in order,
// and acknowledges them.
func drain(t *testing.T, o *memoryOutbox) []sent {
	t.Helper()
	ps, _ := o.PendingNotifications("")
	var out []sent
	for _, p := range ps {
		pl, err := ParseAlertmanagerPayload(p.Payload)
		if err != nil {
			t.Fatalf("notification %d does not parse: %v", p.ID, err)
		}
		if pl.GroupKey != p.Group || pl.Receiver != p.Receiver {
			t.Errorf("notification %d: group %q receiver %q, payload says %q %q", p.ID, p.Group, p.Receiver, pl.GroupKey, pl.Receiver)
		}
		s := sent{receiver: p.Receiver, group: pl.GroupKey, status: pl.Status}
		for _, a := range pl.Alerts {
			s.alerts = append(s.alerts, a.Fingerprint+"/"+a.Status)
		}
		slices.Sort(s.alerts)
		out = append(out, s)
		if err := o.AckNotification(p.ID); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func syncNotifier(t *testing.T, o *memoryOutbox, log NotificationLog, receivers ...string) *WebhookNotifier {
	t.Helper()
	var rcs []WebhookConfig
	for _, r := range receivers {
		rcs = append(rcs, WebhookConfig{Name: r, URL: "http://127.0.0.1:1/" + r})
	}
	n, err := NewWebhookNotifier(WebhookNotifierConfig{Receivers: rcs, Outbox: o, Log: log, RepeatInterval: 4 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func mustSync(t *testing.T, n *WebhookNotifier, at time.Time, alerts ...AlertRecord) {
	t.Helper()
	if err := n.Sync(alerts, at); err != nil {
		t.Fatal(err)
	}
}

func TestSyncGroupsAlertsWithOneStatusPerGroup(t *testing.T) {
	o := &memoryOutbox{}
	n := syncNotifier(t, o, nil, "ops")
	page := sloAlert("checkout", "page", "1h", AlertFiring)
	page6h := sloAlert("checkout", "page", "6h", AlertFiring)
	other := sloAlert("search", "page", "1h", AlertFiring)
	group := `{}:{alertname="ErrorBudgetBurn", slo="checkout"}`

	mustSync(t, n, sloStart, page, page6h, other)
	got := drain(t, o)
	want := []sent{
		{"ops", group, "firing", sorted(page.Fingerprint+"/firing", page6h.Fingerprint+"/firing")},
		{"ops", `{}:{alertname="ErrorBudgetBurn", slo="search"}`, "firing", []string{other.Fingerprint + "/firing"}},
	}
	if !equalSent(got, want) {
		t.Fatalf("first sync sent %+v, want one payload per group with all its alerts: %+v", got, want)
	}

	mustSync(t, n, sloStart.Add(time.Minute), page, page6h, other)
	if got := drain(t, o); len(got) != 0 {
		t.Fatalf("an unchanged group was notified again: %+v", got)
	}

	// One row of the group resolves while the other fires: one payload,
	// status firing, listing both.
	page6h.State, page6h.EndsAt = AlertResolved, sloStart.Add(2*time.Minute)
	mustSync(t, n, sloStart.Add(2*time.Minute), page, page6h, other)
	want = []sent{{"ops", group, "firing", sorted(page.Fingerprint+"/firing", page6h.Fingerprint+"/resolved")}}
	if got := drain(t, o); !equalSent(got, want) {
		t.Fatalf("a row resolving sent %+v, want %+v", got, want)
	}

	// The last row resolves: the group's payload says resolved; the
	// row resolved before is not repeated.
	page.State, page.EndsAt = AlertResolved, sloStart.Add(3*time.Minute)
	mustSync(t, n, sloStart.Add(3*time.Minute), page, page6h, other)
	want = []sent{{"ops", group, "resolved", []string{page.Fingerprint + "/resolved"}}}
	if got := drain(t, o); !equalSent(got, want) {
		t.Fatalf("the group resolving sent %+v, want %+v", got, want)
	}
	mustSync(t, n, sloStart.Add(4*time.Minute), page, page6h, other)
	if got := drain(t, o); len(got) != 0 {
		t.Fatalf("a resolved group was notified again: %+v", got)
	}
}

func TestSyncRepeatsAStillFiringGroupEveryRepeatInterval(t *testing.T) {
	o := &memoryOutbox{}
	n := syncNotifier(t, o, nil, "ops")
	a := sloAlert("checkout", "page", "1h", AlertFiring)
	mustSync(t, n, sloStart, a)
	if got := drain(t, o); len(got) != 1 {
		t.Fatalf("first sync sent %+v", got)
	}
	mustSync(t, n, sloStart.Add(4*time.Hour-time.Second), a)
	if got := drain(t, o); len(got) != 0 {
		t.Fatalf("repeated before the interval: %+v", got)
	}
	mustSync(t, n, sloStart.Add(4*time.Hour), a)
	want := []sent{{"ops", GroupKey(a.Labels), "firing", []string{a.Fingerprint + "/firing"}}}
	if got := drain(t, o); !equalSent(got, want) {
		t.Fatalf("after the repeat interval sent %+v, want %+v", got, want)
	}
	mustSync(t, n, sloStart.Add(8*time.Hour-time.Second), a)
	if got := drain(t, o); len(got) != 0 {
		t.Fatalf("the repeat did not restart the interval: %+v", got)
	}
}

// memLog is an in-memory NotificationLog that outlives notifiers, as the
// store does.
type memLog struct{ m map[[2]string]NotifiedGroup }

func (l *memLog) PutNotifiedGroup(g NotifiedGroup) error {
	if l.m == nil {
		l.m = map[[2]string]NotifiedGroup{}
	}
	g.Firing = slices.Clone(g.Firing)
	l.m[[2]string{g.Receiver, g.Group}] = g
	return nil
}

func (l *memLog) DeleteNotifiedGroup(receiver, group string) error {
	delete(l.m, [2]string{receiver, group})
	return nil
}

func (l *memLog) NotifiedGroups() ([]NotifiedGroup, error) {
	var out []NotifiedGroup
	for _, g := range l.m {
		out = append(out, g)
	}
	return out, nil
}

func TestSyncTellsAReceiverAddedAtARestartWhatFiresAndNeverAFirstResolved(t *testing.T) {
	o, log := &memoryOutbox{}, &memLog{}
	x := sloAlert("checkout", "page", "1h", AlertFiring)
	y := sloAlert("search", "ticket", "1d", AlertFiring)
	first := syncNotifier(t, o, log, "ops")
	mustSync(t, first, sloStart, x)
	if got := drain(t, o); len(got) != 1 {
		t.Fatalf("first run sent %+v", got)
	}

	// Restart with a new receiver; y fired and resolved while it was down
	// (ops was never told it fired).
	y.State, y.EndsAt = AlertResolved, sloStart.Add(time.Minute)
	second := syncNotifier(t, o, log, "ops", "pager")
	mustSync(t, second, sloStart.Add(2*time.Minute), x, y)
	want := []sent{{"pager", GroupKey(x.Labels), "firing", []string{x.Fingerprint + "/firing"}}}
	if got := drain(t, o); !equalSent(got, want) {
		t.Fatalf("after the restart sent %+v, want only the new receiver told what fires: %+v", got, want)
	}

	// x resolves: both were told it fired, both hear it resolved.
	x.State, x.EndsAt = AlertResolved, sloStart.Add(3*time.Minute)
	mustSync(t, second, sloStart.Add(3*time.Minute), x, y)
	got := drain(t, o)
	if len(got) != 2 || got[0].status != "resolved" || got[1].status != "resolved" || got[0].receiver == got[1].receiver {
		t.Fatalf("x resolving sent %+v, want one resolved payload to each receiver", got)
	}

	// A receiver added now hears nothing: nothing fires.
	third := syncNotifier(t, o, log, "ops", "pager", "late")
	mustSync(t, third, sloStart.Add(4*time.Minute), x, y)
	if got := drain(t, o); len(got) != 0 {
		t.Fatalf("a receiver that never saw an alert fire was sent %+v", got)
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func equalSent(a, b []sent) bool {
	return slices.EqualFunc(a, b, func(x, y sent) bool {
		return x.receiver == y.receiver && x.group == y.group && x.status == y.status && strings.Join(x.alerts, ",") == strings.Join(y.alerts, ",")
	})
}

func TestAnAlertsDeliveriesShowTheStatusItsPayloadGaveIt(t *testing.T) {
	rs := newReceiverServer(t, "", 0)
	n := fastNotifier(t, &memoryOutbox{}, WebhookConfig{Name: "ops", URL: rs.URL})
	page := sloAlert("checkout", "page", "1h", AlertFiring)
	ticket := sloAlert("checkout", "ticket", "1d", AlertResolved)
	if err := n.Notify([]AlertRecord{page, ticket}); err != nil {
		t.Fatal(err)
	}
	deliverAll(t, n, 3)
	by := n.deliveriesByFingerprint()
	if d := by[page.Fingerprint]; len(d) != 1 || d[0].Status != AlertFiring {
		t.Errorf("the firing alert's deliveries = %+v, want one firing", d)
	}
	if d := by[ticket.Fingerprint]; len(d) != 1 || d[0].Status != AlertResolved {
		t.Errorf("the resolved alert's deliveries = %+v, want one resolved, though the payload fires", d)
	}
	if ds := n.Deliveries(); len(ds) != 1 || ds[0].Status != AlertFiring {
		t.Errorf("deliveries = %+v, want one, with the payload's status", ds)
	}
}
