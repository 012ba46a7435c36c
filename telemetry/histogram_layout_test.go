package telemetry

import (
	"testing"
	"time"
)

func TestLatencyBucketsHoldTheirValuesAndMatchTheHistogram(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 31, 32, 999, time.Millisecond, 37 * time.Millisecond, time.Second, time.Hour} {
		i := LatencyBucketIndex(d)
		b, ok := LatencyBucket(i)
		if !ok {
			t.Fatalf("LatencyBucket(%d) for %v: not ok", i, d)
		}
		if d < time.Duration(1)<<maxValueLog && (d < b.Lower || d >= b.Upper) {
			t.Errorf("%v: bucket %d is [%v, %v)", d, i, b.Lower, b.Upper)
		}
		counts := make([]uint64, LatencyBuckets)
		counts[i] = 1
		h := histogramOf(counts, latencyBits, 0)
		if h.Buckets[0].Lower != b.Lower || h.Buckets[0].Upper != b.Upper {
			t.Errorf("%v: LatencyBucket %+v, histogram bucket %+v", d, b, h.Buckets[0])
		}
	}
	for _, i := range []int{-1, LatencyBuckets} {
		if _, ok := LatencyBucket(i); ok {
			t.Errorf("LatencyBucket(%d) is ok", i)
		}
	}
}
