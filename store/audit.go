package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AuditEntry records one operator action or automatic change worth a trail:
// an override set or lifted, an expired override reverted at start, a login.
type AuditEntry struct {
	// Seq is the entry's position in the log, assigned when it is appended;
	// it grows by one per entry and is never reused. Ignored on append.
	Seq uint64 `json:"seq"`
	// At is when the action happened; required.
	At time.Time `json:"at"`
	// Actor is who did it ("admin", "system").
	Actor string `json:"actor,omitempty"`
	// Action says what was done ("override.set", "override.lift",
	// "override.expired"); required.
	Action string `json:"action"`
	// Pipeline is the pipeline acted on, if any.
	Pipeline string `json:"pipeline,omitempty"`
	// From and To are the states before and after, if the action changed one.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Reason is the operator's explanation.
	Reason string `json:"reason,omitempty"`
	// Until is when a time-boxed override runs out.
	Until time.Time `json:"until,omitzero"`
	// Detail is free text for anything else.
	Detail string `json:"detail,omitempty"`
}

func (a AuditEntry) validate() error {
	if a.Action == "" {
		return fmt.Errorf("store: audit action must not be empty")
	}
	if a.At.IsZero() {
		return fmt.Errorf("store: audit at for action %q must be set", a.Action)
	}
	return nil
}

// AppendAudit appends a to the audit log and returns its sequence number.
// When the log holds more entries than the retention allows, the oldest are
// removed in the same transaction.
func (s *Store) AppendAudit(a AuditEntry) (uint64, error) {
	return s.audited(a, nil)
}

// audited runs change, if not nil, and appends a to the audit log in one
// transaction: both are written or neither is. It returns the audit
// entry's sequence number.
func (s *Store) audited(a AuditEntry, change func(tx *bolt.Tx) error) (uint64, error) {
	var seq uint64
	err := s.update(func(tx *bolt.Tx) error {
		if change != nil {
			if err := change(tx); err != nil {
				return err
			}
		}
		var err error
		seq, err = s.appendAudit(tx, a)
		return err
	})
	if err != nil {
		return 0, err
	}
	return seq, nil
}

func (s *Store) appendAudit(tx *bolt.Tx, a AuditEntry) (uint64, error) {
	if err := a.validate(); err != nil {
		return 0, err
	}
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	a.Seq = seq
	if err := put(b, u64key(seq), a); err != nil {
		return 0, err
	}
	if n := uint64(s.cfg.auditRetention); n > 0 && seq > n {
		// Sequence numbers are contiguous, so the entries to keep are
		// exactly those after seq-n.
		if err := deleteBelow(b, seq-n+1); err != nil {
			return 0, err
		}
	}
	return seq, nil
}

// deleteBelow removes every key of b below limit (keys are big-endian uint64).
func deleteBelow(b *bolt.Bucket, limit uint64) error {
	var doomed [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < limit; k, _ = c.Next() {
		doomed = append(doomed, k)
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Audit returns up to limit entries, newest first, starting below sequence
// number before (0 starts at the newest). To page back, pass the Seq of the
// last entry returned. limit 0 returns every entry; negative is an error.
func (s *Store) Audit(limit int, before uint64) ([]AuditEntry, error) {
	if limit < 0 {
		return nil, fmt.Errorf("store: audit limit %d must not be negative", limit)
	}
	var out []AuditEntry
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else if k, _ = c.Seek(u64key(before)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && (limit == 0 || len(out) < limit); k, v = c.Prev() {
			var a AuditEntry
			if err := decode(fmt.Sprintf("audit entry %d", binary.BigEndian.Uint64(k)), v, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
