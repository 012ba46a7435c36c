package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// AlertmanagerPayload is the body of an Alertmanager webhook notification,
// version "4" (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
// Fusebox sends it to its receivers and accepts it from Alertmanager.
type AlertmanagerPayload struct {
	Version           string              `json:"version"`
	GroupKey          string              `json:"groupKey"`
	TruncatedAlerts   int                 `json:"truncatedAlerts"`
	Status            string              `json:"status"`
	Receiver          string              `json:"receiver"`
	GroupLabels       map[string]string   `json:"groupLabels"`
	CommonLabels      map[string]string   `json:"commonLabels"`
	CommonAnnotations map[string]string   `json:"commonAnnotations"`
	ExternalURL       string              `json:"externalURL"`
	Alerts            []AlertmanagerAlert `json:"alerts"`
}

// AlertmanagerAlert is one alert of an AlertmanagerPayload. EndsAt is the
// zero time (0001-01-01T00:00:00Z) while an alert fires.
type AlertmanagerAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// ErrInvalidPayload is matched (errors.Is) by the errors of
// ParseAlertmanagerPayload and ReceiveAlertmanager for a body that is not a
// valid Alertmanager webhook payload; an HTTP handler answers it with 400.
var ErrInvalidPayload = errors.New("alerting: invalid Alertmanager payload")

// Limits on a received payload.
const (
	// MaxAlertmanagerPayload is the largest body accepted, in bytes.
	MaxAlertmanagerPayload = 1 << 20
	maxPayloadAlerts       = 1000
	maxLabels              = 64
	maxLabelBytes          = 4096
)

func invalidPayload(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPayload, fmt.Sprintf(format, args...))
}

