package telemetry

import (
	"math/bits"
	"time"
)

// Histograms are log-linear, as HdrHistogram's: values below 2^b (b sub-bucket
// bits) have a bucket each; above, each power of two [2^k, 2^(k+1)) is split
// into 2^b equal buckets. A bucket's width is at most 1/2^b of its lower
// bound, so its midpoint is within 1/2^(b+1) of any value in it: 1.6 % for
// call durations (b = 5), 3.1 % for retry delays (b = 4). Values are
// nanoseconds; negative ones count as 0 and those of 2^38 ns (4.6 min) or
// more land in the last bucket.
const (
	latencyBits = 5
	backoffBits = 4
	maxValueLog = 38 // values are clamped below 2^maxValueLog

	latencyBuckets = (maxValueLog - latencyBits + 1) << latencyBits // 1088
	backoffBuckets = (maxValueLog - backoffBits + 1) << backoffBits // 560
)

// bucketCount returns the number of buckets of a layout with b sub-bucket bits.
func bucketCount(b uint) int { return (maxValueLog - int(b) + 1) << b }

// bucketIndex returns the bucket of v in a layout with b sub-bucket bits.
func bucketIndex(v int64, b uint) int {
	if v < 1<<b {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	if v >= 1<<maxValueLog {
		return bucketCount(b) - 1
	}
	k := uint(bits.Len64(uint64(v))) - 1 // 2^k <= v < 2^(k+1), k >= b
	sub := int(v>>(k-b)) & (1<<b - 1)
	return int(k-b+1)<<b + sub
}

// bucketBounds returns the range [lo, hi) of bucket i of a layout with b
// sub-bucket bits.
func bucketBounds(i int, b uint) (lo, hi int64) {
	if i < 1<<b {
		return int64(i), int64(i) + 1
	}
	o := uint(i >> b) // >= 1
	sub := int64(i & (1<<b - 1))
	lo = (1<<b + sub) << (o - 1)
	hi = (1<<b + sub + 1) << (o - 1)
	return lo, hi
}

// bucketMid returns the midpoint of bucket i, the value reported for it.
func bucketMid(i int, b uint) time.Duration {
	lo, hi := bucketBounds(i, b)
	return time.Duration(lo + (hi-lo)/2)
}

// histogramOf copies counts (indexed by bucket of layout b) into a Histogram.
func histogramOf[T uint32 | uint64](counts []T, b uint, sum time.Duration) Histogram {
	h := Histogram{Sum: sum}
	n := 0
	for _, c := range counts {
		if c != 0 {
			n++
		}
	}
	if n == 0 {
		return h
	}
	h.Buckets = make([]HistogramBucket, 0, n)
	for i, c := range counts {
		if c == 0 {
			continue
		}
		lo, hi := bucketBounds(i, b)
		h.Buckets = append(h.Buckets, HistogramBucket{Lower: time.Duration(lo), Upper: time.Duration(hi), Count: uint64(c)})
		h.Count += uint64(c)
	}
	return h
}

// percentilesOf returns the percentiles of counts, a histogram of layout
// latencyBits.
func percentilesOf[T uint32 | uint64](counts []T) Percentiles {
	var p Percentiles
	top := -1
	for i, c := range counts {
		if c != 0 {
			p.Count += uint64(c)
			top = i
		}
	}
	if p.Count == 0 {
		return p
	}
	qs := [...]float64{0.5, 0.9, 0.99, 0.999}
	out := [...]*time.Duration{&p.P50, &p.P90, &p.P99, &p.P999}
	var seen uint64
	j := 0
	for i, c := range counts {
		if c == 0 {
			continue
		}
		seen += uint64(c)
		for j < len(qs) && seen > quantileRank(qs[j], p.Count) {
			*out[j] = bucketMid(i, latencyBits)
			j++
		}
		if j == len(qs) {
			break
		}
	}
	p.Max = bucketMid(top, latencyBits)
	return p
}
