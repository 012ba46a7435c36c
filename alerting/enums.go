package alerting

import (
	"fmt"
	"strconv"
	"strings"
)

// AlertState is the state of an alert. Its text form ("pending",
// "firing", "resolved") is what JSON, the store and webhook payloads
// carry.
type AlertState uint8

// The states of an alert. A condition that holds makes an alert pending,
// and firing once it has held for the rule's wait (at once for burn-rate
// alerts); when the condition stops holding a firing alert resolves.
const (
	// AlertInactive is the state before an alert's first transition (the
	// From of that transition); its text is empty.
	AlertInactive AlertState = iota
	AlertPending
	AlertFiring
	AlertResolved
	numAlertStates
)

func (s AlertState) names() []string { return []string{"", "pending", "firing", "resolved"} }

// String returns the text form of s.
func (s AlertState) String() string { return enumString(s, numAlertStates) }

// MarshalText implements encoding.TextMarshaler.
func (s AlertState) MarshalText() ([]byte, error) { return enumText(s, numAlertStates, "alert state") }

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an
// error naming it.
func (s *AlertState) UnmarshalText(b []byte) error {
	return parseEnum(s, numAlertStates, "alert state", b)
}

// AlertSource says where an alert came from.
type AlertSource uint8

// The sources of an alert.
const (
	// SourceUnknown is the zero AlertSource; its text is empty.
	SourceUnknown AlertSource = iota
	// SourceFusebox: the AlertManager's own rules raised it.
	SourceFusebox
	// SourceAlertmanager: it came from Alertmanager's webhook.
	SourceAlertmanager
	numAlertSources
)

func (s AlertSource) names() []string { return []string{"", "fusebox", "alertmanager"} }

// String returns the text form of s: "fusebox", "alertmanager" or "".
func (s AlertSource) String() string { return enumString(s, numAlertSources) }

// MarshalText implements encoding.TextMarshaler.
func (s AlertSource) MarshalText() ([]byte, error) {
	return enumText(s, numAlertSources, "alert source")
}

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an
// error naming it.
func (s *AlertSource) UnmarshalText(b []byte) error {
	return parseEnum(s, numAlertSources, "alert source", b)
}

// DeliveryResult is how a round of delivery of a notification ended; its
// text form is the value of the result label of
// fusebox_webhook_deliveries_total.
type DeliveryResult uint8

// The results of a delivery round.
const (
	DeliverySuccess  DeliveryResult = iota // a 2xx answer
	DeliveryFailure                        // a non-2xx answer or a transport error
	DeliveryTimeout                        // an attempt ran out of time
	DeliveryRejected                       // the receiver's breaker is open
	DeliveryDropped                        // the outbox refused the notification
	numDeliveryResults
)

func (r DeliveryResult) names() []string {
	return []string{"success", "failure", "timeout", "rejected", "dropped"}
}

// String returns the text form of r: "success", "failure", "timeout",
// "rejected" or "dropped".
func (r DeliveryResult) String() string { return enumString(r, numDeliveryResults) }

// MarshalText implements encoding.TextMarshaler.
func (r DeliveryResult) MarshalText() ([]byte, error) {
	return enumText(r, numDeliveryResults, "delivery result")
}

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an
// error naming it.
func (r *DeliveryResult) UnmarshalText(b []byte) error {
	return parseEnum(r, numDeliveryResults, "delivery result", b)
}

// SLI says what makes a call good.
type SLI uint8

// The SLIs.
const (
	// SLIUnset is the zero SLI, whose text is empty: an SLOConfig without
	// one measures SLIAvailability.
	SLIUnset SLI = iota
	// SLIAvailability counts a call as good when its effective outcome, after
	// retries and fallbacks, is resilience.OutcomeSuccess. Every other outcome
	// (failure, timeout, rejected, canceled) counts as bad, as
	// fusebox_calls_total{outcome!="success"} does.
	SLIAvailability
	// SLILatency counts a call as good when it finished within the latency
	// threshold (Duration ≤ threshold, the histogram bucket le=threshold),
	// whatever its outcome, except a rejected call (see RejectedCalls).
	SLILatency
	numSLIs
)

func (s SLI) names() []string { return []string{"", "availability", "latency"} }

// String returns the text form of s: "availability", "latency" or "".
func (s SLI) String() string { return enumString(s, numSLIs) }

// MarshalText implements encoding.TextMarshaler.
func (s SLI) MarshalText() ([]byte, error) { return enumText(s, numSLIs, "SLI") }

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an
// error naming it.
func (s *SLI) UnmarshalText(b []byte) error { return parseEnum(s, numSLIs, "SLI", b) }

// RejectedCalls says how an SLO counts the calls a breaker, a bulkhead or
// a retry budget refused (outcome rejected).
type RejectedCalls uint8

// The ways to count rejected calls.
const (
	// RejectedUnset is the zero RejectedCalls, whose text is empty: an
	// SLOConfig without one counts RejectedBad.
	RejectedUnset RejectedCalls = iota
	// RejectedBad counts a rejected call as bad for every SLI: the caller
	// got no answer, however fast the refusal. It is the default.
	RejectedBad
	// RejectedIgnored leaves rejected calls out of the SLI, neither good
	// nor bad, for those who measure only the calls the dependency saw.
	RejectedIgnored
	numRejectedCalls
)

func (r RejectedCalls) names() []string { return []string{"", "bad", "ignored"} }

// String returns the text form of r: "bad", "ignored" or "".
func (r RejectedCalls) String() string { return enumString(r, numRejectedCalls) }

// MarshalText implements encoding.TextMarshaler.
func (r RejectedCalls) MarshalText() ([]byte, error) {
	return enumText(r, numRejectedCalls, "way to count rejected calls")
}

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an
// error naming it.
func (r *RejectedCalls) UnmarshalText(b []byte) error {
	return parseEnum(r, numRejectedCalls, "way to count rejected calls", b)
}

// enum is one of the integer enumerations of this file: names lists the
// text of each value, by value, for any receiver.
type enum interface {
	~uint8
	names() []string
}

// enumString returns the text of v, or a Go-like T(n) when v is not below
// n.
func enumString[T enum](v, n T) string {
	if v < n {
		return v.names()[v]
	}
	return fmt.Sprintf("%T(%d)", v, uint8(v))
}

// enumText returns the text of v, or an error naming what v is when it is
// not below n.
func enumText[T enum](v, n T, what string) ([]byte, error) {
	if v >= n {
		return nil, fmt.Errorf("alerting: invalid %s %d", what, uint8(v))
	}
	return []byte(v.names()[v]), nil
}

// parseEnum sets *v to the value whose text is b, or returns an error
// naming b and the values allowed.
func parseEnum[T enum](v *T, n T, what string, b []byte) error {
	names := (*v).names()
	for i := range n {
		if names[i] == string(b) {
			*v = i
			return nil
		}
	}
	var want []string
	for _, s := range names[:n] {
		if s != "" {
			want = append(want, s)
		}
	}
	return fmt.Errorf("alerting: unknown %s %s (want %s)", what, strconv.Quote(string(b)), strings.Join(want, ", "))
}
