package telemetry

import (
	"slices"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// buckets returns the non-empty buckets of h, with the bounds bucket gives.
func buckets(h FineHistogram, bucket func(int) (HistogramBucket, bool)) []HistogramBucket {
	var out []HistogramBucket
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		b, ok := bucket(h.Lo + i)
		if !ok {
			return nil
		}
		b.Count = n
		out = append(out, b)
	}
	return out
}

func TestReadCumulativeGivesTheSnapshotsFiguresWithoutAllocating(t *testing.T) {
	a, _ := newTestAggregator(t, AggregatorConfig{})
	fast, slow := mustBind(t, a, "fast"), mustBind(t, a, "slow")
	for i := range 200 {
		at := epoch.Add(time.Duration(i) * 10 * time.Millisecond)
		call(fast, uint64(2*i+1), at, time.Duration(i%7+1)*time.Millisecond, resilience.OutcomeSuccess)
		call(slow, uint64(2*i+2), at, time.Duration(i%5+1)*time.Second, resilience.OutcomeFailure, resilience.OutcomeSuccess)
	}
	slow.Observe(t.Context(), resilience.Event{Kind: resilience.KindBreakerTransition,
		From: resilience.StateClosed, To: resilience.StateOpen, Reason: resilience.ReasonAuto, Time: epoch})

	cum := a.ReadCumulative(nil)
	snap := a.Snapshot()
	if len(cum) != len(snap.Pipelines) {
		t.Fatalf("%d pipelines read, the snapshot has %d", len(cum), len(snap.Pipelines))
	}
	for i, c := range cum {
		ps := snap.Pipelines[i]
		if c.Name != ps.Name || c.Counts != ps.Totals.Counts {
			t.Errorf("%s: counts %+v, the snapshot's %+v", c.Name, c.Counts, ps.Totals.Counts)
		}
		if got := buckets(c.Latency, LatencyBucket); !slices.Equal(got, ps.Totals.Latency.Buckets) || c.Latency.Sum != ps.Totals.Latency.Sum {
			t.Errorf("%s: latency buckets %v (sum %v), the snapshot's %v (sum %v)", c.Name, got, c.Latency.Sum, ps.Totals.Latency.Buckets, ps.Totals.Latency.Sum)
		}
		if got := buckets(c.Backoff, BackoffBucket); !slices.Equal(got, ps.Totals.Backoff.Buckets) || c.Backoff.Sum != ps.Totals.Backoff.Sum {
			t.Errorf("%s: backoff buckets %v, the snapshot's %v", c.Name, got, ps.Totals.Backoff.Buckets)
		}
		if c.State != ps.Breaker.State {
			t.Errorf("%s: breaker state %v, the snapshot's %v", c.Name, c.State, ps.Breaker.State)
		}
	}
	if c := cum[1]; !slices.Equal(c.Transitions, snap.Pipelines[1].Breaker.TransitionCounts) ||
		!slices.Equal(c.Transitions, []TransitionCount{{From: resilience.StateClosed, To: resilience.StateOpen, Reason: resilience.ReasonAuto, Count: 1}}) {
		t.Errorf("slow: transitions %v, the snapshot's %v", c.Transitions, snap.Pipelines[1].Breaker.TransitionCounts)
	}
	if allocs := testing.AllocsPerRun(20, func() { cum = a.ReadCumulative(cum) }); allocs != 0 {
		t.Errorf("a read into the previous one allocates %v times, want 0", allocs)
	}
}
