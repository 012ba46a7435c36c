package store

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/fusebox-dev/fusebox/alerting"
)

// validateNotification checks the fields of n the outbox requires.
func validateNotification(n alerting.Notification) error {
	if err := checkKey("notification receiver", n.Receiver); err != nil {
		return err
	}
	if len(n.Payload) == 0 {
		return fmt.Errorf("store: notification payload for receiver %q must not be empty", n.Receiver)
	}
	if n.CreatedAt.IsZero() {
		return fmt.Errorf("store: notification created_at for receiver %q must be set", n.Receiver)
	}
	if n.Attempts < 0 {
		return fmt.Errorf("store: notification attempts %d for receiver %q must not be negative", n.Attempts, n.Receiver)
	}
	return nil
}

// EnqueueNotification writes n to the outbox, durably, and returns its new
// ID (n.ID is ignored). It fails with ErrOutboxFull when the receiver already
// has the outbox limit of undelivered notifications.
func (s *Store) EnqueueNotification(n alerting.Notification) (uint64, error) {
	if err := validateNotification(n); err != nil {
		return 0, err
	}
	var id uint64
	err := s.update(func(tx *bolt.Tx) error {
		outbox := tx.Bucket(bucketOutbox)
		rb, err := outbox.CreateBucketIfNotExists([]byte(n.Receiver))
		if err != nil {
			return err
		}
		pending := rb.Sequence()
		if lim := s.cfg.outboxLimit; lim > 0 && pending >= uint64(lim) {
			return fmt.Errorf("store: receiver %q has %d undelivered notifications: %w", n.Receiver, pending, ErrOutboxFull)
		}
		if id, err = outbox.NextSequence(); err != nil {
			return err
		}
		n.ID = id
		if err := put(rb, u64key(id), n); err != nil {
			return err
		}
		return rb.SetSequence(pending + 1)
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// PendingNotifications returns the undelivered notifications of receiver,
// oldest (lowest ID) first; receiver "" returns those of every receiver. A
// receiver with nothing pending gives an empty result.
func (s *Store) PendingNotifications(receiver string) ([]alerting.Notification, error) {
	if len(receiver) > maxKeyLen {
		return nil, checkKey("notification receiver", receiver)
	}
	var out []alerting.Notification
	err := s.view(func(tx *bolt.Tx) error {
		outbox := tx.Bucket(bucketOutbox)
		collect := func(rb *bolt.Bucket) error {
			return rb.ForEach(func(k, v []byte) error {
				var n alerting.Notification
				if err := decode(fmt.Sprintf("notification %d", binary.BigEndian.Uint64(k)), v, &n); err != nil {
					return err
				}
				out = append(out, n)
				return nil
			})
		}
		if receiver != "" {
			if rb := outbox.Bucket([]byte(receiver)); rb != nil {
				return collect(rb)
			}
			return nil
		}
		return outbox.ForEachBucket(func(k []byte) error { return collect(outbox.Bucket(k)) })
	})
	if err != nil {
		return nil, err
	}
	if receiver == "" {
		slices.SortFunc(out, func(a, b alerting.Notification) int { return cmp.Compare(a.ID, b.ID) })
	}
	return out, nil
}

// PendingCount returns how many notifications wait for receiver.
func (s *Store) PendingCount(receiver string) (int, error) {
	if err := checkKey("notification receiver", receiver); err != nil {
		return 0, err
	}
	var n uint64
	err := s.view(func(tx *bolt.Tx) error {
		if rb := tx.Bucket(bucketOutbox).Bucket([]byte(receiver)); rb != nil {
			n = rb.Sequence()
		}
		return nil
	})
	return int(n), err
}

// UpdateNotification records a failed attempt: it writes n.Attempts,
// n.NextAttempt and n.LastError onto the stored notification n.ID. Receiver,
// payload and creation time cannot change. An unknown ID fails with
// ErrNotFound.
func (s *Store) UpdateNotification(n alerting.Notification) error {
	if n.Attempts < 0 {
		return fmt.Errorf("store: notification attempts %d for ID %d must not be negative", n.Attempts, n.ID)
	}
	return s.update(func(tx *bolt.Tx) error {
		rb, raw, err := locate(tx, n.ID)
		if err != nil {
			return err
		}
		var cur alerting.Notification
		if err := decode(fmt.Sprintf("notification %d", n.ID), raw, &cur); err != nil {
			return err
		}
		cur.Attempts, cur.NextAttempt, cur.LastError = n.Attempts, n.NextAttempt, n.LastError
		return put(rb, u64key(n.ID), cur)
	})
}

// AckNotification removes notification id from the outbox after a
// successful delivery. An unknown ID fails with ErrNotFound.
func (s *Store) AckNotification(id uint64) error {
	return s.update(func(tx *bolt.Tx) error {
		rb, _, err := locate(tx, id)
		if err != nil {
			return err
		}
		if err := rb.Delete(u64key(id)); err != nil {
			return err
		}
		if p := rb.Sequence(); p > 0 {
			return rb.SetSequence(p - 1)
		}
		return nil
	})
}

// locate finds the receiver bucket holding notification id.
func locate(tx *bolt.Tx, id uint64) (*bolt.Bucket, []byte, error) {
	outbox := tx.Bucket(bucketOutbox)
	key := u64key(id)
	var (
		found *bolt.Bucket
		raw   []byte
	)
	err := outbox.ForEachBucket(func(k []byte) error {
		rb := outbox.Bucket(k)
		if v := rb.Get(key); v != nil {
			found, raw = rb, v
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if found == nil {
		return nil, nil, fmt.Errorf("store: notification %d: %w", id, ErrNotFound)
	}
	return found, raw, nil
}
