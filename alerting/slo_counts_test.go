package alerting

import (
	"context"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// Counts fed in bulk, as a fleet hub feeds them, give the status that the
// same calls fed one by one give.
func TestObserveCountsCountsAsObserveDoes(t *testing.T) {
	clock := resiliencetest.NewClock(sloStart)
	slos := []SLOConfig{
		{Name: "avail", Pipeline: "shop/pay", Objective: 99},
		{Name: "avail-ign", Pipeline: "shop/pay", Objective: 99, RejectedCalls: RejectedIgnored},
		{Name: "fast", Pipeline: "shop/pay", Objective: 99, SLI: SLILatency, LatencyThreshold: 100 * time.Millisecond},
	}
	bulk, err := NewSLOEngine(SLOEngineConfig{SLOs: slos, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	single, err := NewSLOEngine(SLOEngineConfig{SLOs: slos, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	// 70 fast successes, 20 slow successes, 6 failures, 4 rejections.
	// The latency thresholds sit on bucket bounds here.
	fast, slow := 10*time.Millisecond, 400*time.Millisecond
	events := []struct {
		n   int
		out resilience.Outcome
		d   time.Duration
	}{{70, resilience.OutcomeSuccess, fast}, {20, resilience.OutcomeSuccess, slow}, {6, resilience.OutcomeFailure, fast}, {4, resilience.OutcomeRejected, 0}}
	var c CallCounts
	buckets := map[int]uint64{}
	for _, e := range events {
		c.Calls[e.out] += uint64(e.n)
		buckets[telemetry.LatencyBucketIndex(e.d)] += uint64(e.n)
		for range e.n {
			single.Observe(context.Background(), resilience.Event{Kind: resilience.KindCallEnd, Pipeline: "shop/pay", Outcome: e.out, Duration: e.d, Time: clock.Now()})
		}
	}
	for i, n := range buckets {
		c.Latency = append(c.Latency, BucketCount{Index: i, Count: n})
	}
	bulk.ObserveCounts("shop/pay", clock.Now(), c)
	bulk.ObserveCounts("shop/other", clock.Now(), c) // no SLO: ignored
	clock.Advance(time.Minute)
	for _, name := range []string{"avail", "avail-ign", "fast"} {
		got, _ := bulk.Status(name)
		want, _ := single.Status(name)
		if got.Good != want.Good || got.Total != want.Total {
			t.Errorf("%s: bulk counts good %v of %v, one by one %v of %v", name, got.Good, got.Total, want.Good, want.Total)
		}
	}
	if s, _ := bulk.Status("avail"); s.Good != 90 || s.Total != 100 {
		t.Errorf("avail: good %v of %v, want 90 of 100", s.Good, s.Total)
	}
	if fresh, _ := bulk.Fresh("avail"); !fresh {
		t.Error("the SLO is not fresh after counts")
	}
}
