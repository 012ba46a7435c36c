package alerting

import (
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// CallCounts are the calls of a pipeline that ended over a short span, as
// a fleet hub receives them from the instances rather than one event per
// call.
type CallCounts struct {
	// Calls counts the calls by outcome.
	Calls [resilience.NumOutcomes]uint64
	// Latency holds the call-duration buckets of the same calls
	// (LatencyBucket); only latency SLIs read it.
	Latency []BucketCount
}

// BucketCount is the count of one call-duration bucket, by index
// (LatencyBucketIndex).
type BucketCount struct {
	Index int
	Count uint64
}

// maxCountsPerRecord keeps one ObserveCounts within the 32 bits of an SLO
// minute's counters.
const maxCountsPerRecord = 1 << 31

// ObserveCounts counts calls of pipeline that ended at t, for its SLOs, as
// Observe would count them one by one, except for latency SLIs: the
// buckets tell a call's duration only to its bucket, so a call is good
// when the upper bound of its bucket is at most LatencyThreshold (exact
// when the threshold is a bucket bound), and the rejected calls, which
// end at once, are taken out of the fastest buckets. A pipeline without
// SLOs is ignored.
func (e *SLOEngine) ObserveCounts(pipeline string, t time.Time, c CallCounts) {
	slos := e.byPipeline[pipeline]
	if len(slos) == 0 {
		return
	}
	if t.IsZero() {
		t = e.clock.Now()
	}
	var total uint64
	for _, n := range c.Calls {
		total += n
	}
	rejected := c.Calls[resilience.OutcomeRejected]
	for _, s := range slos {
		n := total
		if s.cfg.RejectedCalls == RejectedIgnored {
			n -= rejected
		}
		var good uint64
		switch s.cfg.SLI {
		case SLILatency:
			var within uint64
			for _, b := range c.Latency {
				if hb, ok := telemetry.LatencyBucket(b.Index); ok && hb.Upper <= s.cfg.LatencyThreshold {
					within += b.Count
				}
			}
			if within > rejected {
				good = within - rejected
			}
		default:
			good = c.Calls[resilience.OutcomeSuccess]
		}
		good = min(good, n)
		if n == 0 {
			continue
		}
		s.counts.recordN(t, min(good, maxCountsPerRecord), min(n, maxCountsPerRecord))
		if !s.fresh.Load() {
			s.fresh.Store(true)
		}
	}
}
