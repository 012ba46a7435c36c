package fleet

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// BenchmarkAgentPublish measures one snapshot of an instance of 20
// pipelines that each had 20 calls since the previous one: reading the
// aggregator, taking the deltas, encoding and publishing to a loopback
// NATS server. One op a second is the agent's whole publishing load.
func BenchmarkAgentPublish(b *testing.B) {
	srv, err := StartServer(ServerConfig{Listen: "127.0.0.1:-1", StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	reg := &resilience.Registry{}
	agg, err := telemetry.NewAggregator(telemetry.AggregatorConfig{Policies: telemetry.RegistryReader(reg)})
	if err != nil {
		b.Fatal(err)
	}
	var pipes []*resilience.Pipeline
	for i := range 20 {
		br, err := resilience.NewBreaker(resilience.BreakerConfig{})
		if err != nil {
			b.Fatal(err)
		}
		p, err := resilience.New(fmt.Sprintf("pipeline-%02d", i), resilience.Config{Policies: []resilience.Policy{br}, Observers: []resilience.Observer{agg}})
		if err != nil {
			b.Fatal(err)
		}
		if err := reg.Add(p); err != nil {
			b.Fatal(err)
		}
		pipes = append(pipes, p)
	}
	a := &Agent{cfg: Config{Service: "shop", Instance: "shop-1", Clock: resilience.SystemClock()}, reg: reg, agg: agg, nc: nc, applied: map[string]Override{}}
	s := newSnapshotter(a)
	ctx := context.Background()
	calls := func() {
		for _, p := range pipes {
			for range 20 {
				_ = resilience.Run(ctx, p, func(context.Context) error { return nil })
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var size int
	for b.Loop() {
		b.StopTimer()
		calls()
		b.StartTimer()
		data, err := s.next()
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
		if err := nc.Publish("fusebox.snap.shop.shop-1", data); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size), "bytes/snapshot")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e9*100, "%core@1Hz")
}