// ParseAlertmanagerPayload decodes and checks an Alertmanager webhook body:
// a JSON object of at most MaxAlertmanagerPayload bytes with version "4",
// status "firing" or "resolved", and at most 1000 alerts, each with a
// status, a non-empty alertname label, at most 64 labels and annotations of
// at most 4 KiB each, and a startsAt time. Unknown fields are ignored, as
// Alertmanager adds fields over time. The error wraps ErrInvalidPayload and
// names the offending field ("alerts[2].labels.alertname").
func ParseAlertmanagerPayload(body []byte) (AlertmanagerPayload, error) {
	var p AlertmanagerPayload
	if len(body) > MaxAlertmanagerPayload {
		return p, invalidPayload("body of %d bytes exceeds %d", len(body), MaxAlertmanagerPayload)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		return AlertmanagerPayload{}, invalidPayload("not a JSON object of the webhook format: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return AlertmanagerPayload{}, invalidPayload("trailing data after the JSON object")
	}
	if p.Version != "4" {
		return p, invalidPayload(`version: %q, want "4"`, p.Version)
	}
	if statusState(p.Status) == AlertInactive {
		return p, invalidPayload(`status: %q, want "firing" or "resolved"`, p.Status)
	}
	if p.Alerts == nil {
		return p, invalidPayload("alerts: missing")
	}
	if len(p.Alerts) > maxPayloadAlerts {
		return p, invalidPayload("alerts: %d alerts exceed %d", len(p.Alerts), maxPayloadAlerts)
	}
	for i, a := range p.Alerts {
		field := fmt.Sprintf("alerts[%d]", i)
		if statusState(a.Status) == AlertInactive {
			return p, invalidPayload(`%s.status: %q, want "firing" or "resolved"`, field, a.Status)
		}
		if err := checkPayloadLabels(field+".labels", a.Labels); err != nil {
			return p, err
		}
		if a.Labels["alertname"] == "" {
			return p, invalidPayload("%s.labels.alertname: missing", field)
		}
		if err := checkPayloadLabels(field+".annotations", a.Annotations); err != nil {
			return p, err
		}
		if a.StartsAt.IsZero() {
			return p, invalidPayload("%s.startsAt: missing", field)
		}
		if statusState(a.Status) == AlertResolved && a.EndsAt.IsZero() {
			return p, invalidPayload("%s.endsAt: missing on a resolved alert", field)
		}
		if len(a.Fingerprint) > 64 || len(a.GeneratorURL) > maxLabelBytes {
			return p, invalidPayload("%s: fingerprint or generatorURL too long", field)
		}
	}
	return p, nil
}

// statusState returns the state a payload's status ("firing" or
// "resolved") gives, or AlertInactive for any other.
func statusState(status string) AlertState {
	switch status {
	case AlertFiring.String():
		return AlertFiring
	case AlertResolved.String():
		return AlertResolved
	}
	return AlertInactive
}

func checkPayloadLabels(field string, m map[string]string) error {
	if len(m) > maxLabels {
		return invalidPayload("%s: %d entries exceed %d", field, len(m), maxLabels)
	}
	for k, v := range m {
		if k == "" || len(k) > 256 || len(v) > maxLabelBytes || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return invalidPayload("%s.%s: empty, too long or not UTF-8", field, clipText(k, 64))
		}
	}
	return nil
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ReceiveAlertmanager merges the alerts of an Alertmanager webhook body
// into the manager's alerts, with Source SourceAlertmanager and the
// fingerprint of the payload (or one computed from the labels when it has
// none): a new alert is added, a known one takes the new state, labels,
// annotations and times, and a change of state is recorded in its history.
// A malformed body is an error wrapping ErrInvalidPayload and changes
// nothing; so does a body that would take the received alerts past
// MaxExternalAlerts once resolved ones are dropped. Received alerts are
// not sent to webhooks. ctx is not used beyond the call.
func (m *AlertManager) ReceiveAlertmanager(ctx context.Context, body []byte) error {
	p, err := ParseAlertmanagerPayload(body)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	now := m.clock.Now()

	var put []AlertRecord
	var del []string
	m.mu.Lock()
	incoming := map[string]AlertmanagerAlert{}
	for _, a := range p.Alerts {
		fp := a.Fingerprint
		if fp == "" {
			fp = Fingerprint(a.Labels)
		}
		incoming[fp] = a
	}
	external, added := 0, 0
	for _, r := range m.alerts {
		if r.Source == SourceAlertmanager {
			external++
		}
	}
	for fp := range incoming {
		if _, ok := m.alerts[fp]; !ok {
			added++
		}
	}
	if over := external + added - m.cfg.MaxExternalAlerts; over > 0 {
		// Make room by dropping the oldest resolved alerts from Alertmanager.
		var resolved []*AlertRecord
		for _, r := range m.alerts {
			if r.Source == SourceAlertmanager && r.State == AlertResolved {
				if _, ok := incoming[r.Fingerprint]; !ok {
					resolved = append(resolved, r)
				}
			}
		}
		if len(resolved) < over {
			m.mu.Unlock()
			return invalidPayload("alerts: keeping %d more alerts from Alertmanager would exceed %d", added, m.cfg.MaxExternalAlerts)
		}
		slices.SortFunc(resolved, func(a, b *AlertRecord) int { return a.EndsAt.Compare(b.EndsAt) })
		for _, r := range resolved[:over] {
			delete(m.alerts, r.Fingerprint)
			del = append(del, r.Fingerprint)
		}
	}
	for _, fp := range slices.Sorted(maps.Keys(incoming)) {
		a := incoming[fp]
		r := m.alerts[fp]
		if r == nil {
			r = &AlertRecord{Fingerprint: fp, ActiveAt: a.StartsAt}
			m.alerts[fp] = r
		} else if r.Source != SourceAlertmanager {
			continue // never let a received alert overwrite one of ours
		}
		st := statusState(a.Status)
		changed := r.State != st
		r.Name, r.Severity, r.Source = a.Labels["alertname"], a.Labels["severity"], SourceAlertmanager
		r.Labels, r.Annotations = maps.Clone(a.Labels), maps.Clone(a.Annotations)
		r.StartsAt, r.EndsAt, r.GeneratorURL = a.StartsAt, time.Time{}, a.GeneratorURL
		if st == AlertResolved {
			r.EndsAt = a.EndsAt
		}
		if changed {
			detail := "from Alertmanager"
			if p.ExternalURL != "" {
				detail += " " + strings.TrimSpace(clipText(p.ExternalURL, 256))
			}
			moveAlert(r, st, now, detail)
		}
		put = append(put, cloneRecord(r))
	}
	m.mu.Unlock()
	return m.persist(put, del)
}
