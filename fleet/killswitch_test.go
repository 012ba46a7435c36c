package fleet_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// newKillInstance is an instance whose pipeline "payments" has a retry
// and a breaker, and "search" a timeout only.
func newKillInstance(t testing.TB, clock resilience.Clock) *instance {
	t.Helper()
	in := &instance{reg: &resilience.Registry{}}
	var err error
	if in.agg, err = telemetry.NewAggregator(telemetry.AggregatorConfig{Clock: clock}); err != nil {
		t.Fatal(err)
	}
	retry, err := resilience.NewRetry(resilience.RetryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	timeout, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for name, pols := range map[string][]resilience.Policy{"payments": {b, retry}, "search": {timeout}} {
		p, err := resilience.New(name, resilience.Config{Policies: pols, Observers: []resilience.Observer{in.agg}, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		if err := in.reg.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

// off returns the kill switch of the pipeline's policy in force, if any.
func (in *instance) off(t testing.TB, pipeline, policy string) (resilience.KillSwitch, bool) {
	t.Helper()
	p, err := in.reg.Get(pipeline)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range p.KillSwitches() {
		if k.Policy.String() == policy {
			return k, true
		}
	}
	return resilience.KillSwitch{}, false
}

// reported returns what the hub last heard from an instance about a
// pipeline's policies.
func reported(t testing.TB, h *fleet.Hub, service, pipeline, instance string) (fleet.InstanceBreaker, bool) {
	t.Helper()
	p, err := h.Pipeline(service, pipeline)
	if err != nil {
		return fleet.InstanceBreaker{}, false
	}
	for _, b := range p.Breakers {
		if b.Instance == instance {
			return b, true
		}
	}
	return fleet.InstanceBreaker{}, false
}

// waitReported waits until the hub hears from the instance that the
// pipeline's policies off (and of those the fleet's) are as wanted.
func waitReported(t testing.TB, h *fleet.Hub, service, pipeline, instance string, off, fleetOff fleet.PolicySet) {
	t.Helper()
	waitHub(t, h, func() bool {
		b, ok := reported(t, h, service, pipeline, instance)
		return ok && b.Off == off && b.FleetOff == fleetOff
	})
}

func killSwitch(service, pipeline, policy, instance, reason string) fleet.Override {
	return fleet.Override{Service: service, Pipeline: pipeline, Policy: policy, Instance: instance, Reason: reason, Actor: "tester"}
}

func TestAFleetKillSwitchReachesEveryInstanceAndTheInstanceOneWinsThere(t *testing.T) {
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{})
	a, b := newKillInstance(t, nil), newKillInstance(t, nil)
	waitReady(t, a.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "a", Interval: 20 * time.Millisecond}))
	waitReady(t, b.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "b", Interval: 20 * time.Millisecond}))
	retry := fleet.PolicyBit("retry")

	setOverride(t, hub, killSwitch("shop", "payments", "retry", "", "retry storm"))
	waitReported(t, hub, "shop", "payments", "a", retry, retry)
	waitReported(t, hub, "shop", "payments", "b", retry, retry)
	for _, in := range []*instance{a, b} {
		if k, ok := in.off(t, "payments", "retry"); !ok || k.Reason != "retry storm" || k.Actor != "tester" {
			t.Errorf("%s: retry switch %+v (off %v), want off by tester for retry storm", in.agent.Instance(), k, ok)
		}
		if _, ok := in.off(t, "search", "timeout"); ok {
			t.Errorf("%s: search's timeout is off: the switch names payments' retry", in.agent.Instance())
		}
		if got := in.state(t, "payments"); got != resilience.StateClosed {
			t.Errorf("%s: payments' breaker is %s: a kill switch leaves it alone", in.agent.Instance(), got)
		}
	}
	rep, _ := reported(t, hub, "shop", "payments", "a")
	if rep.Policies != retry || rep.Override != 0 {
		t.Errorf("a reports policies %v and breaker override %d, want [retry] and none", rep.Policies.Names(), rep.Override)
	}

	// b's own switch wins on b; releasing it gives b the service's again.
	setOverride(t, hub, killSwitch("shop", "payments", "retry", "b", "b only"))
	waitHub(t, hub, func() bool { k, ok := b.off(t, "payments", "retry"); return ok && k.Reason == "b only" })
	if k, _ := a.off(t, "payments", "retry"); k.Reason != "retry storm" {
		t.Errorf("a's retry is off for %q, want the service's reason", k.Reason)
	}
	if ks, ok := b.agent.Holds("payments", "retry"); !ok || ks.Instance != "b" {
		t.Errorf("b applies %+v, want its own switch", ks)
	}
	if err := hub.Release(context.Background(), killSwitch("shop", "payments", "retry", "b", "done")); err != nil {
		t.Fatal(err)
	}
	waitHub(t, hub, func() bool { k, ok := b.off(t, "payments", "retry"); return ok && k.Reason == "retry storm" })

	// Releasing the service's switches retry back on everywhere.
	if err := hub.Release(context.Background(), killSwitch("shop", "payments", "retry", "", "fixed")); err != nil {
		t.Fatal(err)
	}
	waitReported(t, hub, "shop", "payments", "a", 0, 0)
	waitReported(t, hub, "shop", "payments", "b", 0, 0)
	for _, in := range []*instance{a, b} {
		if _, ok := in.off(t, "payments", "retry"); ok {
			t.Errorf("%s: retry still off after the release", in.agent.Instance())
		}
	}
	audit, err := hub.Audit(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action+" "+e.Policy+" "+e.State+" "+e.Instance)
	}
	want := []string{"killswitch.on retry on ", "killswitch.on retry on b", "killswitch.off retry off b", "killswitch.off retry off "}
	if !slices.Equal(actions, want) {
		t.Errorf("audit (newest first) %q, want %q", actions, want)
	}
}

