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
