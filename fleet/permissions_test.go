package fleet_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
)

// TestTheExampleAccountConfigKeepsAnAgentToItsOwnService runs the shipped
// deploy/nats/fleet.conf: the hub user may do everything, the checkout
// user joins as an agent of checkout, but can neither write the overrides
// bucket nor publish another service's snapshots.
func TestTheExampleAccountConfigKeepsAnAgentToItsOwnService(t *testing.T) {
	t.Setenv("FUSEBOX_NATS_HUB_PASSWORD", "hub-password-for-the-test")
	t.Setenv("FUSEBOX_NATS_CHECKOUT_PASSWORD", "checkout-password-for-the-test")
	srv, err := fleet.StartServer(fleet.ServerConfig{Listen: "0.0.0.0:-1", StoreDir: t.TempDir(), ConfigFile: "../deploy/nats/fleet.conf"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	url := srv.ClientURL()
	if _, err := nats.Connect(url); err == nil {
		t.Fatal("an anonymous client connected")
	}
	hubConn := connect(t, url, nats.UserInfo("hub", "hub-password-for-the-test"))
	hub, err := fleet.NewHub(t.Context(), fleet.HubConfig{Conn: hubConn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hub.Close() })
	setOverride(t, hub, fleet.Override{Service: "checkout", Pipeline: "payments", State: resilience.StateForcedOpen})

	var denied = make(chan error, 16)
	agentConn := connect(t, url, nats.UserInfo("checkout", "checkout-password-for-the-test"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case denied <- err:
			default:
			}
		}))
	in := newInstance(t, nil)
	agent := in.join(t, fleet.Config{Conn: agentConn, Service: "checkout", Instance: "c-1", Interval: 50 * time.Millisecond})
	waitReady(t, agent)
	if got := in.state(t, "payments"); got != resilience.StateForcedOpen {
		t.Fatalf("the agent applies %s, want forced_open from the bucket", got)
	}
	waitHub(t, hub, func() bool { _, err := hub.Service("checkout"); return err == nil })
	if _, err := hub.RecentEvents(t.Context(), "checkout", "c-1", "payments", 0); err != nil {
		t.Errorf("the hub cannot ask the agent for its events: %v", err)
	}

	// The agent cannot write the bucket…
	js, err := jetstream.New(agentConn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if kv, err := js.KeyValue(ctx, "fusebox_overrides"); err != nil {
		t.Fatalf("the agent cannot open the bucket: %v", err)
	} else if _, err := kv.Put(ctx, "checkout.payments", []byte(`{"v":1}`)); err == nil {
		t.Error("the agent wrote the overrides bucket")
	}
	// …nor publish another service's snapshots.
	if err := agentConn.Publish("fusebox.snap.billing.c-1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := agentConn.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for refused := false; !refused; {
		select {
		case err := <-denied: // the bucket write's refusal may come first
			refused = errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), "fusebox.snap.billing")
		case <-deadline:
			t.Fatal("publishing billing's snapshot was not refused")
		}
	}
	if _, err := hub.Service("billing"); err == nil {
		t.Error("the hub took in a snapshot of billing from checkout's user")
	}
}
