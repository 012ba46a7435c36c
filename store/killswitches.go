package store

import (
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// KillSwitch is an operator's decision to turn a kind of policy of a
// pipeline off.
type KillSwitch struct {
	// Pipeline and Policy ("retry", "timeout", …) name what is off;
	// required, and Policy holds no "/".
	Pipeline string `json:"pipeline"`
	Policy   string `json:"policy"`
	// Reason is the operator's explanation; Actor is who.
	Reason string `json:"reason,omitempty"`
	Actor  string `json:"actor,omitempty"`
	// At is when it was switched off; required.
	At time.Time `json:"at"`
	// Until is when it comes back on; zero means it stays off until
	// switched on. When set it must be after At.
	Until time.Time `json:"until,omitzero"`
}

// Expired reports whether the kill switch has run out at now.
func (k KillSwitch) Expired(now time.Time) bool {
	return !k.Until.IsZero() && !now.Before(k.Until)
}

func (k KillSwitch) key() []byte { return []byte(k.Pipeline + "/" + k.Policy) }

func (k KillSwitch) validate() error {
	if err := checkKey("kill switch pipeline", k.Pipeline); err != nil {
		return err
	}
	if err := checkKey("kill switch policy", k.Policy); err != nil {
		return err
	}
	if strings.Contains(k.Policy, "/") {
		return fmt.Errorf("store: kill switch policy %q must not hold '/'", k.Policy)
	}
	if k.At.IsZero() {
		return fmt.Errorf("store: kill switch at for %s of pipeline %q must be set", k.Policy, k.Pipeline)
	}
	if !k.Until.IsZero() && !k.Until.After(k.At) {
		return fmt.Errorf("store: kill switch until %s for %s of pipeline %q must be after at %s",
			k.Until.Format(time.RFC3339), k.Policy, k.Pipeline, k.At.Format(time.RFC3339))
	}
	return nil
}

// ApplyKillSwitch stores k, replacing the one of the same pipeline and
// policy, and appends a to the audit log, in one transaction. It returns
// the audit entry's sequence number.
func (s *Store) ApplyKillSwitch(k KillSwitch, a AuditEntry) (uint64, error) {
	if err := k.validate(); err != nil {
		return 0, err
	}
	return s.audited(a, func(tx *bolt.Tx) error {
		return put(tx.Bucket(bucketKills), k.key(), k)
	})
}

// LiftKillSwitch removes the kill switch of pipeline's policy, if any, and
// appends a to the audit log, in one transaction.
func (s *Store) LiftKillSwitch(pipeline, policy string, a AuditEntry) (uint64, error) {
	k := KillSwitch{Pipeline: pipeline, Policy: policy}
	if err := checkKey("kill switch pipeline", pipeline); err != nil {
		return 0, err
	}
	return s.audited(a, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKills).Delete(k.key())
	})
}

// KillSwitches returns every stored kill switch, ordered by pipeline and
// policy, expired ones included (the caller switches those back on and
// audits it).
func (s *Store) KillSwitches() ([]KillSwitch, error) {
	var out []KillSwitch
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKills).ForEach(func(k, v []byte) error {
			var ks KillSwitch
			if err := decode(fmt.Sprintf("kill switch %q", k), v, &ks); err != nil {
				return err
			}
			out = append(out, ks)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
