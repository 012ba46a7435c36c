package telemetry

import "time"

// LatencyBuckets is the number of buckets of a call-duration histogram; a
// bucket's index is in [0, LatencyBuckets).
const LatencyBuckets = latencyBuckets

// LatencyBucketIndex returns the index of the call-duration bucket that
// holds d. Together with LatencyBucket it lets a histogram travel as
// (index, count) pairs and be merged bucket by bucket elsewhere.
func LatencyBucketIndex(d time.Duration) int { return bucketIndex(int64(d), latencyBits) }

// LatencyBucket returns the bounds of call-duration bucket i, with a zero
// count; ok is false when i is out of range.
func LatencyBucket(i int) (b HistogramBucket, ok bool) {
	if i < 0 || i >= latencyBuckets {
		return HistogramBucket{}, false
	}
	lo, hi := bucketBounds(i, latencyBits)
	return HistogramBucket{Lower: time.Duration(lo), Upper: time.Duration(hi)}, true
}

// BackoffBuckets is the number of buckets of a retry-delay histogram; a
// bucket's index is in [0, BackoffBuckets).
const BackoffBuckets = backoffBuckets

// BackoffBucket returns the bounds of retry-delay bucket i, with a zero
// count; ok is false when i is out of range.
func BackoffBucket(i int) (b HistogramBucket, ok bool) {
	if i < 0 || i >= backoffBuckets {
		return HistogramBucket{}, false
	}
	lo, hi := bucketBounds(i, backoffBits)
	return HistogramBucket{Lower: time.Duration(lo), Upper: time.Duration(hi)}, true
}