func TestTheFleetSwitchWinsOverTheInstancesOwnWhileItLastsThenTheOwnComesBack(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{Clock: clock})
	in := newKillInstance(t, clock)
	pay, err := in.reg.Get("payments")
	if err != nil {
		t.Fatal(err)
	}
	search, err := in.reg.Get("search")
	if err != nil {
		t.Fatal(err)
	}
	// The instance's own: retry off until switched on, timeout off for 30 min.
	local := resilience.WithActor(context.Background(), "local-op")
	if err := pay.Disable(local, resilience.PolicyRetry, "local reason", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := search.Disable(local, resilience.PolicyTimeout, "local, short", clock.Now().Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitReady(t, in.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "a", Clock: clock, Interval: 20 * time.Millisecond}))
	retry, timeout := fleet.PolicyBit("retry"), fleet.PolicyBit("timeout")
	waitReported(t, hub, "shop", "payments", "a", retry, 0)
	waitReported(t, hub, "shop", "search", "a", timeout, 0)

	setOverride(t, hub, killSwitch("shop", "payments", "retry", "", "fleet reason"))
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "search", Policy: "timeout", Reason: "fleet, 1h", Actor: "tester", Until: clock.Now().Add(time.Hour)})
	waitReported(t, hub, "shop", "payments", "a", retry, retry)
	waitReported(t, hub, "shop", "search", "a", timeout, timeout)
	if k, _ := in.off(t, "payments", "retry"); k.Reason != "fleet reason" || k.Actor != "tester" {
		t.Errorf("while the fleet's lasts retry is off by %s for %q, want the fleet's", k.Actor, k.Reason)
	}

	// Released: the instance's own retry switch is back.
	if err := hub.Release(context.Background(), killSwitch("shop", "payments", "retry", "", "over")); err != nil {
		t.Fatal(err)
	}
	waitReported(t, hub, "shop", "payments", "a", retry, 0)
	if k, ok := in.off(t, "payments", "retry"); !ok || k.Reason != "local reason" || k.Actor != "local-op" || !k.Until.IsZero() {
		t.Errorf("after the fleet's release retry is %+v (off %v), want the instance's own back", k, ok)
	}

	// The fleet's timeout switch ends at its time; the instance's own
	// ended meanwhile, so the timeout is back on.
	clock.Advance(time.Hour)
	if _, ok := in.off(t, "search", "timeout"); ok {
		t.Error("the timeout is off after the fleet's switch and the instance's own both ended")
	}
	waitReported(t, hub, "shop", "search", "a", 0, 0)
}

