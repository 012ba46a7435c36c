package fleet_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// busySnapshot is the snapshot of an instance of 20 pipelines that each
// had 50 calls in the second, spread over 16 latency buckets.
func busySnapshot(service, instance string, seq uint64) fleet.Snapshot {
	s := fleet.Snapshot{Service: service, Instance: instance, Seq: seq, Time: time.Now(), Interval: time.Second}
	for i := range 20 {
		var d fleet.PipelineDelta
		d.Name = fmt.Sprintf("pipeline-%02d", i)
		d.Counts.Calls = [resilience.NumOutcomes]uint64{45, 3, 1, 1, 0}
		d.Counts.Attempts = [resilience.NumOutcomes]uint64{47, 5, 1, 0, 0}
		d.Counts.Retries, d.LatencySum = 3, 50*20*time.Millisecond
		for j := range 16 {
			d.Latency = append(d.Latency, fleet.BucketCount{Index: uint16(telemetry.LatencyBucketIndex(time.Duration(5+j*3) * time.Millisecond)), Count: 3})
		}
		s.Pipelines = append(s.Pipelines, d)
	}
	return s
}

// BenchmarkHubIngest measures the hub taking in one snapshot of 20 busy
// pipelines (decoding, folding into the fleet state); 1,000 instances at
// 1 Hz cost 1,000 of these a second. The instances take turns, as they do.
func BenchmarkHubIngest(b *testing.B) {
	srv := startServer(b, "", "")
	hub := startHub(b, srv.ClientURL(), fleet.HubConfig{})
	const instances = 1000
	msgs := make([][]byte, instances)
	subjects := make([]string, instances)
	for i := range instances {
		svc, id := fmt.Sprintf("svc-%d", i%10), fmt.Sprintf("inst-%04d", i)
		msgs[i] = encode(b, busySnapshot(svc, id, 1))
		subjects[i] = "fusebox.snap." + svc + "." + id
	}
	b.SetBytes(int64(len(msgs[0])))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := hub.Ingest(subjects[i%instances], msgs[i%instances]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*instances/1e9*100, "%core@1000inst")
}

// BenchmarkHubIngestOverNATS measures the whole path on loopback: 1,000
// snapshots of 20 pipelines published by one connection and taken in by
// the hub, per op (the publisher, the server and the hub share the CPU).
func BenchmarkHubIngestOverNATS(b *testing.B) {
	srv := startServer(b, "", "")
	hub := startHub(b, srv.ClientURL(), fleet.HubConfig{})
	pub := connect(b, srv.ClientURL())
	const instances = 1000
	msgs := make([][]byte, instances)
	subjects := make([]string, instances)
	for i := range instances {
		svc, id := fmt.Sprintf("svc-%d", i%10), fmt.Sprintf("inst-%04d", i)
		msgs[i] = encode(b, busySnapshot(svc, id, 1))
		subjects[i] = "fusebox.snap." + svc + "." + id
	}
	ch, stop := hub.Subscribe()
	defer stop()
	b.ResetTimer()
	for b.Loop() {
		want := hub.Stats().Received + instances
		for i := range instances {
			if err := pub.Publish(subjects[i], msgs[i]); err != nil {
				b.Fatal(err)
			}
		}
		for hub.Stats().Received < want {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
				b.Fatal("snapshots not taken in")
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e9*100, "%core@1000inst")
}

// BenchmarkOverridePropagation measures, on loopback, the time from the
// hub writing an override to each of 100 agents' breakers taking it; it
// reports the 50th and 99th percentiles over every agent and round.
func BenchmarkOverridePropagation(b *testing.B) {
	srv := startServer(b, "", "")
	hub := startHub(b, srv.ClientURL(), fleet.HubConfig{})
	const agents = 100
	var ins []*instance
	for i := range agents {
		in := newInstance(b, nil)
		waitReady(b, in.join(b, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: fmt.Sprintf("shop-%03d", i)}))
		ins = append(ins, in)
	}
	var lat []time.Duration
	states := []resilience.State{resilience.StateForcedOpen, resilience.StateForcedClosed}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		want := states[i%2]
		start := time.Now()
		if _, err := hub.SetOverride(context.Background(), fleet.Override{Service: "shop", Pipeline: "payments", State: want, Reason: "bench", Actor: "bench"}); err != nil {
			b.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for _, in := range ins {
			for done := false; !done; {
				select {
				case e := <-in.transitions:
					if e.Pipeline == "payments" && e.To == want {
						lat = append(lat, e.Time.Sub(start))
						done = true
					}
				case <-deadline:
					b.Fatalf("round %d: not every agent took %s within 10 s", i, want)
				}
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(lat)), "samples")
}
