package resilience

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
)

// This file holds the sliding windows in which a closed breaker counts
// outcomes: countWindow (the last n calls) and timeWindow (the calls of
// the last n seconds), and the packed counts they share.

// The outcome of a call, as recorded in a window slot: recCall marks a
// recorded call (an empty slot is 0).
const (
	recCall uint32 = 1 << iota
	recFail
	recSlow
)

// A word of three lanes of laneBits bits each holds the calls, failures
// and slow calls of a window, so that one atomic add updates them together
// and one load reads them consistently. Lanes are signed: while two
// recorders race on a slot a lane may dip below zero for a moment, and
// unpack undoes the borrow that took from the lane above.
const (
	laneBits = 21
	laneMask = 1<<laneBits - 1
	laneSign = 1 << (laneBits - 1)
)

type counts struct{ calls, failures, slow int64 }

func packRec(r uint32) uint64 {
	return uint64(r&recCall) | uint64(r>>1&1)<<laneBits | uint64(r>>2&1)<<(2*laneBits)
}

func unpack(w uint64) counts {
	var n counts
	n.calls = int64(w & laneMask)
	w >>= laneBits
	if n.calls >= laneSign {
		n.calls -= 1 << laneBits
		w++
	}
	n.failures = int64(w & laneMask)
	w >>= laneBits
	if n.failures >= laneSign {
		n.failures -= 1 << laneBits
		w++
	}
	n.slow = int64(w & laneMask)
	if n.slow >= laneSign {
		n.slow -= 1 << laneBits
	}
	return n
}

const cacheLine = 64

// countWindow is a ring of the outcomes of the last n calls with running
// totals. Recording claims the next slot with an atomic add and touches the
// totals only when the slot's outcome changes; in a ring of nothing but
// successes, recording a success writes nothing at all.
type countWindow struct {
	slots []atomic.Uint32
	n     uint64
	magic uint64 // for fastmod: ^0/n + 1
	clean uint64 // the totals of a ring full of plain successes
	_     [cacheLine - 48]byte
	next  atomic.Uint32
	_     [cacheLine - 4]byte
	// totals packs the counts of the ring (see lanes).
	totals atomic.Uint64
	_      [cacheLine - 8]byte
}

func newCountWindow(n int) *countWindow {
	return &countWindow{slots: make([]atomic.Uint32, n), n: uint64(n), magic: ^uint64(0)/uint64(n) + 1, clean: uint64(n)}
}

// record writes r into the next slot. It returns the totals after the
// write and whether they changed.
func (w *countWindow) record(r uint32) (uint64, bool) {
	// A success recorded in a ring full of successes changes nothing,
	// whichever slot it takes: skip the write, so that a healthy breaker's
	// calls only read shared memory. The outcome that next changes the
	// ring still stays in it for exactly n calls.
	if r == recCall && w.totals.Load() == w.clean {
		return 0, false
	}
	i := w.next.Add(1) - 1
	// i mod n by Lemire's fastmod; the cursor wraps at 2³², which only
	// shifts the ring once every four billion calls.
	hi, _ := bits.Mul64(w.magic*uint64(i), w.n)
	s := &w.slots[hi]
	if s.Load() == r {
		return 0, false
	}
	old := s.Swap(r)
	if old == r {
		return 0, false
	}
	return w.totals.Add(packRec(r) - packRec(old)), true
}

// timeWindow counts the calls of the last n seconds in one bucket per
// second, with running totals. Recording adds to the bucket of its second;
// the first recorder of a new second takes mu to clear the buckets that
// fell out of the window.
type timeWindow struct {
	mu      sync.Mutex
	head    atomic.Int64 // the latest second cleared for use
	buckets []timeBucket
	_       [cacheLine - 8]byte
	total   timeBucket
}

type timeBucket struct{ calls, failures, slow atomic.Int64 }

const noSecond = math.MinInt64

func newTimeWindow(n int) *timeWindow {
	w := &timeWindow{buckets: make([]timeBucket, n)}
	w.head.Store(noSecond)
	return w
}

func (w *timeWindow) bucket(sec int64) *timeBucket {
	n := int64(len(w.buckets))
	return &w.buckets[(sec%n+n)%n]
}

// record adds r at second sec and returns the totals; ok is false when sec
// is already out of the window.
func (w *timeWindow) record(sec int64, r uint32) (counts, bool) {
	if h := w.head.Load(); sec > h {
		w.roll(sec)
	} else if sec <= h-int64(len(w.buckets)) {
		return counts{}, false
	}
	// Totals before the bucket, so that a concurrent roll never subtracts
	// more than they hold; calls before failures and slow calls, and read
	// back in the other order, so that a reader never sees a failure
	// without its call and never overestimates a rate.
	bk := w.bucket(sec)
	w.total.calls.Add(1)
	bk.calls.Add(1)
	if r&recFail != 0 {
		w.total.failures.Add(1)
		bk.failures.Add(1)
	}
	if r&recSlow != 0 {
		w.total.slow.Add(1)
		bk.slow.Add(1)
	}
	return w.totals(), true
}

// totals reads the running totals, failures and slow calls first.
func (w *timeWindow) totals() counts {
	var n counts
	n.failures = w.total.failures.Load()
	n.slow = w.total.slow.Load()
	n.calls = w.total.calls.Load()
	return n
}

// roll moves the window on to second sec, clearing the buckets of the
// seconds that fall out.
func (w *timeWindow) roll(sec int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.head.Load()
	if sec <= h {
		return
	}
	n := int64(len(w.buckets))
	from := h + 1
	if h == noSecond || sec-h > n {
		from = sec - n + 1
	}
	for s := from; s <= sec; s++ {
		bk := w.bucket(s)
		w.total.slow.Add(-bk.slow.Swap(0))
		w.total.failures.Add(-bk.failures.Swap(0))
		w.total.calls.Add(-bk.calls.Swap(0))
	}
	w.head.Store(sec)
}

// snapshot returns the totals of the window ending at second sec.
func (w *timeWindow) snapshot(sec int64) counts {
	if sec > w.head.Load() {
		w.roll(sec)
	}
	return w.settled()
}

// settled reads the totals while no roll runs. A read racing a roll can
// pair failures from before it with calls from after it; tripping and
// dashboards use this reading instead.
func (w *timeWindow) settled() counts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.totals()
}
