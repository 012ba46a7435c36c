package main

import (
	"context"
	"flag"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
)

// startNATS starts an embedded NATS server and a hub on it.
func startNATS(t *testing.T) (*fleet.Server, *fleet.Hub) {
	t.Helper()
	srv, err := fleet.StartServer(fleet.ServerConfig{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	hub, err := fleet.NewHub(t.Context(), fleet.HubConfig{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hub.Close() })
	return srv, hub
}

// startAgentApp starts the demo app joined to the fleet at url.
func startAgentApp(t *testing.T, url, service, instance string) *running {
	t.Helper()
	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: testToken, DemoRate: 1,
		fleetOptions: fleetOptions{Join: url, Service: service, Instance: instance},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &running{app: a, url: "http://" + a.Addr()}
}

func readyz(t *testing.T, r *running) int {
	t.Helper()
	resp, err := http.Get(r.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAJoinedAppAppliesTheFleetsOverridesBeforeItIsReady(t *testing.T) {
	srv, hub := startNATS(t)
	if _, err := hub.SetOverride(t.Context(), fleet.Override{
		Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen, Reason: "outage", Actor: "ann",
	}); err != nil {
		t.Fatal(err)
	}
	r := startAgentApp(t, srv.ClientURL(), "shop", "shop-1")
	select {
	case <-r.agent.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the agent is not ready after 10 s")
	}
	if code := readyz(t, r); code != 200 {
		t.Errorf("/readyz = %d once the overrides are applied, want 200", code)
	}
	if got := breakerState(t, r, "payments"); got != "forced_open" {
		t.Errorf("payments is %s, want forced_open from the fleet", got)
	}
	if got := breakerState(t, r, "inventory"); got == "forced_open" {
		t.Errorf("inventory is %s, want it untouched", got)
	}
}

func TestAJoinedAppIsNotReadyWithoutNATS(t *testing.T) {
	srv, _ := startNATS(t)
	url := srv.ClientURL()
	srv.Shutdown()
	r := startAgentApp(t, url, "shop", "")
	if code := readyz(t, r); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d without NATS, want 503", code)
	}
	if got := r.agent.Instance(); got != fleet.DefaultInstance() {
		t.Errorf("instance = %q, want the default %q", got, fleet.DefaultInstance())
	}
}

func TestJoinFlagsMustComeTogether(t *testing.T) {
	for _, args := range [][]string{
		{"--join", "nats://127.0.0.1:1"},
		{"--service", "shop"},
		{"--join", "nats://127.0.0.1:1", "--service", "sh.op"},
	} {
		opts := options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: testToken}
		fs := newFlagSetForTest(&opts)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if a, err := newApp(context.Background(), opts); err == nil {
			_ = a.Close()
			t.Errorf("%v: newApp accepted it", args)
		}
	}
}

func newFlagSetForTest(opts *options) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	addFleetFlags(fs, &opts.fleetOptions)
	return fs
}
