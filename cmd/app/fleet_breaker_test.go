package main

import (
	"strings"
	"testing"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
)

// breakerReported waits until the hub hears from the instance that its
// pipeline's breaker is in state, under a fleet override or not.
func breakerReported(t *testing.T, hub *running, service, pipeline, instance string, state resilience.State, byFleet bool) {
	t.Helper()
	waitFleet(t, hub, instance+" reporting "+pipeline+" "+state.String(), func(h *fleet.Hub) bool {
		for _, b := range pipelineOf(h, service, pipeline).Breakers {
			if b.Instance == instance {
				return b.State == state && (b.Override != 0) == byFleet
			}
		}
		return false
	})
}

// breakerOverride returns the reason of the override of the app's
// pipeline's breaker in force, "" for none.
func breakerOverride(t *testing.T, r *running, pipeline string) string {
	t.Helper()
	p, err := r.app.registry.Get(pipeline)
	if err != nil {
		t.Fatal(err)
	}
	if ov := p.Breaker().Metrics().Override; ov != nil {
		return ov.Reason
	}
	return ""
}

func TestAFleetBreakerOverrideWinsOverTheInstancesOwnAndBothSurviveItsRestart(t *testing.T) {
	hub := startHubApp(t)
	dir := t.TempDir()
	r := startJoinedApp(t, hub.natsURL(), "shop", "shop-1", dir)

	// The instance's own override first, then the fleet's.
	if code := r.do(t, "PUT", "/api/v1/pipelines/payments/breaker", map[string]any{"state": "forced_closed", "reason": "local test"}, nil); code != 200 {
		t.Fatalf("forcing the breaker closed on the instance: %d", code)
	}
	breakerReported(t, hub, "shop", "payments", "shop-1", resilience.StateForcedClosed, false)
	if code := hub.do(t, "PUT", "/api/v1/fleet/shop/pipelines/payments/breaker", map[string]any{"state": "forced_open", "reason": "fleet test"}, nil); code != 200 {
		t.Fatalf("forcing the breaker open on the hub: %d", code)
	}
	breakerReported(t, hub, "shop", "payments", "shop-1", resilience.StateForcedOpen, true)
	if got := breakerOverride(t, r, "payments"); got != "fleet test" {
		t.Errorf("while the fleet's lasts the breaker's override is %q, want the fleet's", got)
	}

	// The instance refuses to change what the fleet holds, and says so.
	for _, state := range []string{"auto", "forced_closed"} {
		var refusal map[string]string
		if code := r.do(t, "PUT", "/api/v1/pipelines/payments/breaker", map[string]any{"state": state, "reason": "mine"}, &refusal); code != 409 ||
			!strings.Contains(refusal["error"], `the breaker of "payments" is forced_open by the fleet (whole service, by `) {
			t.Errorf("setting the breaker %s locally: %d %v, want 409 naming the fleet's override", state, code, refusal)
		}
	}
	code, page := get(t, r.url+"/pipelines/payments")
	if code != 200 || !strings.Contains(page, "forced open by the fleet (whole service), ") || strings.Contains(page, `data-testid="override-form"`) {
		t.Errorf("the instance's page of payments (%d) does not say the fleet holds the breaker, or has a form for it", code)
	}

	// A restart of the instance: its own override comes from its store,
	// the fleet's from the bucket, on top.
	r.stop()
	r = startJoinedApp(t, hub.natsURL(), "shop", "shop-1", dir)
	if got := breakerOverride(t, r, "payments"); got != "fleet test" {
		t.Errorf("after a restart the breaker's override is %q, want the fleet's", got)
	}

	// Released, the instance's own override is back, and its to change.
	if code := hub.do(t, "PUT", "/api/v1/fleet/shop/pipelines/payments/breaker", map[string]any{"state": "auto", "reason": "done"}, nil); code != 200 {
		t.Fatalf("releasing the fleet's override: %d", code)
	}
	breakerReported(t, hub, "shop", "payments", "shop-1", resilience.StateForcedClosed, false)
	if got := breakerOverride(t, r, "payments"); got != "local test" {
		t.Errorf("after the fleet's release the breaker's override is %q, want the instance's own back", got)
	}
	if code := r.do(t, "PUT", "/api/v1/pipelines/payments/breaker", map[string]any{"state": "auto", "reason": "mine"}, nil); code != 200 {
		t.Errorf("setting the breaker to auto locally after the release: %d", code)
	}
	if got := breakerOverride(t, r, "payments"); got != "" {
		t.Errorf("after the instance's auto the breaker's override is %q", got)
	}
}
