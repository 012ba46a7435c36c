package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MaxAlertHistory is how many transitions PutAlert keeps per alert; older
// ones are dropped.
const MaxAlertHistory = 50

// AlertRecord is the persisted state of one alert, keyed by its fingerprint.
type AlertRecord struct {
	// Fingerprint identifies the alert across restarts; required.
	Fingerprint string `json:"fingerprint"`
	// Name is the alert name ("ErrorBudgetBurn").
	Name string `json:"name,omitempty"`
	// Severity is "page", "ticket", "info"….
	Severity string `json:"severity,omitempty"`
	// Labels and Annotations are as in Alertmanager.
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// State is "pending", "firing" or "resolved".
	State string `json:"state,omitempty"`
	// ActiveAt is when the condition was first seen (pending since).
	ActiveAt time.Time `json:"active_at,omitzero"`
	// StartsAt is when it started firing; EndsAt when it resolved.
	StartsAt time.Time `json:"starts_at,omitzero"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	// Source says where it came from: "fusebox" or "alertmanager".
	Source string `json:"source,omitempty"`
	// GeneratorURL links to what raised it.
	GeneratorURL string `json:"generator_url,omitempty"`
	// History lists its transitions, oldest first, at most MaxAlertHistory.
	History []AlertTransition `json:"history,omitempty"`
}

// AlertTransition is one change of an alert's state.
type AlertTransition struct {
	At     time.Time `json:"at"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	Detail string    `json:"detail,omitempty"`
}

// PutAlert stores r, replacing the record with the same fingerprint. Only
// the newest MaxAlertHistory transitions are kept.
func (s *Store) PutAlert(r AlertRecord) error {
	if err := checkKey("alert fingerprint", r.Fingerprint); err != nil {
		return err
	}
	if n := len(r.History); n > MaxAlertHistory {
		r.History = r.History[n-MaxAlertHistory:]
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
func (s *Store) Alerts() ([]AlertRecord, error) {
	var out []AlertRecord
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
			if v == nil {
				return nil // a nested bucket: the notified groups
			}
			var r AlertRecord
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
func (s *Store) Alert(fingerprint string) (AlertRecord, bool, error) {
	if err := checkKey("alert fingerprint", fingerprint); err != nil {
		return AlertRecord{}, false, err
	}
	var (
		r     AlertRecord
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
		return AlertRecord{}, false, err
	}
	return r, found, nil
}

// NotifiedGroup is what a webhook receiver was last told of an alert
// group: the fingerprints it was told are firing, and when. The alerts
// bucket keeps these records in a nested bucket of their own (the
// notification log), keyed by receiver and group.
type NotifiedGroup struct {
	// Receiver and Group (the payload's groupKey) identify the record;
	// both required.
	Receiver string `json:"receiver"`
	Group    string `json:"group"`
	// Firing lists the fingerprints of the alerts last notified as firing.
	Firing []string `json:"firing,omitempty"`
	// At is when the receiver was last notified of the group.
	At time.Time `json:"at"`
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
func (s *Store) PutNotifiedGroup(g NotifiedGroup) error {
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
func (s *Store) NotifiedGroups() ([]NotifiedGroup, error) {
	var out []NotifiedGroup
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAlerts).Bucket(bucketNotified)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var g NotifiedGroup
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
