package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// RevokeSession records that the login session id has ended (a logout)
// although it would be valid until expires, so that a copy of its cookie
// is refused from now on, across restarts. Records of sessions that have
// expired by now are removed in the same transaction: the list holds only
// sessions that could still be presented.
func (s *Store) RevokeSession(id string, expires, now time.Time) error {
	if err := checkKey("session id", id); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		var stale [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if t, err := time.Parse(time.RFC3339, string(v)); err != nil || !t.After(now) {
				stale = append(stale, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if !expires.After(now) {
			return nil // it has ended by itself
		}
		return b.Put([]byte(id), []byte(expires.UTC().Format(time.RFC3339)))
	})
}

// SessionRevoked reports whether the session id was revoked.
func (s *Store) SessionRevoked(id string) (bool, error) {
	if err := checkKey("session id", id); err != nil {
		return false, err
	}
	var found bool
	err := s.view(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketSessions).Get([]byte(id)) != nil
		return nil
	})
	return found, err
}
