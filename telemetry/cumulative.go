package telemetry

import (
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// Cumulative is what an exporter reads of a pipeline at scrape time: its
// figures since the aggregator first saw it, with the histograms in their
// fine buckets, so that reading them allocates nothing once the memory of
// a previous read is reused (see ReadCumulative).
type Cumulative struct {
	// Name is the pipeline's name.
	Name string
	// Counts are the pipeline's counts since it was added.
	Counts Counts
	// State is the breaker state the pipeline's events last reported;
	// Policies, when known, holds the live one.
	State resilience.State
	// Latency is the histogram of call durations, in the buckets of
	// LatencyBucket; Backoff that of retry delays, in the buckets of
	// BackoffBucket.
	Latency, Backoff FineHistogram
	// Transitions counts the breaker transitions by from, to and reason.
	Transitions [resilience.NumStates][resilience.NumStates][resilience.NumReasons]uint64
	// Policies are the live figures of the pipeline's policies, read from
	// AggregatorConfig.Policies; PoliciesKnown is false when there is no
	// reader or it does not know the pipeline.
	Policies      PolicyStats
	PoliciesKnown bool
}

// FineHistogram is a histogram in the aggregator's fine buckets: Counts[i]
// is the count of bucket i, and only Counts[Lo:Hi+1] may be non-zero (Lo >
// Hi when the histogram is empty). Sum is the sum of the values counted.
type FineHistogram struct {
	Counts []uint64
	Lo, Hi int
	Sum    time.Duration
}

// set copies src[lo:hi+1] into h, reusing h.Counts, whose length is n.
func (h *FineHistogram) set(src []uint64, lo, hi, n int, sum time.Duration) {
	if len(h.Counts) != n {
		h.Counts = make([]uint64, n)
	} else if h.Lo <= h.Hi {
		clear(h.Counts[h.Lo : h.Hi+1])
	}
	lo, hi = max(lo, 0), min(hi, n-1)
	if lo <= hi {
		copy(h.Counts[lo:hi+1], src[lo:hi+1])
	}
	h.Lo, h.Hi, h.Sum = lo, hi, sum
}

// ReadCumulative returns the cumulative figures of every pipeline, sorted
// by name, in dst[:0] grown as needed. It reuses the memory of dst's
// elements: an exporter that passes the result of its previous read reads
// without allocating. The policies are read after the pipeline's locks are
// released.
func (a *Aggregator) ReadCumulative(dst []Cumulative) []Cumulative {
	l := a.list()
	if cap(dst) < len(l) {
		dst = append(dst[:cap(dst)], make([]Cumulative, len(l)-cap(dst))...)
	}
	dst = dst[:len(l)]
	for i, p := range l {
		c := &dst[i]
		c.Name = p.name
		st, _ := p.flush(false)
		p.mu.Lock()
		h := &p.hist
		c.Counts, c.State, c.Transitions = h.totals, h.breaker.state, h.breaker.counts
		c.Latency.set(h.cumLat[:], h.cumLo, h.cumHi, latencyBuckets, h.latSum)
		c.Backoff.set(st.backoff[:], st.backLo, st.backHi, backoffBuckets, h.backoffSum)
		p.mu.Unlock()
		c.Policies, c.PoliciesKnown = PolicyStats{}, false
		if a.policies != nil {
			c.Policies, c.PoliciesKnown = a.policies.ReadPolicies(p.name)
		}
	}
	return dst
}
