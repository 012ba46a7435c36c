package main

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// TestTheFleetPageShowsTheNumbersOfTheAPI takes in fixed snapshots on a
// stopped clock and checks that the fleet page shows what the API says.
func TestTheFleetPageShowsTheNumbersOfTheAPI(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))
	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: testToken, Clock: clock,
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
	r := &running{app: a, url: "http://" + a.Addr()}
	for i, calls := range []uint64{37, 12, 5} {
		id := fmt.Sprint("web-", i+1)
		var d fleet.PipelineDelta
		d.Name = "payments"
		d.Counts.Calls[resilience.OutcomeSuccess] = calls
		d.Counts.Calls[resilience.OutcomeFailure] = uint64(i)
		d.Counts.Retries = uint64(2 * i)
		d.Latency = []fleet.BucketCount{{Index: uint16(telemetry.LatencyBucketIndex(time.Duration(10*(i+1)) * time.Millisecond)), Count: calls + uint64(i)}}
		if i == 1 {
			d.State = resilience.StateOpen
		}
		s := fleet.Snapshot{Service: "web", Instance: id, Seq: 1, Time: clock.Now(), Pipelines: []fleet.PipelineDelta{d}}
		data, err := s.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.hubState.hub.Ingest("fusebox.snap.web."+id, data); err != nil {
			t.Fatal(err)
		}
	}
	var api struct {
		Pipelines []struct {
			Instances        int      `json:"instances"`
			Open             int      `json:"open"`
			CallsPerSecond   float64  `json:"calls_per_second"`
			SuccessRate      *float64 `json:"success_rate"`
			RetriesPerSecond float64  `json:"retries_per_second"`
			Latency          struct {
				P50Seconds float64 `json:"p50_seconds"`
				P99Seconds float64 `json:"p99_seconds"`
			} `json:"latency"`
		} `json:"pipelines"`
	}
	if code := r.do(t, "GET", "/api/v1/fleet/web/pipelines", nil, &api); code != 200 || len(api.Pipelines) != 1 {
		t.Fatalf("GET pipelines: %d %+v", code, api)
	}
	p := api.Pipelines[0]
	_, page := get(t, r.url+"/fleet")
	cell := func(name string) string {
		m := regexp.MustCompile(`data-testid="` + name + `-web-payments"[^>]*>([^<]*)<`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no %s cell on the page", name)
		}
		return m[1]
	}
	dur := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	for name, want := range map[string]string{
		"open":    fmt.Sprintf("%d of %d open", p.Open, p.Instances),
		"rate":    fmt.Sprintf("%.1f", p.CallsPerSecond),
		"success": fmt.Sprintf("%.1f%%", *p.SuccessRate*100),
		"p50":     fmt.Sprint(dur(p.Latency.P50Seconds).Milliseconds(), " ms"),
		"p99":     fmt.Sprint(dur(p.Latency.P99Seconds).Milliseconds(), " ms"),
	} {
		if got := cell(name); got != want {
			t.Errorf("%s: the page shows %q, the API says %q", name, got, want)
		}
	}
	if p.Open != 1 || p.Instances != 3 || p.CallsPerSecond != 5.7 {
		t.Errorf("API: %+v; want 1 of 3 open and 57 calls over 10 s", p)
	}
}
