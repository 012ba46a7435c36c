package store

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fusebox-dev/fusebox/alerting"
)

// The JSON of records as the store wrote them when it declared its own
// AlertRecord, Notification and NotifiedGroup, with string states and
// sources: what a data directory of that time holds.
const (
	oldFiringAlert   = `{"fingerprint":"3f1c","name":"ErrorBudgetBurn","severity":"page","labels":{"alertname":"ErrorBudgetBurn","slo":"payments-availability"},"annotations":{"summary":"burning"},"state":"firing","active_at":"2026-03-02T10:00:00Z","starts_at":"2026-03-02T10:01:00Z","source":"fusebox","generator_url":"http://127.0.0.1:8080/slos","history":[{"at":"2026-03-02T10:00:00Z","to":"pending","detail":"burn 14.4x"},{"at":"2026-03-02T10:01:00Z","from":"pending","to":"firing"}]}`
	oldResolvedAlert = `{"fingerprint":"9a0b","name":"BreakerOpen","state":"resolved","ends_at":"2026-03-02T10:00:00Z","source":"alertmanager","history":[{"at":"2026-03-02T10:00:00Z","from":"firing","to":"resolved","detail":"from Alertmanager"}]}`
	oldNotification  = `{"id":7,"receiver":"ops","group":"{}:{alertname=\"ErrorBudgetBurn\"}","payload":"eyJ2ZXJzaW9uIjoiNCJ9","created_at":"2026-03-02T10:00:00Z","attempts":2,"next_attempt":"2026-03-02T10:01:00Z","last_error":"503"}`
	oldNotified      = `{"receiver":"ops","group":"g","firing":["3f1c"],"at":"2026-03-02T10:00:00Z"}`
)

// TestRecordsOfTheFormerEncodingLoad writes records in the former
// encoding straight into the buckets, reads them through the store, checks
// their fields, and checks that writing them again gives the same bytes.
func TestRecordsOfTheFormerEncodingLoad(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.update(func(tx *bolt.Tx) error {
		alerts := tx.Bucket(bucketAlerts)
		for _, r := range []struct{ k, v string }{{"3f1c", oldFiringAlert}, {"9a0b", oldResolvedAlert}} {
			if err := alerts.Put([]byte(r.k), []byte(r.v)); err != nil {
				return err
			}
		}
		nb, err := alerts.CreateBucketIfNotExists(bucketNotified)
		if err != nil {
			return err
		}
		if err := nb.Put([]byte("ops\x00g"), []byte(oldNotified)); err != nil {
			return err
		}
		outbox := tx.Bucket(bucketOutbox)
		rb, err := outbox.CreateBucketIfNotExists([]byte("ops"))
		if err != nil {
			return err
		}
		if err := outbox.SetSequence(7); err != nil {
			return err
		}
		if err := rb.Put(u64key(7), []byte(oldNotification)); err != nil {
			return err
		}
		return rb.SetSequence(1)
	})
	if err != nil {
		t.Fatal(err)
	}

	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	recs, err := s.Alerts()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d alerts loaded, want 2", len(recs))
	}
	slices.SortFunc(recs, func(a, b alerting.AlertRecord) int { return len(b.History) - len(a.History) })
	firing, resolved := recs[0], recs[1]
	if firing.State != alerting.AlertFiring || firing.Source != alerting.SourceFusebox || !firing.StartsAt.Equal(at.Add(time.Minute)) ||
		len(firing.History) != 2 || firing.History[0].From != alerting.AlertInactive || firing.History[0].To != alerting.AlertPending ||
		firing.History[1].From != alerting.AlertPending || firing.History[1].To != alerting.AlertFiring {
		t.Errorf("firing alert = %+v", firing)
	}
	if resolved.State != alerting.AlertResolved || resolved.Source != alerting.SourceAlertmanager || !resolved.EndsAt.Equal(at) {
		t.Errorf("resolved alert = %+v", resolved)
	}
	ns, err := s.PendingNotifications("ops")
	if err != nil || len(ns) != 1 {
		t.Fatalf("PendingNotifications = %+v, %v", ns, err)
	}
	if n := ns[0]; n.ID != 7 || n.Attempts != 2 || string(n.Payload) != `{"version":"4"}` || !n.NextAttempt.Equal(at.Add(time.Minute)) || n.LastError != "503" {
		t.Errorf("notification = %+v", n)
	}
	gs, err := s.NotifiedGroups()
	if err != nil || len(gs) != 1 || !slices.Equal(gs[0].Firing, []string{"3f1c"}) {
		t.Fatalf("NotifiedGroups = %+v, %v", gs, err)
	}

	for _, c := range []struct {
		v    any
		want string
	}{{firing, oldFiringAlert}, {resolved, oldResolvedAlert}, {ns[0], oldNotification}, {gs[0], oldNotified}} {
		b, err := json.Marshal(c.v)
		if err != nil || string(b) != c.want {
			t.Errorf("%T writes\n%s, %v\nwant\n%s", c.v, b, err, c.want)
		}
	}
}
