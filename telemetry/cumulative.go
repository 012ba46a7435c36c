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
	// Transitions counts the breaker transitions by from, to and reason,
	// in that order; those never seen are left out.
	Transitions []TransitionCount
	// Policies are the live figures of the pipeline's policies, read from
	// AggregatorConfig.Policies; PoliciesKnown is false when there is no
	// reader or it does not know the pipeline.
	Policies      PolicyStats
	PoliciesKnown bool
}

// FineHistogram is a histogram in the aggregator's fine buckets, from the
// first that may hold anything to the last: Counts[i] is the count of
// bucket Lo+i, and every bucket outside them is empty. Sum is the sum of
// the values counted.
type FineHistogram struct {
	Lo     int
	Counts []uint64
	Sum    time.Duration
}

// set copies src[lo:hi+1] into h, reusing the memory of h.Counts.
func (h *FineHistogram) set(src []uint64, lo, hi int, sum time.Duration) {
	lo, hi = max(lo, 0), min(hi, len(src)-1)
	h.Lo, h.Counts, h.Sum = lo, h.Counts[:0], sum
	if lo <= hi {
		h.Counts = append(h.Counts, src[lo:hi+1]...)
	}
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
		c.Counts, c.State = h.totals, h.breaker.state
		c.Transitions = h.breaker.appendCounts(c.Transitions[:0])
		c.Latency.set(h.cumLat[:], h.cumLo, h.cumHi, h.latSum)
		c.Backoff.set(st.backoff[:], st.backLo, st.backHi, h.backoffSum)
		p.mu.Unlock()
		c.Policies, c.PoliciesKnown = PolicyStats{}, false
		if a.policies != nil {
			c.Policies, c.PoliciesKnown = a.policies.ReadPolicies(p.name)
		}
	}
	return dst
}
