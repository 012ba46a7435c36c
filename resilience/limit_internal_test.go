package resilience

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// server models a dependency of capacity c whose latency is base while it
// has at most c calls and grows with the queue beyond (Little's law); the
// client keeps the limit's worth of calls in flight. A call is dropped
// when its latency exceeds timeout (zero: never).
type server struct {
	base    time.Duration
	c       int
	timeout time.Duration
}

func (s server) step(l *AdaptiveLimit) {
	n := l.Limit()
	rtt := s.base * time.Duration(max(n, s.c)) / time.Duration(s.c)
	l.sample(rtt, n, s.timeout > 0 && rtt > s.timeout)
}

func run(l *AdaptiveLimit, s server, calls int) (lo, hi int) {
	lo, hi = l.Limit(), l.Limit()
	for range calls {
		s.step(l)
		lo, hi = min(lo, l.Limit()), max(hi, l.Limit())
	}
	return lo, hi
}

// within returns the share of the next calls after which the limit is in
// [lo, hi].
func within(l *AdaptiveLimit, s server, calls, lo, hi int) float64 {
	in := 0
	for range calls {
		s.step(l)
		if n := l.Limit(); n >= lo && n <= hi {
			in++
		}
	}
	return float64(in) / float64(calls)
}

func TestAdaptiveLimitVegasConvergesFallsAndRecovers(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := rapid.IntRange(20, 200).Draw(rt, "capacity")
		base := time.Duration(rapid.Int64Range(int64(time.Millisecond), int64(time.Second)).Draw(rt, "base"))
		k := rapid.IntRange(3, 20).Draw(rt, "slowdown")
		l, err := NewAdaptiveLimit(AdaptiveLimitConfig{Algorithm: LimitVegas, InitialLimit: rapid.IntRange(1, 400).Draw(rt, "initial"), MaxLimit: 1000})
		if err != nil {
			rt.Fatal(err)
		}
		fast, slow := server{base: base, c: c}, server{base: base * time.Duration(k), c: c}
		// Converges near the capacity (the queue it tolerates is a few
		// log10(limit) calls), leaving it only to probe.
		run(l, fast, 40_000)
		if share := within(l, fast, 5_000, c, 2*c); share < 0.9 {
			rt.Fatalf("the limit was near the capacity %d after %.0f %% of calls only", c, share*100)
		}
		l.probe = 0 // no probe for 30 × limit calls
		run(l, fast, 200)
		steady := l.Limit()
		// The dependency slows down k-fold: the limit falls within 30 calls
		// (and may probe and re-learn the new latency soon after).
		if lo, _ := run(l, slow, 30); lo > steady*3/4 {
			rt.Fatalf("in the 30 calls after a %d× slowdown the limit fell only to %d, from %d", k, lo, steady)
		}
		// A slowdown for good is re-learnt, and so is the recovery.
		run(l, slow, 40_000)
		if share := within(l, slow, 5_000, c, 2*c); share < 0.9 {
			rt.Fatalf("after a slowdown for good the limit was near the capacity %d after %.0f %% of calls only", c, share*100)
		}
		run(l, fast, 40_000)
		if share := within(l, fast, 5_000, c, 2*c); share < 0.9 {
			rt.Fatalf("after the recovery the limit was near the capacity %d after %.0f %% of calls only", c, share*100)
		}
	})
}

func TestAdaptiveLimitAIMDBacksOffOnDropsAndRecovers(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := rapid.IntRange(5, 200).Draw(rt, "capacity")
		base := time.Duration(rapid.Int64Range(int64(time.Millisecond), int64(time.Second)).Draw(rt, "base"))
		l, err := NewAdaptiveLimit(AdaptiveLimitConfig{InitialLimit: rapid.IntRange(1, 400).Draw(rt, "initial"), MaxLimit: 1000})
		if err != nil {
			rt.Fatal(err)
		}
		s := server{base: base, c: c, timeout: 2 * base} // drops beyond 2c in flight
		run(l, s, 20_000)
		lo, hi := run(l, s, 5_000)
		if lo < c || hi > 2*c+1 {
			rt.Fatalf("steady AIMD limit moved in [%d, %d], want within [c, 2c+1] for c = %d", lo, hi, c)
		}
		// Every call times out: the limit falls to the floor.
		s.base *= 4
		run(l, s, 2_000)
		if got := l.Limit(); got != 1 {
			rt.Fatalf("limit %d after every call dropped, want MinLimit 1", got)
		}
		s.base /= 4
		run(l, s, 20_000)
		if lo, hi := run(l, s, 5_000); lo < c || hi > 2*c+1 {
			rt.Fatalf("AIMD limit after recovery moved in [%d, %d], want within [c, 2c+1] for c = %d", lo, hi, c)
		}
	})
}
