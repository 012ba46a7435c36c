package store_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/store"
)

func appendN(t *testing.T, s *store.Store, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.AppendAudit(store.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Action: "login", Actor: "admin"}); err != nil {
			t.Fatal(err)
		}
	}
}

func seqs(entries []store.AuditEntry) []uint64 {
	out := []uint64{}
	for _, e := range entries {
		out = append(out, e.Seq)
	}
	return out
}

func TestAuditRoundTrip(t *testing.T) {
	s := open(t, t.TempDir())
	want := store.AuditEntry{
		Seq: 999, // ignored: the store assigns it
		At:  t0, Actor: "admin", Action: "override.set", Pipeline: "payments",
		From: "closed", To: "forced_open", Reason: "vendor outage", Until: t0.Add(time.Hour), Detail: "via API",
	}
	seq, err := s.AppendAudit(want)
	if err != nil {
		t.Fatal(err)
	}
	want.Seq = seq
	got, err := s.Audit(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("Audit() = %+v, want [%+v]", got, want)
	}
}

func TestAuditPagesNewestFirst(t *testing.T) {
	s := open(t, t.TempDir())
	appendN(t, s, 10)
	tests := []struct {
		name   string
		limit  int
		before uint64
		want   []uint64
	}{
		{"the first page starts at the newest entry", 3, 0, []uint64{10, 9, 8}},
		{"the next page starts below the last seq returned", 3, 8, []uint64{7, 6, 5}},
		{"the last page is short", 3, 3, []uint64{2, 1}},
		{"nothing lies below the first entry", 3, 1, []uint64{}},
		{"a before past the newest starts at the newest", 2, 100, []uint64{10, 9}},
		{"limit zero returns everything", 0, 0, []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"a limit above the count returns everything", 50, 0, []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Audit(tt.limit, tt.before)
			if err != nil {
				t.Fatal(err)
			}
			if g := seqs(got); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Audit(%d, %d) seqs = %v, want %v", tt.limit, tt.before, g, tt.want)
			}
		})
	}
}

func TestAuditRetentionKeepsTheNewest(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir, store.WithAuditRetention(5))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 12)
	got, err := s.Audit(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if g, want := seqs(got), []uint64{12, 11, 10, 9, 8}; !reflect.DeepEqual(g, want) {
		t.Errorf("with retention 5, seqs = %v, want %v", g, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Lowering the retention trims on the next append; sequence numbers
	// carry on from where they were, never reused.
	s = open(t, dir, store.WithAuditRetention(2))
	appendN(t, s, 1)
	got, _ = s.Audit(0, 0)
	if g, want := seqs(got), []uint64{13, 12}; !reflect.DeepEqual(g, want) {
		t.Errorf("after reopening with retention 2, seqs = %v, want %v", g, want)
	}
}

func TestAuditRetentionZeroKeepsEverything(t *testing.T) {
	s := open(t, t.TempDir(), store.WithAuditRetention(0))
	appendN(t, s, 30)
	got, err := s.Audit(0, 0)
	if err != nil || len(got) != 30 {
		t.Errorf("Audit() = %d entries, %v; want 30", len(got), err)
	}
}

func TestAuditRejectsBadInput(t *testing.T) {
	s := open(t, t.TempDir())
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"an entry without action is refused", func() error {
			_, err := s.AppendAudit(store.AuditEntry{At: t0})
			return err
		}, "audit action must not be empty"},
		{"an entry without time is refused", func() error {
			_, err := s.AppendAudit(store.AuditEntry{Action: "login"})
			return err
		}, `audit at for action "login"`},
		{"a negative limit is refused", func() error {
			_, err := s.Audit(-1, 0)
			return err
		}, "audit limit -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if got, _ := s.Audit(0, 0); len(got) != 0 {
		t.Errorf("refused entries were stored: %+v", got)
	}
}
