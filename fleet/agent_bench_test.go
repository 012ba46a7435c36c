package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// BenchmarkAgentPublish measures one snapshot of an instance of 20
// pipelines that each had 20 calls since the previous one: reading the
// aggregator, taking the deltas, encoding and publishing to a loopback
// NATS server. One op a second is the agent's whole publishing load.
// With kill switches, each pipeline also has a retry and a timeout, and
// every other one its retry switched off by the fleet: the snapshot
// reads and reports them.
func BenchmarkAgentPublish(b *testing.B) {
	b.Run("policies=breaker", func(b *testing.B) { benchmarkAgentPublish(b, false) })
	b.Run("policies=breaker,retry,timeout/kill_switches=10", func(b *testing.B) { benchmarkAgentPublish(b, true) })
}

func benchmarkAgentPublish(b *testing.B, kills bool) {
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
		policies := []resilience.Policy{br}
		if kills {
			retry, err := resilience.NewRetry(resilience.RetryConfig{})
			if err != nil {
				b.Fatal(err)
			}
			timeout, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			policies = append(policies, retry, timeout)
		}
		p, err := resilience.New(fmt.Sprintf("pipeline-%02d", i), resilience.Config{Policies: policies, Observers: []resilience.Observer{agg}})
		if err != nil {
			b.Fatal(err)
		}
		if err := reg.Add(p); err != nil {
			b.Fatal(err)
		}
		pipes = append(pipes, p)
	}
	a := &Agent{cfg: Config{Service: "shop", Instance: "shop-1", Clock: resilience.SystemClock()}, reg: reg, agg: agg, nc: nc, held: map[targetKey]held{}}
	if kills {
		want := map[targetKey]Override{}
		for i, p := range pipes {
			if i%2 == 0 {
				want[targetKey{p.Name(), "retry"}] = Override{Service: "shop", Pipeline: p.Name(), Policy: "retry", Reason: "bench", Actor: "bench", Revision: uint64(i + 1)}
			}
		}
		a.log = slog.New(slog.DiscardHandler)
		for _, p := range pipes {
			a.applyPipeline(context.Background(), p, want, time.Now())
		}
		if len(a.held) != 10 {
			b.Fatalf("%d kill switches applied, want 10", len(a.held))
		}
	}
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
