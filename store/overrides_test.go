package store_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/store"
)

func TestOverridesRoundTrip(t *testing.T) {
	s := open(t, t.TempDir())
	a := store.Override{Pipeline: "payments", State: "forced_open", Reason: "vendor outage", Actor: "admin", At: t0, Until: t0.Add(30 * time.Minute)}
	b := store.Override{Pipeline: "inventory", State: "forced_closed", Actor: "admin", At: t0}
	for _, o := range []store.Override{a, b} {
		if err := s.PutOverride(o); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Overrides()
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.Override{b, a}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Overrides() = %+v, want %+v (ordered by pipeline)", got, want)
	}

	// A second put for the same pipeline replaces the first.
	a2 := a
	a2.State, a2.Until = "forced_closed", time.Time{}
	if err := s.PutOverride(a2); err != nil {
		t.Fatal(err)
	}
	o, ok, err := s.Override("payments")
	if err != nil || !ok || !reflect.DeepEqual(o, a2) {
		t.Fatalf("Override(payments) = %+v, %v, %v; want %+v", o, ok, err, a2)
	}

	if err := s.DeleteOverride("payments"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOverride("payments"); err != nil {
		t.Errorf("deleting a missing override = %v, want nil", err)
	}
	if _, ok, _ := s.Override("payments"); ok {
		t.Error("override still present after DeleteOverride")
	}
}

func TestOverrideRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		o    store.Override
		want string
	}{
		{"an empty pipeline name is refused", store.Override{State: "forced_open", At: t0}, "override pipeline must not be empty"},
		{"an overlong pipeline name is refused", store.Override{Pipeline: strings.Repeat("p", 2000), State: "forced_open", At: t0}, "override pipeline"},
		{"an empty state is refused", store.Override{Pipeline: "p", At: t0}, `override state for pipeline "p"`},
		{"a missing time is refused", store.Override{Pipeline: "p", State: "forced_open"}, `override at for pipeline "p"`},
		{"an until before at is refused", store.Override{Pipeline: "p", State: "forced_open", At: t0, Until: t0.Add(-time.Second)}, "override until"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, t.TempDir())
			errs := map[string]error{"PutOverride": s.PutOverride(tt.o)}
			_, errs["ApplyOverride"] = s.ApplyOverride(tt.o, store.AuditEntry{Action: "override.set", At: t0})
			for name, err := range errs {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s = %v, want an error containing %q", name, err, tt.want)
				}
			}
			if got, _ := s.Overrides(); len(got) != 0 {
				t.Errorf("a refused override was stored: %+v", got)
			}
		})
	}
}

func TestApplyOverrideWritesOverrideAndAuditTogether(t *testing.T) {
	s := open(t, t.TempDir())
	first := store.Override{Pipeline: "payments", State: "forced_open", Reason: "first", At: t0}
	seq, err := s.ApplyOverride(first, store.AuditEntry{At: t0, Actor: "admin", Action: "override.set", Pipeline: "payments", To: "forced_open"})
	if err != nil {
		t.Fatal(err)
	}
	if seq != 1 {
		t.Errorf("first audit seq = %d, want 1", seq)
	}

	// The audit entry is invalid, and it is written after the override in
	// the same transaction: the override must not change either.
	second := store.Override{Pipeline: "payments", State: "forced_closed", Reason: "second", At: t0.Add(time.Minute)}
	_, err = s.ApplyOverride(second, store.AuditEntry{At: t0})
	if err == nil || !strings.Contains(err.Error(), "audit action") {
		t.Fatalf("ApplyOverride with a bad audit entry = %v, want an error naming the audit action", err)
	}
	o, _, err := s.Override("payments")
	if err != nil || !reflect.DeepEqual(o, first) {
		t.Errorf("after the failed apply, override = %+v, %v; want the first one kept", o, err)
	}
	audit, err := s.Audit(0, 0)
	if err != nil || len(audit) != 1 {
		t.Errorf("after the failed apply, audit = %+v, %v; want the single first entry", audit, err)
	}

	// Lifting with a bad audit entry keeps the override too.
	if _, err := s.LiftOverride("payments", store.AuditEntry{Action: "override.lift"}); err == nil {
		t.Fatal("LiftOverride with an audit entry without time succeeded")
	}
	if _, ok, _ := s.Override("payments"); !ok {
		t.Error("a failed lift removed the override")
	}

	seq, err = s.LiftOverride("payments", store.AuditEntry{At: t0.Add(2 * time.Minute), Actor: "admin", Action: "override.lift", Pipeline: "payments", From: "forced_open", To: "closed"})
	if err != nil {
		t.Fatal(err)
	}
	if seq != 2 {
		t.Errorf("lift audit seq = %d, want 2 (the failed attempts must not use up numbers)", seq)
	}
	if _, ok, _ := s.Override("payments"); ok {
		t.Error("override still present after LiftOverride")
	}
	audit, _ = s.Audit(0, 0)
	if len(audit) != 2 || audit[0].Action != "override.lift" || audit[1].Action != "override.set" {
		t.Errorf("audit = %+v, want lift then set", audit)
	}
}

func TestOverrideExpired(t *testing.T) {
	tests := []struct {
		name  string
		until time.Time
		now   time.Time
		want  bool
	}{
		{"an override without until never expires", time.Time{}, t0.Add(1000 * time.Hour), false},
		{"an override before its until holds", t0.Add(time.Hour), t0.Add(59 * time.Minute), false},
		{"an override at its until has expired", t0.Add(time.Hour), t0.Add(time.Hour), true},
		{"an override after its until has expired", t0.Add(time.Hour), t0.Add(2 * time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := store.Override{Pipeline: "p", State: "forced_open", At: t0, Until: tt.until}
			if got := o.Expired(tt.now); got != tt.want {
				t.Errorf("Expired(%s) = %v, want %v", tt.now, got, tt.want)
			}
		})
	}
}

func TestOverrideOnAClosedStoreLosesNothing(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	kept := store.Override{Pipeline: "payments", State: "forced_open", At: t0}
	if err := s.PutOverride(kept); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOverride("payments"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("DeleteOverride after Close = %v, want ErrClosed", err)
	}
	s = open(t, dir)
	if got, _ := s.Overrides(); !reflect.DeepEqual(got, []store.Override{kept}) {
		t.Errorf("Overrides() = %+v, want %+v", got, kept)
	}
}
