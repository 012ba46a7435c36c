package fleet

import (
	"time"

	"github.com/fusebox-dev/fusebox/telemetry"
)

// snapshotter turns the aggregator's running totals into the deltas of
// successive snapshots. It is used by one goroutine.
type snapshotter struct {
	a    *Agent
	seq  uint64
	last time.Time
	prev map[string]pipelineTotals
	buf  []byte
}

// pipelineTotals are the totals a delta is taken from.
type pipelineTotals struct {
	counts      telemetry.Counts
	transitions uint64
	latencySum  time.Duration
	latency     []telemetry.HistogramBucket
}

func newSnapshotter(a *Agent) *snapshotter {
	s := &snapshotter{a: a, prev: make(map[string]pipelineTotals), last: a.cfg.Clock.Now()}
	// Start from what happened before joining: the first snapshot carries
	// only what follows.
	for _, p := range a.agg.Snapshot().Pipelines {
		s.prev[p.Name] = totalsOf(&p)
	}
	return s
}

func totalsOf(p *telemetry.PipelineSnapshot) pipelineTotals {
	t := pipelineTotals{counts: p.Totals.Counts, latencySum: p.Totals.Latency.Sum, latency: p.Totals.Latency.Buckets}
	for _, tc := range p.Breaker.TransitionCounts {
		t.transitions += tc.Count
	}
	return t
}

// next builds and encodes the next snapshot. The returned bytes are valid
// until the next call.
func (s *snapshotter) next() ([]byte, error) {
	agg := s.a.agg.Snapshot()
	now := s.a.cfg.Clock.Now()
	s.seq++
	snap := Snapshot{
		Service: s.a.cfg.Service, Instance: s.a.cfg.Instance, Seq: s.seq,
		Time: now, Interval: now.Sub(s.last),
		Pipelines: make([]PipelineDelta, 0, len(agg.Pipelines)),
	}
	s.last = now
	for i := range agg.Pipelines {
		p := &agg.Pipelines[i]
		if validPipeline(p.Name) != nil {
			continue // cannot be named on the wire
		}
		cur := totalsOf(p)
		prev := s.prev[p.Name]
		s.prev[p.Name] = cur
		d := PipelineDelta{
			Name: p.Name, State: p.Breaker.State,
			Counts:      subCounts(cur.counts, prev.counts),
			Transitions: sub(cur.transitions, prev.transitions),
			LatencySum:  max(cur.latencySum-prev.latencySum, 0),
			Latency:     subBuckets(cur.latency, prev.latency),
		}
		s.a.instanceState(&d)
		snap.Pipelines = append(snap.Pipelines, d)
	}
	var err error
	s.buf, err = snap.AppendBinary(s.buf[:0])
	return s.buf, err
}

// sub returns a-b, or 0 when the totals went back (a pipeline bound again).
func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

func subArr(dst, a, b []uint64) {
	for i := range dst {
		dst[i] = sub(a[i], b[i])
	}
}

func subCounts(a, b telemetry.Counts) telemetry.Counts {
	var d telemetry.Counts
	subArr(d.Calls[:], a.Calls[:], b.Calls[:])
	subArr(d.Attempts[:], a.Attempts[:], b.Attempts[:])
	subArr(d.Rejections[:], a.Rejections[:], b.Rejections[:])
	subArr(d.Timeouts[:], a.Timeouts[:], b.Timeouts[:])
	d.Retries = sub(a.Retries, b.Retries)
	d.Fallbacks = sub(a.Fallbacks, b.Fallbacks)
	return d
}

// subBuckets returns the non-empty buckets of cur minus prev; both are
// sorted by bound.
func subBuckets(cur, prev []telemetry.HistogramBucket) []BucketCount {
	var out []BucketCount
	j := 0
	for _, b := range cur {
		for j < len(prev) && prev[j].Lower < b.Lower {
			j++
		}
		n := b.Count
		if j < len(prev) && prev[j].Lower == b.Lower {
			n = sub(n, prev[j].Count)
		}
		if n > 0 {
			out = append(out, BucketCount{Index: uint16(telemetry.LatencyBucketIndex(b.Lower)), Count: n})
		}
	}
	return out
}
