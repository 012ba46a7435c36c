package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// BenchmarkFleetPage measures GET /fleet on a hub that knows 1,000
// instances (10 services × 100) of 20 pipelines each, every tenth breaker
// open: the whole page, over loopback HTTP.
func BenchmarkFleetPage(b *testing.B) {
	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: b.TempDir(), AdminToken: testToken,
		hub: &hubOptions{NATSListen: "127.0.0.1:-1"},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	hub := a.hubState.hub
	for i := range 1000 {
		svc, id := fmt.Sprintf("svc-%d", i%10), fmt.Sprintf("inst-%03d", i/10)
		s := fleet.Snapshot{Service: svc, Instance: id, Seq: 1, Time: time.Now(), Interval: time.Second}
		for j := range 20 {
			var d fleet.PipelineDelta
			d.Name = fmt.Sprintf("pipeline-%02d", j)
			if (i+j)%10 == 0 {
				d.State = resilience.StateOpen
			}
			d.Counts.Calls[resilience.OutcomeSuccess] = 50
			for k := range 8 {
				d.Latency = append(d.Latency, fleet.BucketCount{Index: uint16(telemetry.LatencyBucketIndex(time.Duration(5+k*5) * time.Millisecond)), Count: 6})
			}
			s.Pipelines = append(s.Pipelines, d)
		}
		data, err := s.AppendBinary(nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := hub.Ingest("fusebox.snap."+svc+"."+id, data); err != nil {
			b.Fatal(err)
		}
	}
	url := "http://" + a.Addr() + "/fleet"
	var size int
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("GET /fleet: %d %v", resp.StatusCode, err)
		}
		size = int(n)
	}
	b.ReportMetric(float64(size), "bytes/page")
}
