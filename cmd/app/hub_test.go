package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
)

// startHubApp starts `app hub` with an embedded NATS server on a free
// loopback port, and stops it when the test ends.
func startHubApp(t *testing.T) *running {
	t.Helper()
	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: testToken,
		hub: &hubOptions{NATSListen: "127.0.0.1:-1"},
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

// waitFleet waits for the hub to take in snapshots until cond holds.
func waitFleet(t *testing.T, r *running, what string, cond func(h *fleet.Hub) bool) {
	t.Helper()
	h := r.hubState.hub
	ch, stop := h.Subscribe()
	defer stop()
	deadline := time.After(15 * time.Second)
	for !cond(h) {
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("the hub did not see %s within 15 s", what)
		}
	}
}

func pipelineOf(h *fleet.Hub, service, pipeline string) fleet.PipelineView {
	p, _ := h.Pipeline(service, pipeline)
	return p
}

func allIn(p fleet.PipelineView, n int, state string) bool {
	if len(p.Breakers) != n {
		return false
	}
	for _, b := range p.Breakers {
		if b.State.String() != state {
			return false
		}
	}
	return true
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTheHubShowsItsFleetAndForcesABreakerForAServiceOrAnInstance(t *testing.T) {
	hub := startHubApp(t)
	for _, id := range []string{"shop-1", "shop-2"} {
		startAgentApp(t, hub.natsURL(), "shop", id)
	}
	waitFleet(t, hub, "2 instances of shop", func(h *fleet.Hub) bool {
		sv, err := h.Service("shop")
		return err == nil && sv.Up == 2 && len(pipelineOf(h, "shop", "payments").Breakers) == 2
	})

	if code := readyz(t, hub); code != 200 {
		t.Errorf("the hub's /readyz = %d, want 200", code)
	}
	var fleetList struct {
		Services []struct {
			Name      string `json:"name"`
			Up        int    `json:"up"`
			Instances []struct {
				ID, State string
			} `json:"instances"`
		} `json:"services"`
	}
	if code := hub.do(t, "GET", "/api/v1/fleet", nil, &fleetList); code != 200 || len(fleetList.Services) != 1 ||
		fleetList.Services[0].Up != 2 || fleetList.Services[0].Instances[1].ID != "shop-2" || fleetList.Services[0].Instances[1].State != "up" {
		t.Fatalf("GET /api/v1/fleet: %d %+v", code, fleetList)
	}

	// Refusals first: they change nothing.
	for _, tc := range []struct {
		path string
		body any
		want int
	}{
		{"/api/v1/fleet/shop/pipelines/payments/breaker", map[string]string{"state": "forced_open"}, 400},
		{"/api/v1/fleet/shop/pipelines/payments/breaker", map[string]string{"state": "open", "reason": "x"}, 400},
		{"/api/v1/fleet/shop/pipelines/payments/breaker", map[string]any{"state": "forced_open", "reason": "x", "extra": 1}, 400},
		{"/api/v1/fleet/nope/pipelines/payments/breaker", map[string]string{"state": "forced_open", "reason": "x"}, 404},
		{"/api/v1/fleet/shop/pipelines/nope/breaker", map[string]string{"state": "forced_open", "reason": "x"}, 404},
		{"/api/v1/fleet/shop/pipelines/payments/breaker", map[string]string{"state": "forced_open", "reason": "x", "instance": "shop-9"}, 404},
		{"/api/v1/fleet/shop/pipelines/shipping/breaker", map[string]string{"state": "forced_open", "reason": "x"}, 409},
	} {
		if code := hub.do(t, "PUT", tc.path, tc.body, nil); code != tc.want {
			t.Errorf("PUT %s %v: %d, want %d", tc.path, tc.body, code, tc.want)
		}
	}
	req, _ := http.NewRequest("PUT", hub.url+"/api/v1/fleet/shop/pipelines/payments/breaker", strings.NewReader(`{"state":"forced_open","reason":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("PUT without a token: %v %v, want 401", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	if got, _ := hub.hubState.hub.Overrides(t.Context()); len(got) != 0 {
		t.Fatalf("overrides after refusals: %+v", got)
	}

	// One instance.
	if code := hub.do(t, "PUT", "/api/v1/fleet/shop/pipelines/payments/breaker",
		map[string]string{"state": "forced_open", "reason": "drain shop-2", "instance": "shop-2"}, nil); code != 200 {
		t.Fatalf("PUT for shop-2: %d", code)
	}
	waitFleet(t, hub, "shop-2 forced open", func(h *fleet.Hub) bool {
		p := pipelineOf(h, "shop", "payments")
		return p.Open == 1 && p.Breakers[1].State.String() == "forced_open" && p.Breakers[0].State.String() != "forced_open"
	})
	// The whole service.
	if code := hub.do(t, "PUT", "/api/v1/fleet/shop/pipelines/payments/breaker",
		map[string]string{"state": "forced_open", "reason": "provider outage", "duration": "15m"}, nil); code != 200 {
		t.Fatalf("PUT for shop: %d", code)
	}
	waitFleet(t, hub, "every payments breaker forced open", func(h *fleet.Hub) bool {
		return allIn(pipelineOf(h, "shop", "payments"), 2, "forced_open")
	})
	var pipes struct {
		Pipelines []struct {
			Name      string `json:"name"`
			Open      int    `json:"open"`
			Instances int    `json:"instances"`
			Overrides []struct {
				Instance, State, Reason string
			} `json:"overrides"`
		} `json:"pipelines"`
	}
	if code := hub.do(t, "GET", "/api/v1/fleet/shop/pipelines", nil, &pipes); code != 200 {
		t.Fatalf("GET pipelines: %d", code)
	}
	for _, p := range pipes.Pipelines {
		if p.Name == "payments" && (p.Open != 2 || p.Instances != 2 || len(p.Overrides) != 2) {
			t.Errorf("payments: %+v, want 2 of 2 open and 2 overrides", p)
		}
	}
	if code, page := get(t, hub.url+"/fleet"); code != 200 || !strings.Contains(page, "2 of 2 open") {
		t.Errorf("GET /fleet: %d, want the strip to say 2 of 2 open:\n%s", code, page)
	}
	if code, page := get(t, hub.url+"/fleet/shop"); code != 200 || !strings.Contains(page, "provider outage") || !strings.Contains(page, "instance shop-2") {
		t.Errorf("GET /fleet/shop: %d, want both overrides listed", code)
	}
	// Releasing the service's override leaves shop-2's own.
	if code := hub.do(t, "PUT", "/api/v1/fleet/shop/pipelines/payments/breaker", map[string]string{"state": "auto", "reason": "recovered"}, nil); code != 200 {
		t.Fatalf("release: %d", code)
	}
	waitFleet(t, hub, "shop-1 released and shop-2 still forced", func(h *fleet.Hub) bool {
		p := pipelineOf(h, "shop", "payments")
		return p.Open == 1 && p.Breakers[0].State.String() == "closed" && p.Breakers[1].State.String() == "forced_open"
	})
	var audit struct {
		Entries []fleet.AuditEntry `json:"entries"`
	}
	if code := hub.do(t, "GET", "/api/v1/fleet/audit", nil, &audit); code != 200 || len(audit.Entries) != 3 ||
		audit.Entries[0].Action != "override.release" || audit.Entries[2].Instance != "shop-2" || audit.Entries[1].Until.IsZero() {
		t.Errorf("audit: %d %+v", code, audit.Entries)
	}
	if code, page := get(t, hub.url+"/fleet/audit"); code != 200 || strings.Count(page, `data-testid="fleet-audit-entry"`) != 3 {
		t.Errorf("GET /fleet/audit: %d, want 3 entries", code)
	}
	// An instance's recent events, asked of it when the page is opened.
	if code, page := get(t, hub.url+"/fleet/shop/instances/shop-1?pipeline=payments"); code != 200 || strings.Contains(page, "did not answer") {
		t.Errorf("GET the instance page: %d:\n%s", code, page)
	}
	if code, _ := get(t, hub.url+"/fleet/shop/instances/shop-9"); code != 404 {
		t.Errorf("GET an unknown instance's page: %d, want 404", code)
	}
	code, metrics := get(t, hub.url+"/metrics")
	for _, want := range []string{
		`fusebox_fleet_instances{service="shop",state="up"} 2`,
		`fusebox_fleet_instances{service="shop",state="gone"} 0`,
		`fusebox_fleet_breakers{pipeline="payments",service="shop",state="forced_open"} 1`,
		`fusebox_fleet_overrides_applied{pipeline="payments",service="shop"} 1`,
		`fusebox_fleet_snapshot_lag_seconds `,
		`fusebox_fleet_snapshots_dropped_total{reason="malformed"} 0`,
	} {
		if code != 200 || !strings.Contains(metrics, want) {
			t.Errorf("/metrics (%d) has no %s", code, want)
		}
	}
	if code, _ := get(t, hub.url+"/fleet/nope"); code != 404 {
		t.Errorf("GET an unknown service's page: %d, want 404", code)
	}
}

func TestTheHubRefusesToListenBeyondLoopbackWithoutAuthentication(t *testing.T) {
	_, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: testToken,
		hub: &hubOptions{NATSListen: "0.0.0.0:-1"},
	})
	if !errors.Is(err, fleet.ErrOpenListen) {
		t.Fatalf("newApp = %v, want ErrOpenListen", err)
	}
	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: testToken,
		hub: &hubOptions{NATSListen: "0.0.0.0:-1", NATSToken: "a-long-enough-nats-token"},
	})
	if err != nil {
		t.Fatalf("with a token: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTheFleetDemoRunsNineInstancesOfThreeServices(t *testing.T) {
	hub := startHubApp(t)
	fd, err := startFleetDemo(t.Context(), hub.natsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fd.close)
	waitFleet(t, hub, "9 instances up", func(h *fleet.Hub) bool {
		f := h.Fleet()
		up := 0
		for _, s := range f.Services {
			up += s.Up
		}
		return len(f.Services) == 3 && up == 9
	})
}
