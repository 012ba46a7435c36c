package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Override is an operator's decision to hold a pipeline's breaker in a state.
type Override struct {
	// Pipeline names the pipeline; required.
	Pipeline string `json:"pipeline"`
	// State is the forced state ("forced_open", "forced_closed"); required.
	State string `json:"state"`
	// Reason is the operator's explanation.
	Reason string `json:"reason,omitempty"`
	// Actor is who set it.
	Actor string `json:"actor,omitempty"`
	// At is when it was set; required.
	At time.Time `json:"at"`
	// Until is when it runs out; zero means it holds until lifted. When set
	// it must be after At.
	Until time.Time `json:"until,omitzero"`
}

// Expired reports whether the override has run out at now.
func (o Override) Expired(now time.Time) bool {
	return !o.Until.IsZero() && !now.Before(o.Until)
}

func (o Override) validate() error {
	if err := checkKey("override pipeline", o.Pipeline); err != nil {
		return err
	}
	if o.State == "" {
		return fmt.Errorf("store: override state for pipeline %q must not be empty", o.Pipeline)
	}
	if o.At.IsZero() {
		return fmt.Errorf("store: override at for pipeline %q must be set", o.Pipeline)
	}
	if !o.Until.IsZero() && !o.Until.After(o.At) {
		return fmt.Errorf("store: override until %s for pipeline %q must be after at %s",
			o.Until.Format(time.RFC3339), o.Pipeline, o.At.Format(time.RFC3339))
	}
	return nil
}

// ApplyOverride stores o, replacing any override of the same pipeline, and
// appends a to the audit log, in one transaction: both are written or
// neither is. It returns the audit entry's sequence number.
func (s *Store) ApplyOverride(o Override, a AuditEntry) (uint64, error) {
	if err := o.validate(); err != nil {
		return 0, err
	}
	return s.audited(a, func(tx *bolt.Tx) error {
		return put(tx.Bucket(bucketOverrides), []byte(o.Pipeline), o)
	})
}

// LiftOverride removes the override of pipeline, if any, and appends a to the
// audit log, in one transaction. It returns the audit entry's sequence number.
func (s *Store) LiftOverride(pipeline string, a AuditEntry) (uint64, error) {
	if err := checkKey("override pipeline", pipeline); err != nil {
		return 0, err
	}
	return s.audited(a, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOverrides).Delete([]byte(pipeline))
	})
}

// PutOverride stores o without an audit entry, replacing any override of the
// same pipeline. Operator actions should use ApplyOverride.
func (s *Store) PutOverride(o Override) error {
	if err := o.validate(); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		return put(tx.Bucket(bucketOverrides), []byte(o.Pipeline), o)
	})
}

// DeleteOverride removes the override of pipeline without an audit entry;
// removing one that does not exist is not an error. Operator actions should
// use LiftOverride.
func (s *Store) DeleteOverride(pipeline string) error {
	if err := checkKey("override pipeline", pipeline); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOverrides).Delete([]byte(pipeline))
	})
}

// Overrides returns every stored override, ordered by pipeline name,
// expired ones included (the caller reverts and audits those).
func (s *Store) Overrides() ([]Override, error) {
	var out []Override
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOverrides).ForEach(func(k, v []byte) error {
			var o Override
			if err := decode(fmt.Sprintf("override %q", k), v, &o); err != nil {
				return err
			}
			out = append(out, o)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Override returns the override of pipeline and whether there is one.
func (s *Store) Override(pipeline string) (Override, bool, error) {
	if err := checkKey("override pipeline", pipeline); err != nil {
		return Override{}, false, err
	}
	var (
		o     Override
		found bool
	)
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketOverrides).Get([]byte(pipeline))
		if v == nil {
			return nil
		}
		found = true
		return decode(fmt.Sprintf("override %q", pipeline), v, &o)
	})
	if err != nil {
		return Override{}, false, err
	}
	return o, found, nil
}
