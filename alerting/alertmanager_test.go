package alerting

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// amExample is the example of Alertmanager's webhook documentation, with
// the fingerprint Alertmanager adds.
const amExample = `{
  "version": "4",
  "groupKey": "{}:{alertname=\"HighLatency\"}",
  "truncatedAlerts": 0,
  "status": "firing",
  "receiver": "fusebox",
  "groupLabels": {"alertname": "HighLatency"},
  "commonLabels": {"alertname": "HighLatency", "severity": "page"},
  "commonAnnotations": {"summary": "p99 above 1s"},
  "externalURL": "http://alertmanager:9093",
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "HighLatency", "severity": "page", "instance": "a:8080"},
      "annotations": {"summary": "p99 above 1s"},
      "startsAt": "2026-03-02T09:58:00Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
      "fingerprint": "6ad6d0ff3c5dc1d8"
    },
    {
      "status": "resolved",
      "labels": {"alertname": "HighLatency", "severity": "page", "instance": "b:8080"},
      "annotations": {},
      "startsAt": "2026-03-02T09:50:00Z",
      "endsAt": "2026-03-02T09:55:00Z",
      "generatorURL": ""
    }
  ]
}`

func TestReceiveAlertmanagerMergesAlerts(t *testing.T) {
	clock := resiliencetest.NewClock(sloStart)
	store := &memAlertStore{}
	am, err := NewAlertManager(AlertManagerConfig{Clock: clock, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := am.ReceiveAlertmanager(context.Background(), []byte(amExample)); err != nil {
		t.Fatal(err)
	}
	as := am.Alerts()
	if len(as) != 2 {
		t.Fatalf("alerts = %+v", as)
	}
	firing, resolved := as[0], as[1]
	if firing.Fingerprint != "6ad6d0ff3c5dc1d8" || firing.State != AlertFiring || firing.Source != SourceAlertmanager ||
		firing.Name != "HighLatency" || firing.Severity != "page" || !firing.StartsAt.Equal(time.Date(2026, 3, 2, 9, 58, 0, 0, time.UTC)) {
		t.Errorf("firing = %+v", firing.AlertRecord)
	}
	if resolved.Fingerprint != Fingerprint(map[string]string{"alertname": "HighLatency", "severity": "page", "instance": "b:8080"}) ||
		resolved.State != AlertResolved || resolved.EndsAt.IsZero() {
		t.Errorf("resolved = %+v", resolved.AlertRecord)
	}
	if recs, _ := store.Alerts(); len(recs) != 2 {
		t.Errorf("stored %d alerts", len(recs))
	}

	t.Run("a resend changes nothing but a state change is recorded", func(t *testing.T) {
		puts := store.puts
		if err := am.ReceiveAlertmanager(context.Background(), []byte(amExample)); err != nil {
			t.Fatal(err)
		}
		body := strings.Replace(amExample, `"status": "firing",
      "labels": {"alertname": "HighLatency", "severity": "page", "instance": "a:8080"}`, `"status": "resolved",
      "labels": {"alertname": "HighLatency", "severity": "page", "instance": "a:8080"}`, 1)
		body = strings.Replace(body, `"endsAt": "0001-01-01T00:00:00Z"`, `"endsAt": "2026-03-02T10:01:00Z"`, 1)
		if err := am.ReceiveAlertmanager(context.Background(), []byte(body)); err != nil {
			t.Fatal(err)
		}
		a, _ := findAlert(am.Alerts(), map[string]string{"instance": "a:8080"})
		if a.State != AlertResolved || len(a.History) != 2 || store.puts <= puts {
			t.Errorf("after resolution: %+v", a.AlertRecord)
		}
	})
	t.Run("received alerts are not evaluated away", func(t *testing.T) {
		before := am.Alerts()
		if err := am.Evaluate(clock.Now()); err != nil {
			t.Fatal(err)
		}
		if after := am.Alerts(); !reflect.DeepEqual(before, after) {
			t.Errorf("Evaluate changed received alerts: %+v", after)
		}
	})
}

func TestReceiveAlertmanagerRejectsMalformedPayloads(t *testing.T) {
	valid := amExample
	tests := []struct {
		name, body, want string
	}{
		{"a body that is not JSON", "not json", "not a JSON object"},
		{"a JSON array", "[]", "not a JSON object"},
		{"an empty body", "", "not a JSON object"},
		{"trailing data", valid + "{}", "trailing data"},
		{"another version", strings.Replace(valid, `"version": "4"`, `"version": "3"`, 1), "version"},
		{"an unknown status", strings.Replace(valid, `"status": "firing",
  "receiver"`, `"status": "burning",
  "receiver"`, 1), "status"},
		{"no alerts", `{"version":"4","status":"firing"}`, "alerts: missing"},
		{"an alert without alertname", strings.Replace(valid, `"alertname": "HighLatency", "severity": "page", "instance": "a:8080"`, `"severity": "page"`, 1), "alerts[0].labels.alertname"},
		{"an alert without startsAt", strings.Replace(valid, `"startsAt": "2026-03-02T09:58:00Z",`, ``, 1), "alerts[0].startsAt"},
		{"a resolved alert without endsAt", strings.Replace(valid, `"endsAt": "2026-03-02T09:55:00Z",`, ``, 1), "alerts[1].endsAt"},
		{"a bad time", strings.Replace(valid, `2026-03-02T09:58:00Z`, `yesterday`, 1), "not a JSON object"},
		{"labels of the wrong type", strings.Replace(valid, `"annotations": {},`, `"annotations": [1],`, 1), "not a JSON object"},
		{"a body over the limit", `{"version":"4","x":"` + strings.Repeat("a", MaxAlertmanagerPayload) + `"}`, "exceeds"},
	}
	clock := resiliencetest.NewClock(sloStart)
	store := &memAlertStore{}
	am, err := NewAlertManager(AlertManagerConfig{Clock: clock, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := am.ReceiveAlertmanager(context.Background(), []byte(valid)); err != nil {
		t.Fatal(err)
	}
	before, stored := am.Alerts(), store.puts
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseAlertmanagerPayload([]byte(tt.body)); !errors.Is(err, ErrInvalidPayload) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want ErrInvalidPayload mentioning %q", err, tt.want)
			}
			if err := am.ReceiveAlertmanager(context.Background(), []byte(tt.body)); !errors.Is(err, ErrInvalidPayload) {
				t.Errorf("Receive = %v", err)
			}
			if after := am.Alerts(); !reflect.DeepEqual(before, after) || store.puts != stored {
				t.Errorf("stored alerts changed: %+v", after)
			}
		})
	}
}

func TestReceiveAlertmanagerCapsReceivedAlerts(t *testing.T) {
	am, err := NewAlertManager(AlertManagerConfig{MaxExternalAlerts: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Two alerts, one of them resolved: the cap of one cannot hold both.
	if err := am.ReceiveAlertmanager(context.Background(), []byte(amExample)); !errors.Is(err, ErrInvalidPayload) || len(am.Alerts()) != 0 {
		t.Errorf("err = %v, alerts = %d", err, len(am.Alerts()))
	}
}
