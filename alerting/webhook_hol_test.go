package alerting

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// TestWebhookANewGroupIsNotHeldBehindAWaitingOne takes a receiver down
// until an old notification waits minutes for its next round and the
// receiver's breaker is open, brings it back and raises a new alert: the
// new alert is delivered within 5 s of the receiver's return while the old
// one still waits, then the old one at once, in its group's order. Time is
// a fake clock; the test plays Run's loop (a pass, then the next due time).
func TestWebhookANewGroupIsNotHeldBehindAWaitingOne(t *testing.T) {
	clock := resiliencetest.NewClock(sloStart)
	var down atomic.Bool
	down.Store(true)
	type accepted struct {
		group, status string
		at            time.Time
	}
	var (
		mu  sync.Mutex
		got []accepted
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		p, err := ParseAlertmanagerPayload(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, accepted{p.GroupKey, p.Status, clock.Now()})
		mu.Unlock()
	}))
	defer srv.Close()
	n, err := NewWebhookNotifier(WebhookNotifierConfig{
		Receivers: []WebhookConfig{{Name: "ops", URL: srv.URL}}, Outbox: &memoryOutbox{}, Clock: clock,
		Attempts: 1, // one request a round, so no backoff waits inside a round
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	// pass plays Run until nothing more is due by until.
	pass := func(until time.Time) {
		t.Helper()
		for {
			var wg sync.WaitGroup
			started, next, err := n.dispatch(t.Context(), &wg, func(err error) { t.Error(err) })
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if started > 0 {
				continue // a delivery ended: Run is woken at once
			}
			if next.IsZero() || next.After(until) {
				clock.Set(until)
				return
			}
			clock.Set(next)
		}
	}

	old := testAlert("Old", AlertFiring)
	if err := n.Notify([]AlertRecord{old}); err != nil {
		t.Fatal(err)
	}
	// Rounds at 0, 10, 30, 70, 150 s open the breaker (5 failures), the
	// probe at 310 s fails and opens it again until 313 s.
	pass(sloStart.Add(311 * time.Second))
	if st := n.Pipelines()[0].Breaker().State(); st.String() != "open" {
		t.Fatalf("breaker %s after the receiver was down 5 minutes, want open", st)
	}
	ps, _ := n.Pending()
	if len(ps) != 1 || !ps[0].NextAttempt.After(sloStart.Add(10*time.Minute)) {
		t.Fatalf("pending = %+v, want the old notification waiting past 10 min", ps)
	}

	back := clock.Now()
	down.Store(false)
	oldResolved := testAlert("Old", AlertResolved)
	fresh := testAlert("New", AlertFiring)
	if err := n.Notify([]AlertRecord{oldResolved, fresh}); err != nil {
		t.Fatal(err)
	}
	pass(back.Add(5 * time.Second))

	mu.Lock()
	defer mu.Unlock()
	oldGroup, newGroup := GroupKey(old.Labels), GroupKey(fresh.Labels)
	if len(got) == 0 || got[0].group != newGroup || got[0].at.Sub(back) > 5*time.Second {
		t.Fatalf("accepted %+v, want the new alert first, within 5 s of %v", got, back)
	}
	want := []accepted{{newGroup, "firing", got[0].at}, {oldGroup, "firing", got[0].at}, {oldGroup, "resolved", got[0].at}}
	if len(got) != len(want) {
		t.Fatalf("accepted %+v, want %+v: the old group retried as soon as the receiver answered, in order", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("accepted[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if ps, _ := n.Pending(); len(ps) != 0 {
		t.Errorf("still pending: %+v", ps)
	}
}
