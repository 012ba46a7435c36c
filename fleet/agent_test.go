package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// A service's override reaches each of its ten instances, and names only
// its pipeline of its service; its release returns every breaker to the
// state machine. How fast it gets there is a speed target, measured by
// BenchmarkOverridePropagation (BENCHMARKS.md: p99 ≤ 500 ms to 100
// agents), not asserted here: a bound on the wall clock fails on a busy
// machine. The deadline only keeps a lost override from hanging the test.
func TestAServiceOverrideReachesEachOfTenAgentsAndOnlyThem(t *testing.T) {
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{})
	var ins []*instance
	for i := range 10 {
		in := newInstance(t, nil)
		waitReady(t, in.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: fmt.Sprintf("shop-%d", i)}))
		ins = append(ins, in)
	}
	other := newInstance(t, nil)
	waitReady(t, other.join(t, fleet.Config{URL: srv.ClientURL(), Service: "billing", Instance: "billing-0"}))

	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen})
	deadline := time.After(10 * time.Second)
	for _, in := range ins {
		in.waitTransition(t, "payments", resilience.StateForcedOpen, deadline)
		if got := in.state(t, "inventory"); got != resilience.StateClosed {
			t.Errorf("%s: inventory is %s, want closed: the override names payments only", in.agent.Instance(), got)
		}
	}
	if got := other.state(t, "payments"); got != resilience.StateClosed {
		t.Errorf("billing's payments is %s, want closed: the override is for shop", got)
	}

	if err := hub.Release(context.Background(), fleet.Override{Service: "shop", Pipeline: "payments", Actor: "tester", Reason: "fixed"}); err != nil {
		t.Fatal(err)
	}
	deadline = time.After(10 * time.Second)
	for _, in := range ins {
		in.waitTransition(t, "payments", resilience.StateClosed, deadline)
	}
}

func TestAnInstanceOverrideWinsOverTheServiceOneOnThatInstanceOnly(t *testing.T) {
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{})
	a, b := newInstance(t, nil), newInstance(t, nil)
	waitReady(t, a.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "a"}))
	waitReady(t, b.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "b"}))

	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen})
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", Instance: "b", State: resilience.StateForcedClosed})
	deadline := time.After(5 * time.Second)
	a.waitTransition(t, "payments", resilience.StateForcedOpen, deadline)
	b.waitTransition(t, "payments", resilience.StateForcedClosed, deadline)

	// Releasing b's own override leaves it with the service's.
	if err := hub.Release(context.Background(), fleet.Override{Service: "shop", Pipeline: "payments", Instance: "b", Actor: "tester", Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	b.waitTransition(t, "payments", resilience.StateForcedOpen, deadline)
	if got := a.agent.Overrides()["payments"]; got.Instance != "" || got.State != resilience.StateForcedOpen {
		t.Errorf("a applies %+v, want the service's forced_open", got)
	}
}

func TestALateAgentAppliesTheOverridesBeforeItIsReady(t *testing.T) {
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{})
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen})
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "inventory", Instance: "late", State: resilience.StateForcedClosed})
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "inventory", Instance: "someone-else", State: resilience.StateForcedOpen})

	in := newInstance(t, nil)
	waitReady(t, in.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "late"}))
	if got := in.state(t, "payments"); got != resilience.StateForcedOpen {
		t.Errorf("payments is %s when ready, want forced_open", got)
	}
	if got := in.state(t, "inventory"); got != resilience.StateForcedClosed {
		t.Errorf("inventory is %s when ready, want forced_closed (its own override)", got)
	}
}

func TestATimeBoxedOverrideEndsAtItsTime(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{Clock: clock})
	var ins []*instance
	for i := range 3 {
		in := newInstance(t, clock)
		waitReady(t, in.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: fmt.Sprint("i", i), Clock: clock}))
		ins = append(ins, in)
	}
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen, Until: clock.Now().Add(15 * time.Minute)})
	deadline := time.After(5 * time.Second)
	for _, in := range ins {
		in.waitTransition(t, "payments", resilience.StateForcedOpen, deadline)
	}
	clock.Advance(15 * time.Minute)
	for _, in := range ins {
		if got := in.state(t, "payments"); got != resilience.StateClosed {
			t.Errorf("%s: payments is %s after the override's end, want closed", in.agent.Instance(), got)
		}
	}
	// A late agent does not apply an override that has ended.
	late := newInstance(t, clock)
	waitReady(t, late.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "late", Clock: clock}))
	if got := late.state(t, "payments"); got != resilience.StateClosed {
		t.Errorf("late agent: payments is %s, want closed: the override ended", got)
	}
}

