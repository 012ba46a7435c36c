package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/fusebox-dev/fusebox/alerting"
)

// PutAlert stores r, replacing the record with the same fingerprint. Only
// the newest alerting.MaxAlertHistory transitions are kept.
func (s *Store) PutAlert(r alerting.AlertRecord) error {
	if err := checkKey("alert fingerprint", r.Fingerprint); err != nil {
		return err
	}
	if n := len(r.History); n > alerting.MaxAlertHistory {
		r.History = r.History[n-alerting.MaxAlertHistory:]
	}
	return s.update(func(tx *bolt.Tx) error {
		return put(tx.Bucket(bucketAlerts), []byte(r.Fingerprint), r)
	})
}

// DeleteAlert removes the alert with fingerprint; removing one that does not
// exist is not an error.
func (s *Store) DeleteAlert(fingerprint string) error {
	if err := checkKey("alert fingerprint", fingerprint); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAlerts).Delete([]byte(fingerprint))
	})
}

// Alerts returns every stored alert, ordered by fingerprint.
func (s *Store) Alerts() ([]alerting.AlertRecord, error) {
	var out []alerting.AlertRecord
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
			if v == nil {
				return nil // a nested bucket: the notified groups
			}
			var r alerting.AlertRecord
			if err := decode(fmt.Sprintf("alert %q", k), v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Alert returns the alert with fingerprint and whether it exists.
func (s *Store) Alert(fingerprint string) (alerting.AlertRecord, bool, error) {
	if err := checkKey("alert fingerprint", fingerprint); err != nil {
		return alerting.AlertRecord{}, false, err
	}
	var (
		r     alerting.AlertRecord
		found bool
	)
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketAlerts).Get([]byte(fingerprint))
		if v == nil {
			return nil
		}
		found = true
		return decode(fmt.Sprintf("alert %q", fingerprint), v, &r)
	})
	if err != nil {
		return alerting.AlertRecord{}, false, err
	}
	return r, found, nil
}

// bucketNotified is the nested bucket of the alerts bucket that holds the
// notified groups; its name cannot be a fingerprint.
var bucketNotified = []byte("\x00notified")

func notifiedKey(receiver, group string) ([]byte, error) {
	if err := checkKey("notified receiver", receiver); err != nil {
		return nil, err
	}
	if err := checkKey("notified group", group); err != nil {
		return nil, err
	}
	return []byte(receiver + "\x00" + group), nil
}

// PutNotifiedGroup stores g, replacing the record of the same receiver and
// group.
func (s *Store) PutNotifiedGroup(g alerting.NotifiedGroup) error {
	key, err := notifiedKey(g.Receiver, g.Group)
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketAlerts).CreateBucketIfNotExists(bucketNotified)
		if err != nil {
			return err
		}
		return put(b, key, g)
	})
}

// DeleteNotifiedGroup removes the record of receiver and group; removing
// one that does not exist is not an error.
func (s *Store) DeleteNotifiedGroup(receiver, group string) error {
	key, err := notifiedKey(receiver, group)
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketAlerts).Bucket(bucketNotified); b != nil {
			return b.Delete(key)
		}
		return nil
	})
}

// NotifiedGroups returns every notified group, ordered by receiver and
// group.
func (s *Store) NotifiedGroups() ([]alerting.NotifiedGroup, error) {
	var out []alerting.NotifiedGroup
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAlerts).Bucket(bucketNotified)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var g alerting.NotifiedGroup
			if err := decode(fmt.Sprintf("notified group %q", k), v, &g); err != nil {
				return err
			}
			out = append(out, g)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
