package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/store"
)

func TestKillSwitchesSurviveReopeningWithTheirAudit(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := store.KillSwitch{Pipeline: "payments", Policy: "retry", Reason: "retry storm", Actor: "alice", At: t0, Until: t0.Add(10 * time.Minute)}
	if _, err := s.ApplyKillSwitch(k, store.AuditEntry{At: t0, Actor: "alice", Action: "killswitch.off", Pipeline: "payments", To: "retry off"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	got, err := s.KillSwitches()
	if err != nil || !reflect.DeepEqual(got, []store.KillSwitch{k}) {
		t.Fatalf("KillSwitches after reopening = %+v, %v; want %+v", got, err, k)
	}
	if !k.Expired(t0.Add(10*time.Minute)) || k.Expired(t0) {
		t.Error("Expired does not follow Until")
	}
	if _, err := s.LiftKillSwitch("payments", "retry", store.AuditEntry{At: t0.Add(time.Minute), Actor: "bob", Action: "killswitch.on", Pipeline: "payments"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.KillSwitches(); len(got) != 0 {
		t.Errorf("KillSwitches after lifting = %+v", got)
	}
	audit, err := s.Audit(10, 0)
	if err != nil || len(audit) != 2 {
		t.Fatalf("audit %+v, %v; want the two changes", audit, err)
	}
	for _, bad := range []store.KillSwitch{
		{Policy: "retry", At: t0},
		{Pipeline: "p", Policy: "a/b", At: t0},
		{Pipeline: "p", Policy: "retry"},
		{Pipeline: "p", Policy: "retry", At: t0, Until: t0},
	} {
		if _, err := s.ApplyKillSwitch(bad, store.AuditEntry{At: t0, Action: "killswitch.off"}); err == nil {
			t.Errorf("ApplyKillSwitch(%+v) succeeded", bad)
		}
	}
	if got, _ := s.Audit(10, 0); len(got) != 2 {
		t.Errorf("refused kill switches wrote to the audit log: %d entries", len(got))
	}
}