func TestFleetKillSwitchesSurviveAnAgentRestartAndAHubRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, "", dir)
	addr := srv.Addr().String()
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{})
	setOverride(t, hub, killSwitch("shop", "payments", "retry", "", "storm"))
	setOverride(t, hub, killSwitch("shop", "search", "timeout", "late", "slow downstream"))
	setOverride(t, hub, killSwitch("shop", "search", "timeout", "other", "not for late"))

	// A restarted instance (a new process: a new registry) applies them
	// before it is ready.
	first := newKillInstance(t, nil)
	waitReady(t, first.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "late"}))
	_ = first.agent.Close()
	again := newKillInstance(t, nil)
	waitReady(t, again.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "late"}))
	if _, ok := again.off(t, "payments", "retry"); !ok {
		t.Error("after an agent restart payments' retry is on, want off by the fleet")
	}
	if k, ok := again.off(t, "search", "timeout"); !ok || k.Reason != "slow downstream" {
		t.Errorf("after an agent restart search's timeout switch is %+v (off %v), want the instance's", k, ok)
	}

	// The hub and its NATS restart: the bucket keeps the switches.
	_ = hub.Close()
	srv.Shutdown()
	srv2 := startServer(t, addr, dir)
	hub2 := startHub(t, srv2.ClientURL(), fleet.HubConfig{})
	list, err := hub2.Overrides(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list {
		keys = append(keys, o.Key())
	}
	want := []string{"shop.payments.policy=retry", "shop.search.policy=timeout.late", "shop.search.policy=timeout.other"}
	if !slices.Equal(keys, want) {
		t.Errorf("after a hub restart the bucket holds %q, want %q", keys, want)
	}
	late := newKillInstance(t, nil)
	waitReady(t, late.join(t, fleet.Config{URL: srv2.ClientURL(), Service: "shop", Instance: "late"}))
	if _, ok := late.off(t, "payments", "retry"); !ok {
		t.Error("an agent joining after the hub restart has payments' retry on, want off")
	}
}

func TestTheHubRefusesBadKillSwitches(t *testing.T) {
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{})
	for _, o := range []fleet.Override{
		killSwitch("shop", "payments", "breaker", "", "x"),
		killSwitch("shop", "payments", "Retry", "", "x"),
		killSwitch("shop", "payments", "retry", "", " "),
		killSwitch("shop", "payments", "retry", "a.b", "x"),
		{Service: "shop", Pipeline: "payments", Policy: "retry", Reason: "x", Until: time.Now().Add(-time.Minute)},
	} {
		if _, err := hub.SetOverride(context.Background(), o); !errors.Is(err, fleet.ErrInvalidOverride) && !errors.Is(err, fleet.ErrInvalidName) {
			t.Errorf("SetOverride(%+v) = %v, want an invalid-override error", o, err)
		}
	}
	if err := hub.Release(context.Background(), killSwitch("shop", "payments", "breaker", "", "x")); !errors.Is(err, fleet.ErrInvalidOverride) {
		t.Errorf("Release of policy breaker = %v, want an invalid-override error", err)
	}
	if got, _ := hub.Overrides(context.Background()); len(got) != 0 {
		t.Errorf("overrides %+v after refusals, want none", got)
	}
}

func TestEveryKindOfPolicyHasItsOwnBit(t *testing.T) {
	var all fleet.PolicySet
	var names []string
	for _, kind := range resilience.SwitchablePolicies() {
		name := kind.String()
		names = append(names, name)
		b := fleet.PolicyBit(name)
		if b == 0 || all&b != 0 {
			t.Errorf("policy %q has bit %b (all so far %b): want one of its own", name, b, all)
		}
		all |= b
	}
	if got := all.Names(); !slices.Equal(got, names) {
		t.Errorf("Names() = %q, want %q", got, names)
	}
	if fleet.PolicyBit("breaker") != 0 {
		t.Error("a breaker has a kill switch bit: breakers are forced instead")
	}
}

