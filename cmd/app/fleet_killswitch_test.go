package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
)

// startJoinedApp starts the demo app joined to the fleet at url, its store
// in dir, and returns it with a stop function (also called when the test
// ends).
func startJoinedApp(t *testing.T, url, service, instance, dir string) *running {
	t.Helper()
	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: dir, AdminToken: testToken, DemoRate: 1,
		fleetOptions: fleetOptions{Join: url, Service: service, Instance: instance},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case <-a.agent.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("the agent is not ready after 15 s")
	}
	return &running{app: a, url: "http://" + a.Addr(), stop: stop}
}

// policiesReported waits until the hub hears from the instance that its
// pipeline's policies off, and those of the fleet, are the named ones.
func policiesReported(t *testing.T, hub *running, service, pipeline, instance string, off, fleetOff []string) {
	t.Helper()
	set := func(names []string) (s fleet.PolicySet) {
		for _, n := range names {
			s |= fleet.PolicyBit(n)
		}
		return s
	}
	waitFleet(t, hub, instance+" reporting "+strings.Join(off, ",")+" off", func(h *fleet.Hub) bool {
		for _, b := range pipelineOf(h, service, pipeline).Breakers {
			if b.Instance == instance {
				return b.Off == set(off) && b.FleetOff == set(fleetOff)
			}
		}
		return false
	})
}

func TestAFleetKillSwitchWinsOverTheInstancesOwnAndBothSurviveItsRestart(t *testing.T) {
	hub := startHubApp(t)
	dir := t.TempDir()
	r := startJoinedApp(t, hub.natsURL(), "shop", "shop-1", dir)

	// The instance's own switch first.
	if code := r.do(t, "PUT", "/api/v1/pipelines/payments/policies/timeout", map[string]any{"enabled": false, "reason": "local test"}, nil); code != 200 {
		t.Fatalf("switching the timeout off on the instance: %d", code)
	}
	policiesReported(t, hub, "shop", "payments", "shop-1", []string{"timeout"}, nil)

	// The fleet's: retry for the service, timeout for shop-1.
	for _, body := range []map[string]any{
		{"enabled": false, "reason": "retry storm"},
		{"enabled": false, "reason": "fleet timeout test", "instance": "shop-1", "duration": "1h"},
	} {
		policy := "retry"
		if body["instance"] != nil {
			policy = "timeout"
		}
		var out map[string]any
		if code := hub.do(t, "PUT", "/api/v1/fleet/shop/pipelines/payments/policies/"+policy, body, &out); code != 200 {
			t.Fatalf("PUT %s on the hub: %d %v", policy, code, out)
		}
	}
	policiesReported(t, hub, "shop", "payments", "shop-1", []string{"retry", "timeout"}, []string{"retry", "timeout"})
	if got := killSwitched(t, r, "payments"); len(got) != 2 || !strings.HasSuffix(got[0], ": retry storm") || !strings.HasSuffix(got[1], ": fleet timeout test") {
		t.Errorf("the instance's switches %q, want the fleet's retry and timeout", got)
	}

	// The instance refuses to change what the fleet holds.
	var refusal map[string]string
	if code := r.do(t, "PUT", "/api/v1/pipelines/payments/policies/retry", map[string]any{"enabled": true, "reason": "mine"}, &refusal); code != 409 ||
		!strings.Contains(refusal["error"], "retry of \"payments\" is switched off by the fleet (whole service") {
		t.Errorf("switching retry on locally: %d %v, want 409 naming the fleet's switch", code, refusal)
	}
	if code, page := get(t, r.url+"/pipelines/payments"); code != 200 || !strings.Contains(page, "by the fleet (whole service), ") || !strings.Contains(page, "by the fleet (instance shop-1), ") {
		t.Errorf("the instance's page of payments (%d) does not say the fleet holds retry and timeout off", code)
	}

	code, metrics := get(t, hub.url+"/metrics")
	for _, want := range []string{
		`fusebox_fleet_policies_off{by="fleet",pipeline="payments",policy="retry",service="shop"} 1`,
		`fusebox_fleet_policies_off{by="instance",pipeline="payments",policy="retry",service="shop"} 0`,
		`fusebox_fleet_policies_off{by="fleet",pipeline="payments",policy="timeout",service="shop"} 1`,
	} {
		if code != 200 || !strings.Contains(metrics, want) {
			t.Errorf("hub /metrics (%d) has no %s", code, want)
		}
	}
	if code, page := get(t, hub.url+"/fleet/shop"); code != 200 || !strings.Contains(page, "off on 1 of 1 (by the fleet)") {
		t.Errorf("GET /fleet/shop: %d, want retry off on 1 of 1 (by the fleet)", code)
	}

	// A restart of the instance: its own switch comes from its store, the
	// fleet's from the bucket, on top.
	r.stop()
	r = startJoinedApp(t, hub.natsURL(), "shop", "shop-1", dir)
	if got := killSwitched(t, r, "payments"); len(got) != 2 || !strings.HasSuffix(got[0], ": retry storm") || !strings.HasSuffix(got[1], ": fleet timeout test") {
		t.Errorf("after a restart the switches are %q, want the fleet's retry and timeout", got)
	}

	// Released, shop-1's timeout is its own again; retry stays the fleet's.
	if code := hub.do(t, "PUT", "/api/v1/fleet/shop/pipelines/payments/policies/timeout", map[string]any{"enabled": true, "reason": "done", "instance": "shop-1"}, nil); code != 200 {
		t.Fatalf("switching the fleet's timeout on: %d", code)
	}
	policiesReported(t, hub, "shop", "payments", "shop-1", []string{"retry", "timeout"}, []string{"retry"})
	if got := killSwitched(t, r, "payments"); len(got) != 2 || !strings.HasSuffix(got[1], ": local test") {
		t.Errorf("after the fleet's timeout ends the switches are %q, want the instance's own timeout back", got)
	}
	var audit struct {
		Entries []fleet.AuditEntry `json:"entries"`
	}
	if code := hub.do(t, "GET", "/api/v1/fleet/audit", nil, &audit); code != 200 || len(audit.Entries) != 3 ||
		audit.Entries[0].Action != "killswitch.on" || audit.Entries[0].Policy != "timeout" || audit.Entries[1].Until.IsZero() {
		t.Errorf("fleet audit: %d %+v", code, audit.Entries)
	}
}
