package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// PutSLOSnapshot stores the SLO engine's history for SLO name, replacing the
// previous snapshot. The bytes are opaque to the store; nil and empty are
// stored as an empty snapshot.
func (s *Store) PutSLOSnapshot(name string, data []byte) error {
	if err := checkKey("slo name", name); err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSLO).Put([]byte(name), data)
	})
}

// SLOSnapshot returns a copy of the snapshot of SLO name and whether one
// exists.
func (s *Store) SLOSnapshot(name string) ([]byte, bool, error) {
	if err := checkKey("slo name", name); err != nil {
		return nil, false, err
	}
	var (
		out   []byte
		found bool
	)
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketSLO).Get([]byte(name)); v != nil {
			// bbolt's bytes live only as long as the transaction.
			out, found = bytes.Clone(v), true
			if out == nil {
				out = []byte{}
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, found, nil
}

// DeleteSLOSnapshot removes the snapshot of SLO name (an SLO dropped from the
// config); removing one that does not exist is not an error.
func (s *Store) DeleteSLOSnapshot(name string) error {
	if err := checkKey("slo name", name); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSLO).Delete([]byte(name))
	})
}

// SLOSnapshotNames lists the SLOs that have a snapshot, in name order.
func (s *Store) SLOSnapshotNames() ([]string, error) {
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSLO).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