func TestAVersionOneSnapshotIsStillRead(t *testing.T) {
	s := fleet.Snapshot{Service: "shop", Instance: "a", Seq: 3, Time: time.UnixMilli(1_780_000_000_000), Pipelines: []fleet.PipelineDelta{{Name: "p", Override: 4}}}
	v3 := encode(t, s)
	// Version 1 is version 2 without the three policy sets (zero: a byte
	// each) before the pipeline's flags byte, its last; an idle pipeline
	// reads the same in versions 2 and 3.
	v1 := slices.Concat(v3[:len(v3)-4], v3[len(v3)-1:])
	v1[2] = 1
	got, err := fleet.DecodeSnapshot(v1, 0)
	if err != nil {
		t.Fatalf("decoding version 1: %v", err)
	}
	got.Time = s.Time
	if again := encode(t, *got); !bytes.Equal(again, v3) {
		t.Errorf("version 1 read as %+v, want %+v", got, s)
	}
}

func TestWhenTheFleetsSwitchRunsOutTheInstancesOwnComesBack(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{Clock: clock})
	in := newKillInstance(t, clock)
	pay, err := in.reg.Get("payments")
	if err != nil {
		t.Fatal(err)
	}
	if err := pay.Disable(resilience.WithActor(context.Background(), "local-op"), resilience.PolicyRetry, "local reason", time.Time{}); err != nil {
		t.Fatal(err)
	}
	waitReady(t, in.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "a", Clock: clock, Interval: 20 * time.Millisecond}))
	retry := fleet.PolicyBit("retry")
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", Policy: "retry", Reason: "fleet, 1h", Actor: "tester", Until: clock.Now().Add(time.Hour)})
	waitReported(t, hub, "shop", "payments", "a", retry, retry)

	clock.Advance(time.Hour)
	waitReported(t, hub, "shop", "payments", "a", retry, 0)
	if k, ok := in.off(t, "payments", "retry"); !ok || k.Reason != "local reason" || k.Actor != "local-op" {
		t.Errorf("after the fleet's switch ran out retry is %+v (off %v), want the instance's own back", k, ok)
	}
}

func TestAVersionTwoSnapshotReadsWithoutConcurrencyLimitRejections(t *testing.T) {
	p := fleet.PipelineDelta{Name: "p"}
	p.Counts.Calls = [resilience.NumOutcomes]uint64{10, 11, 12, 13, 14}
	p.Counts.Rejections = [telemetry.NumRejections]uint64{41, 42, 43, 44, 0}
	p.Counts.Timeouts = [telemetry.NumScopes]uint64{50, 51}
	s := fleet.Snapshot{Service: "shop", Instance: "a", Seq: 3, Time: time.UnixMilli(1_780_000_000_000), Pipelines: []fleet.PipelineDelta{p}}
	v3 := encode(t, s)
	// Version 2 has four rejection reasons: the fifth, 0 here, is left out.
	i := bytes.Index(v3, []byte{41, 42, 43, 44, 0, 50, 51})
	if i < 0 {
		t.Fatalf("no rejections in %v", v3)
	}
	v2 := slices.Concat(v3[:i+4], v3[i+5:])
	v2[2] = 2
	got, err := fleet.DecodeSnapshot(v2, 0)
	if err != nil {
		t.Fatalf("decoding version 2: %v", err)
	}
	if c := got.Pipelines[0].Counts; c != p.Counts {
		t.Errorf("version 2 counts read as %+v, want %+v", c, p.Counts)
	}
	if _, err := fleet.DecodeSnapshot(v3[:i+4], 0); err == nil {
		t.Error("a version 3 snapshot cut after four rejection reasons was read")
	}
}
