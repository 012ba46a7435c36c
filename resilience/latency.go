package resilience

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// latencyRing keeps the durations of the latest latencySamples successful
// calls or attempts seen by a policy, and a quantile of them recomputed
// every latencyEvery samples, so that reading it costs one atomic load.
type latencyRing struct {
	q      float64
	mu     sync.Mutex
	buf    [latencySamples]time.Duration
	n      int // samples held, up to latencySamples
	next   int // the slot of the next sample
	since  int // samples since the quantile was computed
	cached atomic.Int64
	ready  atomic.Bool
}

const (
	latencySamples = 256
	latencyEvery   = 16
	// latencyMinSamples is how many samples a quantile needs to be read.
	latencyMinSamples = 16
)

func newLatencyRing(q float64) *latencyRing { return &latencyRing{q: q} }

// add records one duration.
func (r *latencyRing) add(d time.Duration) {
	var tmp [latencySamples]time.Duration
	r.mu.Lock()
	r.buf[r.next] = d
	r.next = (r.next + 1) % latencySamples
	r.n = min(r.n+1, latencySamples)
	r.since++
	if r.since < latencyEvery || r.n < latencyMinSamples {
		r.mu.Unlock()
		return
	}
	r.since = 0
	n := copy(tmp[:], r.buf[:r.n])
	r.mu.Unlock()
	s := tmp[:n]
	slices.Sort(s)
	i := min(int(r.q*float64(n)), n-1)
	r.cached.Store(int64(s[i]))
	r.ready.Store(true)
}

// quantile returns the quantile of the recent samples, or ok false while
// there are too few of them.
func (r *latencyRing) quantile() (time.Duration, bool) {
	if !r.ready.Load() {
		return 0, false
	}
	return time.Duration(r.cached.Load()), true
}
