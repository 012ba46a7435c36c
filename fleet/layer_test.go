package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// breakerOverride returns the override of the pipeline's breaker in force,
// if any.
func (in *instance) breakerOverride(t testing.TB, pipeline string) (resilience.BreakerOverride, bool) {
	t.Helper()
	p, err := in.reg.Get(pipeline)
	if err != nil {
		t.Fatal(err)
	}
	if ov := p.Breaker().Metrics().Override; ov != nil {
		return *ov, true
	}
	return resilience.BreakerOverride{}, false
}

// waitBreakerReported waits until the hub hears from the instance that the
// pipeline's breaker is in state, under a fleet override or not.
func waitBreakerReported(t testing.TB, h *fleet.Hub, pipeline, instance string, state resilience.State, byFleet bool) {
	t.Helper()
	waitHub(t, h, func() bool {
		b, ok := reported(t, h, "shop", pipeline, instance)
		return ok && b.State == state && (b.Override != 0) == byFleet
	})
}

// An instance's own breaker override and a fleet one: the fleet's wins
// while it lasts; when it is released or runs out, the instance's own comes
// back, unless that one ran out meanwhile: then the breaker decides again.
func TestTheFleetBreakerOverrideWinsOverTheInstancesOwnWhileItLastsThenTheOwnComesBack(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{Clock: clock})
	in := newInstance(t, clock)
	// The instance's own: payments forced closed until reverted, inventory
	// forced closed for 30 min.
	local := resilience.WithActor(context.Background(), "local-op")
	if err := in.reg.Override(local, "payments", resilience.StateForcedClosed, "local reason", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := in.reg.Override(local, "inventory", resilience.StateForcedClosed, "local, short", clock.Now().Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	agent := in.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "a", Clock: clock, Interval: 20 * time.Millisecond})
	waitReady(t, agent)
	waitBreakerReported(t, hub, "payments", "a", resilience.StateForcedClosed, false)

	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen, Reason: "fleet reason"})
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "inventory", State: resilience.StateForcedOpen, Reason: "fleet, 1h", Until: clock.Now().Add(time.Hour)})
	waitBreakerReported(t, hub, "payments", "a", resilience.StateForcedOpen, true)
	waitBreakerReported(t, hub, "inventory", "a", resilience.StateForcedOpen, true)
	if ov, _ := in.breakerOverride(t, "payments"); ov.Reason != "fleet reason" || ov.Actor != "tester" {
		t.Errorf("while the fleet's lasts the breaker is %s by %s for %q, want the fleet's", ov.State, ov.Actor, ov.Reason)
	}
	if o, held := agent.Holds("payments", ""); !held || o.Reason != "fleet reason" || o.Instance != "" {
		t.Errorf("Holds(payments) = %+v, %v: want the fleet's override of the service", o, held)
	}

	// Released: the instance's own override is back.
	if err := hub.Release(context.Background(), fleet.Override{Service: "shop", Pipeline: "payments", Reason: "over", Actor: "tester"}); err != nil {
		t.Fatal(err)
	}
	waitBreakerReported(t, hub, "payments", "a", resilience.StateForcedClosed, false)
	if ov, ok := in.breakerOverride(t, "payments"); !ok || ov.Reason != "local reason" || ov.Actor != "local-op" || !ov.Until.IsZero() {
		t.Errorf("after the fleet's release the breaker's override is %+v (%v), want the instance's own back", ov, ok)
	}
	if _, held := agent.Holds("payments", ""); held {
		t.Error("the agent still holds payments' breaker after the release")
	}

	// The fleet's again, for an hour: at its end the instance's own is
	// back; inventory's own ended meanwhile, so its breaker decides again.
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", Instance: "a", State: resilience.StateForcedOpen, Reason: "fleet again, 1h", Until: clock.Now().Add(time.Hour)})
	waitBreakerReported(t, hub, "payments", "a", resilience.StateForcedOpen, true)
	clock.Advance(time.Hour)
	waitBreakerReported(t, hub, "payments", "a", resilience.StateForcedClosed, false)
	waitBreakerReported(t, hub, "inventory", "a", resilience.StateClosed, false)
	if ov, ok := in.breakerOverride(t, "payments"); !ok || ov.Reason != "local reason" {
		t.Errorf("after the fleet's ran out the breaker's override is %+v (%v), want the instance's own back", ov, ok)
	}
	if ov, ok := in.breakerOverride(t, "inventory"); ok {
		t.Errorf("inventory's breaker is under %+v after the fleet's and the instance's own both ended", ov)
	}
}

// A change the instance makes to a target it found not held under Exclude
// is its own: a fleet override that arrives meanwhile is applied once done
// is called, over it, and puts it back when released.
func TestAChangeMadeUnderExcludeIsDisplacedByTheFleetAndComesBack(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{Clock: clock})
	in := newInstance(t, clock)
	agent := in.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "a", Clock: clock, Interval: 20 * time.Millisecond})
	waitReady(t, agent)
	waitBreakerReported(t, hub, "payments", "a", resilience.StateClosed, false)

	_, held, done := agent.Exclude("payments", "")
	if held {
		done()
		t.Fatal("Exclude reports payments' breaker held before any fleet override")
	}
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen, Reason: "fleet reason"})
	local := resilience.WithActor(context.Background(), "local-op")
	err := in.reg.Override(local, "payments", resilience.StateForcedClosed, "local, under exclusion", time.Time{})
	done()
	if err != nil {
		t.Fatal(err)
	}
	waitBreakerReported(t, hub, "payments", "a", resilience.StateForcedOpen, true)
	o, held, done := agent.Exclude("payments", "")
	done()
	if !held || o.Reason != "fleet reason" {
		t.Errorf("Exclude(payments) = %+v, %v once applied: want the fleet's override", o, held)
	}

	if err := hub.Release(context.Background(), fleet.Override{Service: "shop", Pipeline: "payments", Reason: "over", Actor: "tester"}); err != nil {
		t.Fatal(err)
	}
	waitBreakerReported(t, hub, "payments", "a", resilience.StateForcedClosed, false)
	if ov, ok := in.breakerOverride(t, "payments"); !ok || ov.Reason != "local, under exclusion" || ov.Actor != "local-op" {
		t.Errorf("after the release the breaker's override is %+v (%v), want the one made under exclusion back", ov, ok)
	}
}
