package store_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "fusebox-data")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(dir)
	if err != nil {
		log.Fatal(err) // e.g. "store: data file …/fusebox.db is locked by another process (waited 1s)"
	}
	defer s.Close()

	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	// The override and its audit entry are written together or not at all.
	if _, err := s.ApplyOverride(
		store.Override{Pipeline: "payments", State: "forced_open", Reason: "vendor maintenance", Actor: "admin", At: now, Until: now.Add(time.Hour)},
		store.AuditEntry{At: now, Actor: "admin", Action: "override.set", Pipeline: "payments", From: "closed", To: "forced_open", Reason: "vendor maintenance"},
	); err != nil {
		log.Fatal(err)
	}

	// At start, every stored override is re-applied, or reverted if it ran out.
	overrides, err := s.Overrides()
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range overrides {
		fmt.Println(o.Pipeline, o.State, "expired:", o.Expired(now.Add(2*time.Hour)))
	}
	entries, err := s.Audit(10, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(entries[0].Seq, entries[0].Action, entries[0].Pipeline)
	// Output:
	// payments forced_open expired: true
	// 1 override.set payments
}

func ExampleStore_EnqueueNotification() {
	dir, err := os.MkdirTemp("", "fusebox-data")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := store.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	// Written before the first attempt…
	id, err := s.EnqueueNotification(alerting.Notification{Receiver: "ops", Payload: []byte(`{"version":"4"}`), CreatedAt: now})
	if err != nil {
		log.Fatal(err)
	}
	// …updated after a failed one…
	if err := s.UpdateNotification(alerting.Notification{ID: id, Attempts: 1, NextAttempt: now.Add(10 * time.Second), LastError: "HTTP 503"}); err != nil {
		log.Fatal(err)
	}
	pending, err := s.PendingNotifications("ops")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(pending), pending[0].Attempts, pending[0].LastError)
	// …and removed after a 2xx.
	if err := s.AckNotification(id); err != nil {
		log.Fatal(err)
	}
	n, err := s.PendingCount("ops")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
	// Output:
	// 1 1 HTTP 503
	// 0
}