func TestAnAgentCutOffKeepsItsOverridesAndResyncsWhenNATSReturns(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, "", dir)
	addr := srv.Addr().String()
	url := srv.ClientURL()
	hub := startHub(t, url, fleet.HubConfig{})
	in := newInstance(t, nil)
	agent := in.join(t, fleet.Config{URL: url, Service: "shop", Instance: "a"})
	waitReady(t, agent)
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen})
	in.waitTransition(t, "payments", resilience.StateForcedOpen, time.After(5*time.Second))

	srv.Shutdown()
	// Cut off, the instance keeps protecting its calls as it was told.
	p, _ := in.reg.Get("payments")
	err := resilience.Run(context.Background(), p, func(context.Context) error { return nil })
	if got := in.state(t, "payments"); got != resilience.StateForcedOpen || err == nil {
		t.Fatalf("cut off: payments is %s and a call returned %v, want forced_open and a rejection", got, err)
	}
	syncs := agent.Stats().Syncs

	// While it is away, another hub connection changes the bucket: the
	// server comes back on the same address and data.
	srv2 := startServer(t, addr, dir)
	hub2 := startHub(t, srv2.ClientURL(), fleet.HubConfig{})
	if err := hub2.Release(context.Background(), fleet.Override{Service: "shop", Pipeline: "payments", Actor: "tester", Reason: "back"}); err != nil {
		t.Fatal(err)
	}
	setOverride(t, hub2, fleet.Override{Service: "shop", Pipeline: "inventory", State: resilience.StateForcedClosed})
	deadline := time.After(10 * time.Second)
	in.waitTransition(t, "payments", resilience.StateClosed, deadline)
	in.waitTransition(t, "inventory", resilience.StateForcedClosed, deadline)
	if got := agent.Stats().Syncs; got <= syncs {
		t.Errorf("syncs = %d after reconnecting, want more than %d", got, syncs)
	}
}

func TestAnAgentWithoutNATSIsNotReadyAndJoinsWhenItComes(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, "", dir)
	addr, url := srv.Addr().String(), srv.ClientURL()
	srv.Shutdown()

	in := newInstance(t, nil)
	agent := in.join(t, fleet.Config{URL: url, Service: "shop", Instance: "a"})
	select {
	case <-agent.Ready():
		t.Fatal("ready without NATS")
	default:
	}
	srv2 := startServer(t, addr, dir)
	hub := startHub(t, srv2.ClientURL(), fleet.HubConfig{})
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen})
	waitReady(t, agent)
	in.waitTransition(t, "payments", resilience.StateForcedOpen, time.After(5*time.Second))
}

func TestJoinRefusesABadConfig(t *testing.T) {
	in := newInstance(t, nil)
	for _, tc := range []struct {
		name string
		cfg  fleet.Config
	}{
		{"no service", fleet.Config{URL: "nats://127.0.0.1:1"}},
		{"a service with a dot", fleet.Config{URL: "nats://127.0.0.1:1", Service: "a.b"}},
		{"an instance with a space", fleet.Config{URL: "nats://127.0.0.1:1", Service: "a", Instance: "x y"}},
		{"no URL", fleet.Config{Service: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a, err := fleet.Join(context.Background(), tc.cfg, in.reg, in.agg); err == nil {
				_ = a.Close()
				t.Fatal("Join accepted it")
			}
		})
	}
}

func TestAnUnreadableBucketEntryIsCountedAndIgnored(t *testing.T) {
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{})
	nc := connect(t, srv.ClientURL())
	// Written behind the hub's back, on the bucket's own subjects.
	for key, value := range map[string]string{
		"shop.payments":   "not json",
		"shop.inventory":  `{"v":9,"state":"forced_open","reason":"x"}`,
		"shop.payments.a": `{"v":1,"state":"closed","reason":"x"}`,
	} {
		if err := nc.Publish("$KV.fusebox_overrides."+key, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	in := newInstance(t, nil)
	agent := in.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "a"})
	waitReady(t, agent)
	if got := agent.Stats().Invalid; got != 3 {
		t.Errorf("invalid = %d, want 3 (%+v)", got, agent.Stats())
	}
	if got := in.state(t, "payments"); got != resilience.StateClosed {
		t.Errorf("payments is %s, want closed", got)
	}
	// A good entry after them still applies.
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen})
	in.waitTransition(t, "payments", resilience.StateForcedOpen, time.After(5*time.Second))
}

func TestAnAgentJoinsAServerThatWantsATokenWithTheTokenInItsURL(t *testing.T) {
	srv, err := fleet.StartServer(fleet.ServerConfig{Listen: "127.0.0.1:-1", StoreDir: t.TempDir(), Token: "a-token-for-the-fleet"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	url := "nats://a-token-for-the-fleet@" + srv.Addr().String()
	startHub(t, url, fleet.HubConfig{})
	in := newInstance(t, nil)
	waitReady(t, in.join(t, fleet.Config{URL: url, Service: "shop", Instance: "a"}))
}

func TestAnAgentAnswersABadEventsRequestWithAnError(t *testing.T) {
	srv := startServer(t, "", "")
	startHub(t, srv.ClientURL(), fleet.HubConfig{})
	in := newInstance(t, nil)
	waitReady(t, in.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: "a"}))
	nc := connect(t, srv.ClientURL())
	for _, body := range [][]byte{[]byte("garbage"), make([]byte, 5000), []byte(`{"pipeline":"nope"}`)} {
		m, err := nc.Request("fusebox.events.shop.a", body, 5*time.Second)
		if err != nil {
			t.Fatalf("%.20q: no answer: %v", body, err)
		}
		var r fleet.EventsReply
		if err := json.Unmarshal(m.Data, &r); err != nil || r.Error == "" || len(r.Events) != 0 {
			t.Errorf("%.20q: reply %s (%v), want an error and no events", body, m.Data, err)
		}
	}
	// The agent still answers a good one.
	if _, err := nc.Request("fusebox.events.shop.a", []byte(`{"pipeline":"payments"}`), 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
