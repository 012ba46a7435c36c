package store_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/store"
)

func enqueue(t *testing.T, s *store.Store, receiver, payload string) uint64 {
	t.Helper()
	id, err := s.EnqueueNotification(alerting.Notification{Receiver: receiver, Payload: []byte(payload), CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func ids(ns []alerting.Notification) []uint64 {
	out := []uint64{}
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

func pending(t *testing.T, s *store.Store, receiver string) []alerting.Notification {
	t.Helper()
	ns, err := s.PendingNotifications(receiver)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestOutboxRoundTrip(t *testing.T) {
	s := open(t, t.TempDir())
	want := alerting.Notification{Receiver: "ops", Payload: []byte(`{"version":"4","status":"firing"}`), CreatedAt: t0}
	id, err := s.EnqueueNotification(want)
	if err != nil {
		t.Fatal(err)
	}
	want.ID = id
	if got := pending(t, s, "ops"); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("PendingNotifications(ops) = %+v, want [%+v]", got, want)
	}
}

func TestOutboxIsOrderedPerReceiverAndOverall(t *testing.T) {
	s := open(t, t.TempDir())
	a1 := enqueue(t, s, "ops", "1")
	b1 := enqueue(t, s, "pager", "2")
	a2 := enqueue(t, s, "ops", "3")
	b2 := enqueue(t, s, "pager", "4")
	if !(a1 < b1 && b1 < a2 && a2 < b2) {
		t.Fatalf("IDs %d %d %d %d do not grow in enqueue order", a1, b1, a2, b2)
	}
	tests := []struct {
		receiver string
		want     []uint64
	}{
		{"ops", []uint64{a1, a2}},
		{"pager", []uint64{b1, b2}},
		{"", []uint64{a1, b1, a2, b2}},
		{"nobody", []uint64{}},
	}
	for _, tt := range tests {
		if got := ids(pending(t, s, tt.receiver)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("PendingNotifications(%q) = %v, want %v", tt.receiver, got, tt.want)
		}
	}
}

func TestOutboxUpdateAndAck(t *testing.T) {
	s := open(t, t.TempDir())
	first := enqueue(t, s, "ops", "first")
	second := enqueue(t, s, "ops", "second")

	// A failed attempt is recorded; payload and receiver cannot change.
	next := t0.Add(30 * time.Second)
	err := s.UpdateNotification(alerting.Notification{ID: first, Receiver: "evil", Payload: []byte("changed"),
		Attempts: 1, NextAttempt: next, LastError: "HTTP 503"})
	if err != nil {
		t.Fatal(err)
	}
	got := pending(t, s, "ops")[0]
	want := alerting.Notification{ID: first, Receiver: "ops", Payload: []byte("first"), CreatedAt: t0, Attempts: 1, NextAttempt: next, LastError: "HTTP 503"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after UpdateNotification, got %+v, want %+v", got, want)
	}

	if err := s.AckNotification(first); err != nil {
		t.Fatal(err)
	}
	if got := ids(pending(t, s, "ops")); !reflect.DeepEqual(got, []uint64{second}) {
		t.Errorf("after acking %d, pending = %v, want [%d]", first, got, second)
	}
	if n, err := s.PendingCount("ops"); err != nil || n != 1 {
		t.Errorf("PendingCount(ops) = %d, %v; want 1", n, err)
	}
	if err := s.AckNotification(first); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("acking %d twice = %v, want ErrNotFound", first, err)
	}
	if err := s.UpdateNotification(alerting.Notification{ID: first, Attempts: 2}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("updating acked %d = %v, want ErrNotFound", first, err)
	}

	// IDs are never reused, even once everything is acked.
	if err := s.AckNotification(second); err != nil {
		t.Fatal(err)
	}
	if third := enqueue(t, s, "ops", "third"); third <= second {
		t.Errorf("new ID %d after acking %d; IDs must keep growing", third, second)
	}
}

func TestOutboxSurvivesReopening(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := enqueue(t, s, "ops", "a")
	b := enqueue(t, s, "ops", "b")
	if err := s.AckNotification(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	if got := ids(pending(t, s, "ops")); !reflect.DeepEqual(got, []uint64{b}) {
		t.Errorf("after reopening, pending = %v, want [%d]", got, b)
	}
	if c := enqueue(t, s, "ops", "c"); c <= b {
		t.Errorf("ID %d after reopening is not above %d", c, b)
	}
}

func TestOutboxLimit(t *testing.T) {
	s := open(t, t.TempDir(), store.WithOutboxLimit(2))
	first := enqueue(t, s, "ops", "1")
	enqueue(t, s, "ops", "2")
	_, err := s.EnqueueNotification(alerting.Notification{Receiver: "ops", Payload: []byte("3"), CreatedAt: t0})
	if !errors.Is(err, store.ErrOutboxFull) || !strings.Contains(err.Error(), `"ops"`) {
		t.Fatalf("third enqueue = %v, want ErrOutboxFull naming the receiver", err)
	}
	// Other receivers have their own room; an ack frees one slot.
	enqueue(t, s, "pager", "x")
	if err := s.AckNotification(first); err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, "ops", "3")
	if n, _ := s.PendingCount("ops"); n != 2 {
		t.Errorf("PendingCount(ops) = %d, want 2", n)
	}
}

func TestOutboxRejectsBadInput(t *testing.T) {
	s := open(t, t.TempDir())
	tests := []struct {
		name string
		n    alerting.Notification
		want string
	}{
		{"an empty receiver is refused", alerting.Notification{Payload: []byte("x"), CreatedAt: t0}, "notification receiver must not be empty"},
		{"an overlong receiver is refused", alerting.Notification{Receiver: strings.Repeat("r", 5000), Payload: []byte("x"), CreatedAt: t0}, "notification receiver"},
		{"an empty payload is refused", alerting.Notification{Receiver: "ops", CreatedAt: t0}, `notification payload for receiver "ops"`},
		{"a missing creation time is refused", alerting.Notification{Receiver: "ops", Payload: []byte("x")}, `notification created_at for receiver "ops"`},
		{"negative attempts are refused", alerting.Notification{Receiver: "ops", Payload: []byte("x"), CreatedAt: t0, Attempts: -1}, "notification attempts -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.EnqueueNotification(tt.n)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("EnqueueNotification = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if got := pending(t, s, ""); len(got) != 0 {
		t.Errorf("refused notifications were stored: %+v", got)
	}
	if _, err := s.PendingCount(""); err == nil {
		t.Error("PendingCount of an empty receiver succeeded")
	}
}
