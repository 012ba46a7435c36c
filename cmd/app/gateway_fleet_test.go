package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
)

// startJoinedGateway starts a gateway app joined to the fleet at url as an
// instance of service, routing /inventory/ through pipeline inventory to
// upstream, and returns it with the gateway's URL.
func startJoinedGateway(t *testing.T, url, service, instance, upstream string) (*running, string) {
	t.Helper()
	cfg := writeConfig(t, fmt.Sprintf(`pipelines:
  - name: inventory
    upstream: %s
    breaker: {window_size: 10, minimum_calls: 10}
proxy:
  listen: 127.0.0.1:0
  routes:
    - {name: inventory-api, path_prefix: /inventory/, strip_prefix: true, pipeline: inventory}
`, upstream))
	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: testToken, ConfigPath: cfg,
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
	return &running{app: a, url: "http://" + a.Addr()}, "http://" + a.gateway.Addr()
}

func TestGatewayReplicasJoinAFleetAndShareItsOverrides(t *testing.T) {
	srv, hub := startNATS(t)
	var hits atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	defer upstream.Close()
	if _, err := hub.SetOverride(t.Context(), fleet.Override{
		Service: "edge", Pipeline: "inventory", State: resilience.StateForcedOpen, Reason: "upstream migration", Actor: "ann",
	}); err != nil {
		t.Fatal(err)
	}
	changes, unsubscribe := hub.Subscribe()
	defer unsubscribe()

	var gateways []string
	for _, id := range []string{"edge-1", "edge-2"} {
		r, gw := startJoinedGateway(t, srv.ClientURL(), "edge", id, upstream.URL)
		select {
		case <-r.agent.Ready():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the agent is not ready after 10 s", id)
		}
		gateways = append(gateways, gw)
	}

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for _, gw := range gateways {
		resp, err := client.Get(gw + "/inventory/items/1")
		if err != nil {
			t.Fatal(err)
		}
		var pr struct{ Reason, Pipeline string }
		err = json.NewDecoder(resp.Body).Decode(&pr)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 503 || pr.Reason != "breaker_forced_open" || pr.Pipeline != "inventory" {
			t.Errorf("%s: %d %+v (%v), want the fleet's forced-open override as a 503 problem", gw, resp.StatusCode, pr, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the upstream saw %d requests, want none while the fleet holds the breaker open", n)
	}

	// Both replicas report their gateway pipeline to the hub.
	deadline := time.After(15 * time.Second)
	for {
		if sv, err := hub.Service("edge"); err == nil && sv.Up == 2 && len(sv.Pipelines) == 1 && sv.Pipelines[0].Name == "inventory" && sv.Pipelines[0].Open == 2 {
			break
		}
		select {
		case <-changes:
		case <-deadline:
			sv, err := hub.Service("edge")
			t.Fatalf("the hub's view of edge after 15 s: %+v (%v); want 2 instances up reporting inventory forced open", sv, err)
		}
	}
}
