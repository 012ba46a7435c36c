package telemetry

import "time"

// DefaultLatencyBuckets are the classic bucket bounds, in seconds, of
// fusebox_call_duration_seconds as the Prometheus exporter exposes them by
// default (5 ms to 10 s): the thresholds a latency SLO's recording rules
// can read.
var DefaultLatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

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
