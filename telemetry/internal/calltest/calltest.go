// Package calltest emits the events of pipeline calls for the tests of
// telemetry and its exporters. It imports only resilience.
package calltest

import (
	"context"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// Epoch is the time the tests' clocks start at.
var Epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Call emits the events of one call with the given attempt outcomes, each
// attempt taking d and followed by a retry of 100 ms but the last; the
// call ends with the last outcome.
func Call(o resilience.Observer, id uint64, at time.Time, d time.Duration, outcomes ...resilience.Outcome) {
	ctx := context.Background()
	for i, out := range outcomes {
		o.Observe(ctx, resilience.Event{Kind: resilience.KindAttemptStart, Call: id, Attempt: i + 1, Time: at})
		o.Observe(ctx, resilience.Event{Kind: resilience.KindAttemptEnd, Call: id, Attempt: i + 1, Outcome: out, Duration: d, Time: at})
		if i < len(outcomes)-1 {
			o.Observe(ctx, resilience.Event{Kind: resilience.KindRetryScheduled, Call: id, Attempt: i + 1, Delay: 100 * time.Millisecond, Time: at})
		}
	}
	o.Observe(ctx, resilience.Event{Kind: resilience.KindCallEnd, Call: id, Attempt: len(outcomes),
		Outcome: outcomes[len(outcomes)-1], Duration: d * time.Duration(len(outcomes)), Time: at})
}

// Bind binds the named pipeline's observer of b, failing t on an error.
func Bind(t testing.TB, b resilience.Binder, name string) resilience.Observer {
	t.Helper()
	o, err := b.Bind(name)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
