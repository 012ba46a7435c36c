package alerting

import (
	"encoding"
	"encoding/json"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// textEnum is what the enums of this package implement.
type textEnum interface {
	encoding.TextMarshaler
	String() string
}

func TestEnumsKeepTheirTextForms(t *testing.T) {
	tests := []struct {
		v    textEnum
		want string
	}{
		{AlertInactive, ""}, {AlertPending, "pending"}, {AlertFiring, "firing"}, {AlertResolved, "resolved"},
		{SourceUnknown, ""}, {SourceFusebox, "fusebox"}, {SourceAlertmanager, "alertmanager"},
		{DeliverySuccess, "success"}, {DeliveryFailure, "failure"}, {DeliveryTimeout, "timeout"},
		{DeliveryRejected, "rejected"}, {DeliveryDropped, "dropped"},
		{SLIUnset, ""}, {SLIAvailability, "availability"}, {SLILatency, "latency"},
		{RejectedUnset, ""}, {RejectedBad, "bad"}, {RejectedIgnored, "ignored"},
	}
	for _, tt := range tests {
		b, err := tt.v.MarshalText()
		if err != nil || string(b) != tt.want || tt.v.String() != tt.want {
			t.Errorf("%T %d: MarshalText = %q, %v; String = %q; want %q", tt.v, tt.v, b, err, tt.v.String(), tt.want)
		}
	}
}

// roundTrip checks that every value of an enum of n values reads back from
// its text, and that a value out of range neither marshals nor reads.
func roundTrip[T interface {
	enum
	MarshalText() ([]byte, error)
	String() string
}, P interface {
	*T
	UnmarshalText([]byte) error
}](t *testing.T, n T) {
	t.Helper()
	for v := range n {
		b, err := v.MarshalText()
		if err != nil {
			t.Fatalf("%T(%d).MarshalText: %v", v, v, err)
		}
		var got T
		if err := P(&got).UnmarshalText(b); err != nil || got != v {
			t.Errorf("%T: %q reads as %d, %v; want %d", v, b, got, err, v)
		}
	}
	if b, err := n.MarshalText(); err == nil {
		t.Errorf("%T(%d).MarshalText = %q, want an error", n, n, b)
	}
	if s := n.String(); !strings.Contains(s, "(") {
		t.Errorf("%T(%d).String() = %q, want the number shown", n, n, s)
	}
}

func TestEnumsRoundTripTheirText(t *testing.T) {
	roundTrip[AlertState, *AlertState](t, numAlertStates)
	roundTrip[AlertSource, *AlertSource](t, numAlertSources)
	roundTrip[DeliveryResult, *DeliveryResult](t, numDeliveryResults)
	roundTrip[SLI, *SLI](t, numSLIs)
	roundTrip[RejectedCalls, *RejectedCalls](t, numRejectedCalls)
}

func TestEnumsRefuseUnknownTextNamingIt(t *testing.T) {
	tests := []struct {
		name string
		into encoding.TextUnmarshaler
		want string
	}{
		{"an alert state", new(AlertState), `unknown alert state "burning" (want pending, firing, resolved)`},
		{"an alert source", new(AlertSource), `unknown alert source "burning" (want fusebox, alertmanager)`},
		{"a delivery result", new(DeliveryResult), `unknown delivery result "burning" (want success, failure, timeout, rejected, dropped)`},
		{"an SLI", new(SLI), `unknown SLI "burning" (want availability, latency)`},
		{"a way to count rejected calls", new(RejectedCalls), `unknown way to count rejected calls "burning" (want bad, ignored)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.into.UnmarshalText([]byte("burning"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("UnmarshalText(burning) = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	var r AlertRecord
	err := json.Unmarshal([]byte(`{"fingerprint":"f","state":"burning"}`), &r)
	if err == nil || !strings.Contains(err.Error(), `"burning"`) {
		t.Errorf("a record with an unknown state decodes with %v, want an error naming it", err)
	}
}

// TestEnumTextIsAnyStringButTheNames checks, on arbitrary text, that only
// the names of the values read, and back to themselves.
func TestEnumTextIsAnyStringButTheNames(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.OneOf(rapid.String(), rapid.SampledFrom([]string{"", "firing", "pending", "resolved", "Firing", " firing"})).Draw(t, "text")
		var st AlertState
		err := st.UnmarshalText([]byte(s))
		known := s == "" || s == "pending" || s == "firing" || s == "resolved"
		if (err == nil) != known {
			t.Fatalf("UnmarshalText(%q) = %v", s, err)
		}
		if err == nil && st.String() != s {
			t.Fatalf("%q reads as %v", s, st)
		}
	})
}
