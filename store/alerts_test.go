package store_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/alerting"
)

func TestAlertsRoundTrip(t *testing.T) {
	s := open(t, t.TempDir())
	firing := alerting.AlertRecord{
		Fingerprint: "b2", Name: "ErrorBudgetBurn", Severity: "page",
		Labels:      map[string]string{"alertname": "ErrorBudgetBurn", "slo": "checkout", "window": "1h"},
		Annotations: map[string]string{"summary": "checkout burns its budget 14.4x"},
		State:       alerting.AlertFiring, ActiveAt: t0, StartsAt: t0.Add(time.Minute), Source: alerting.SourceFusebox,
		GeneratorURL: "http://127.0.0.1:8080/slos",
		History: []alerting.AlertTransition{
			{At: t0, To: alerting.AlertPending},
			{At: t0.Add(time.Minute), From: alerting.AlertPending, To: alerting.AlertFiring, Detail: "burn 15.2x over 1h and 5m"},
		},
	}
	resolved := alerting.AlertRecord{Fingerprint: "a1", Name: "BreakerOpen", Severity: "ticket", State: alerting.AlertResolved,
		StartsAt: t0, EndsAt: t0.Add(time.Hour), Source: alerting.SourceAlertmanager}
	for _, r := range []alerting.AlertRecord{firing, resolved} {
		if err := s.PutAlert(r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Alerts()
	if err != nil {
		t.Fatal(err)
	}
	if want := []alerting.AlertRecord{resolved, firing}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Alerts() =\n %+v\nwant (ordered by fingerprint)\n %+v", got, want)
	}

	firing.State, firing.EndsAt = alerting.AlertResolved, t0.Add(2*time.Hour)
	if err := s.PutAlert(firing); err != nil {
		t.Fatal(err)
	}
	r, ok, err := s.Alert("b2")
	if err != nil || !ok || !reflect.DeepEqual(r, firing) {
		t.Errorf("Alert(b2) = %+v, %v, %v; want %+v", r, ok, err, firing)
	}

	if err := s.DeleteAlert("a1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAlert("a1"); err != nil {
		t.Errorf("deleting a missing alert = %v, want nil", err)
	}
	if got, _ := s.Alerts(); len(got) != 1 || got[0].Fingerprint != "b2" {
		t.Errorf("after DeleteAlert, Alerts() = %+v", got)
	}
}

func TestPutAlertKeepsTheNewestHistory(t *testing.T) {
	s := open(t, t.TempDir())
	r := alerting.AlertRecord{Fingerprint: "f"}
	for i := range alerting.MaxAlertHistory + 7 {
		r.History = append(r.History, alerting.AlertTransition{At: t0.Add(time.Duration(i) * time.Second), To: alerting.AlertFiring})
	}
	if err := s.PutAlert(r); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Alert("f")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.History) != alerting.MaxAlertHistory {
		t.Fatalf("history length = %d, want %d", len(got.History), alerting.MaxAlertHistory)
	}
	if !got.History[0].At.Equal(t0.Add(7 * time.Second)) {
		t.Errorf("oldest kept transition at %s, want %s", got.History[0].At, t0.Add(7*time.Second))
	}
}

func TestAlertRejectsBadInput(t *testing.T) {
	s := open(t, t.TempDir())
	tests := []struct {
		name string
		call func() error
	}{
		{"putting an alert without fingerprint is refused", func() error { return s.PutAlert(alerting.AlertRecord{Name: "x"}) }},
		{"deleting an alert without fingerprint is refused", func() error { return s.DeleteAlert("") }},
		{"reading an alert without fingerprint is refused", func() error { _, _, err := s.Alert(""); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.Contains(err.Error(), "alert fingerprint must not be empty") {
				t.Errorf("error = %v, want one naming the alert fingerprint", err)
			}
		})
	}
}

func TestNotifiedGroupsRoundTripBesideTheAlerts(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.PutAlert(alerting.AlertRecord{Fingerprint: "a1", State: alerting.AlertFiring}); err != nil {
		t.Fatal(err)
	}
	g1 := alerting.NotifiedGroup{Receiver: "ops", Group: `{}:{alertname="A"}`, Firing: []string{"a1"}, At: t0}
	g2 := alerting.NotifiedGroup{Receiver: "pager", Group: `{}:{alertname="A"}`, At: t0.Add(time.Hour)}
	for _, g := range []alerting.NotifiedGroup{g2, g1} {
		if err := s.PutNotifiedGroup(g); err != nil {
			t.Fatal(err)
		}
	}
	g1.Firing = []string{"a1", "b2"}
	if err := s.PutNotifiedGroup(g1); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNotifiedGroup("nobody", "x"); err != nil {
		t.Fatalf("deleting a missing record: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	got, err := s.NotifiedGroups()
	if err != nil {
		t.Fatal(err)
	}
	if want := []alerting.NotifiedGroup{g1, g2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("NotifiedGroups() = %+v, want %+v", got, want)
	}
	if as, err := s.Alerts(); err != nil || len(as) != 1 || as[0].Fingerprint != "a1" {
		t.Fatalf("Alerts() = %+v, %v; want only the alert", as, err)
	}
	if err := s.DeleteNotifiedGroup("pager", `{}:{alertname="A"}`); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.NotifiedGroups(); len(got) != 1 || got[0].Receiver != "ops" {
		t.Fatalf("after a delete: %+v", got)
	}
	for _, bad := range []alerting.NotifiedGroup{{Group: "g"}, {Receiver: "r"}} {
		if err := s.PutNotifiedGroup(bad); err == nil {
			t.Errorf("PutNotifiedGroup(%+v) = nil, want an error naming the empty key", bad)
		}
	}
}
