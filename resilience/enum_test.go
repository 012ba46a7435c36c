package resilience_test

import (
	"encoding"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/fusebox-dev/fusebox/resilience"
)

// enumCase is one integer enum of the package: its values in order and the
// names they must print, marshal and (when it has UnmarshalText) parse as.
type enumCase struct {
	name   string
	values []any
	names  []string
	// invalid is a value past the last, which must not marshal.
	invalid encoding.TextMarshaler
	// parse returns a fresh pointer to unmarshal into, nil if the type is
	// never read back.
	parse func() encoding.TextUnmarshaler
}

func enumValues[T any](vs ...T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

func TestEveryEnumPrintsAndMarshalsItsName(t *testing.T) {
	for _, tc := range []enumCase{
		{
			name: "GiveUpReason",
			values: enumValues(resilience.GiveUpMaxAttempts, resilience.GiveUpMaxElapsed, resilience.GiveUpRetryBudget,
				resilience.GiveUpRetryAfter, resilience.GiveUpDeadline),
			// The texts RetryError's message has always given.
			names:   []string{"max attempts", "max elapsed", "retry budget", "retry after", "deadline"},
			invalid: resilience.GiveUpDeadline + 1,
		},
		{
			name:    "WindowType",
			values:  enumValues(resilience.WindowCount, resilience.WindowTime),
			names:   []string{"count", "time"},
			invalid: resilience.WindowTime + 1,
			parse:   func() encoding.TextUnmarshaler { return new(resilience.WindowType) },
		},
		{
			name: "State",
			values: enumValues(resilience.StateClosed, resilience.StateOpen, resilience.StateHalfOpen,
				resilience.StateForcedOpen, resilience.StateForcedClosed),
			names:   []string{"closed", "open", "half_open", "forced_open", "forced_closed"},
			invalid: resilience.NumStates,
			parse:   func() encoding.TextUnmarshaler { return new(resilience.State) },
		},
		{
			name:    "Jitter",
			values:  enumValues(resilience.JitterFull, resilience.JitterEqual, resilience.JitterDecorrelated, resilience.JitterNone),
			names:   []string{"full", "equal", "decorrelated", "none"},
			invalid: resilience.JitterNone + 1,
			parse:   func() encoding.TextUnmarshaler { return new(resilience.Jitter) },
		},
		{
			name: "Outcome",
			values: enumValues(resilience.OutcomeSuccess, resilience.OutcomeFailure, resilience.OutcomeTimeout,
				resilience.OutcomeRejected, resilience.OutcomeCanceled),
			names:   []string{"success", "failure", "timeout", "rejected", "canceled"},
			invalid: resilience.NumOutcomes,
		},
		{
			name:    "Scope",
			values:  enumValues(resilience.ScopeCall, resilience.ScopeAttempt),
			names:   []string{"call", "attempt"},
			invalid: resilience.ScopeAttempt + 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, v := range tc.values {
				want := tc.names[i]
				if got := fmt.Sprint(v); got != want {
					t.Errorf("value %d prints %q, want %q", i, got, want)
				}
				b, err := json.Marshal(map[string]any{"v": v})
				if err != nil || string(b) != fmt.Sprintf(`{"v":%q}`, want) {
					t.Errorf("value %d marshals to %s, %v; want its name %q", i, b, err, want)
				}
				if tc.parse == nil {
					continue
				}
				u := tc.parse()
				if err := u.UnmarshalText([]byte(want)); err != nil {
					t.Errorf("UnmarshalText(%q): %v", want, err)
				} else if got := fmt.Sprint(u); got != want {
					t.Errorf("UnmarshalText(%q) reads back as %q", want, got)
				}
			}
			if b, err := tc.invalid.MarshalText(); err == nil {
				t.Errorf("an invalid value marshals to %q, want an error", b)
			}
			if tc.parse != nil {
				if err := tc.parse().UnmarshalText([]byte("sideways")); err == nil {
					t.Error(`UnmarshalText("sideways") succeeded, want an error naming it`)
				}
			}
		})
	}
}

func TestARetryErrorReadsAsBefore(t *testing.T) {
	err := &resilience.RetryError{Attempts: 3, Err: errBoom, Reason: resilience.GiveUpMaxElapsed}
	if got, want := err.Error(), "resilience: gave up after 3 attempt(s) (max elapsed): "+errBoom.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
