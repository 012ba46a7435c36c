package telemetry

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/fusebox-dev/fusebox/resilience"
)

func newTestRegistry(t testing.TB, a *Aggregator) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if _, err := Register(reg, a, CollectorConfig{}); err != nil {
		t.Fatal(err)
	}
	return reg
}

// observeSample feeds a pipeline: two calls (one retried), a rejection, a
// call timeout, a fallback and a breaker trip.
func observeSample(o resilience.Observer) {
	ctx := context.Background()
	call(o, 1, epoch, 3*time.Millisecond, resilience.OutcomeSuccess)
	call(o, 2, epoch, 40*time.Millisecond, resilience.OutcomeFailure, resilience.OutcomeSuccess)
	for _, e := range []resilience.Event{
		{Kind: resilience.KindRejected, Reason: resilience.ReasonBulkheadFull},
		{Kind: resilience.KindTimeout, Scope: resilience.ScopeCall},
		{Kind: resilience.KindFallback, Reason: resilience.ReasonFallbackFunc},
		{Kind: resilience.KindBreakerTransition, From: resilience.StateClosed, To: resilience.StateOpen, Reason: resilience.ReasonAuto},
	} {
		e.Time = epoch
		o.Observe(ctx, e)
	}
}

func TestCollectorExposesTheArchitectureMetrics(t *testing.T) {
	a, _ := newTestAggregator(t, AggregatorConfig{
		Policies: PolicyReaderFunc(func(name string) (PolicyStats, bool) {
			return PolicyStats{Breaker: &BreakerLive{State: resilience.StateOpen, FailureRate: 0.75}}, name == "db"
		}),
	})
	observeSample(mustBind(t, a, "db"))
	reg := newTestRegistry(t, a)
	const want = `
# HELP fusebox_attempts_total Attempts made to call the protected function, by how they ended.
# TYPE fusebox_attempts_total counter
fusebox_attempts_total{outcome="canceled",pipeline="db"} 0
fusebox_attempts_total{outcome="failure",pipeline="db"} 1
fusebox_attempts_total{outcome="rejected",pipeline="db"} 0
fusebox_attempts_total{outcome="success",pipeline="db"} 2
fusebox_attempts_total{outcome="timeout",pipeline="db"} 0
# HELP fusebox_breaker_failure_rate Share of failed calls in the circuit breaker's current window, from 0 to 1.
# TYPE fusebox_breaker_failure_rate gauge
fusebox_breaker_failure_rate{pipeline="db"} 0.75
# HELP fusebox_breaker_state Circuit breaker state: 1 for the current state, 0 for the others.
# TYPE fusebox_breaker_state gauge
fusebox_breaker_state{pipeline="db",state="closed"} 0
fusebox_breaker_state{pipeline="db",state="forced_closed"} 0
fusebox_breaker_state{pipeline="db",state="forced_open"} 0
fusebox_breaker_state{pipeline="db",state="half_open"} 0
fusebox_breaker_state{pipeline="db",state="open"} 1
# HELP fusebox_breaker_transitions_total Circuit breaker transitions, by states and reason.
# TYPE fusebox_breaker_transitions_total counter
fusebox_breaker_transitions_total{from="closed",pipeline="db",reason="auto",to="open"} 1
# HELP fusebox_call_duration_seconds Time calls took from entering a pipeline to returning, retries and waits included.
# TYPE fusebox_call_duration_seconds histogram
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.005"} 1
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.01"} 1
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.025"} 1
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.05"} 1
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.1"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.25"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.5"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="1"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="2.5"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="5"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="10"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="+Inf"} 2
fusebox_call_duration_seconds_sum{pipeline="db"} 0.083
fusebox_call_duration_seconds_count{pipeline="db"} 2
# HELP fusebox_calls_total Calls that went through a pipeline, by how they ended.
# TYPE fusebox_calls_total counter
fusebox_calls_total{outcome="canceled",pipeline="db"} 0
fusebox_calls_total{outcome="failure",pipeline="db"} 0
fusebox_calls_total{outcome="rejected",pipeline="db"} 0
fusebox_calls_total{outcome="success",pipeline="db"} 2
fusebox_calls_total{outcome="timeout",pipeline="db"} 0
# HELP fusebox_fallbacks_total Calls whose error a fallback replaced.
# TYPE fusebox_fallbacks_total counter
fusebox_fallbacks_total{pipeline="db"} 1
# HELP fusebox_rejections_total Calls or retries refused without calling the function, by reason.
# TYPE fusebox_rejections_total counter
fusebox_rejections_total{pipeline="db",reason="breaker_open"} 0
fusebox_rejections_total{pipeline="db",reason="bulkhead_full"} 1
fusebox_rejections_total{pipeline="db",reason="retry_budget"} 0
# HELP fusebox_retries_total Retries scheduled after a failed attempt.
# TYPE fusebox_retries_total counter
fusebox_retries_total{pipeline="db"} 1
# HELP fusebox_retry_backoff_seconds Delays waited before retries.
# TYPE fusebox_retry_backoff_seconds histogram
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.01"} 0
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.025"} 0
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.05"} 0
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.1"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.25"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.5"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="1"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="2.5"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="5"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="10"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="30"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="60"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="+Inf"} 1
fusebox_retry_backoff_seconds_sum{pipeline="db"} 0.1
fusebox_retry_backoff_seconds_count{pipeline="db"} 1
# HELP fusebox_timeouts_total Timeouts that fired, by whether they bounded an attempt or the whole call.
# TYPE fusebox_timeouts_total counter
fusebox_timeouts_total{pipeline="db",scope="attempt"} 0
fusebox_timeouts_total{pipeline="db",scope="call"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestCollectorExposesNativeHistograms(t *testing.T) {
	a, _ := newTestAggregator(t, AggregatorConfig{})
	observeSample(mustBind(t, a, "db"))
	reg := newTestRegistry(t, a)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "fusebox_call_duration_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSchema() != nativeSchema || len(h.GetPositiveSpan()) == 0 || len(h.GetBucket()) != len(DefaultLatencyBuckets) {
			t.Errorf("histogram has schema %d, %d native spans, %d classic buckets", h.GetSchema(), len(h.GetPositiveSpan()), len(h.GetBucket()))
		}
		var n int64
		for _, d := range h.GetPositiveDelta() {
			n += d // deltas of the first span add up to the last bucket's count
		}
		if h.GetSampleCount() != 2 {
			t.Errorf("native histogram counts %d calls, want 2", h.GetSampleCount())
		}
		return
	}
	t.Error("fusebox_call_duration_seconds is missing")
}

func TestCollectorRejectsBadBuckets(t *testing.T) {
	a, _ := newTestAggregator(t, AggregatorConfig{})
	_, err := NewCollector(a, CollectorConfig{LatencyBuckets: []float64{0.1, 0.05}})
	if err == nil || !strings.Contains(err.Error(), "LatencyBuckets[1] = 0.05") {
		t.Errorf("err = %v, want one naming LatencyBuckets[1] = 0.05", err)
	}
}

// TestExpositionPassesPromtool runs `promtool check metrics` on the text
// exposition. It skips without promtool, unless FUSEBOX_E2E=1 asks for it.
func TestExpositionPassesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("FUSEBOX_E2E") == "1" {
			t.Fatal("FUSEBOX_E2E=1 but promtool is not on PATH (apt-get install prometheus)")
		}
		t.Skip("promtool is not on PATH; install Debian's prometheus package to run this check")
	}
	a, _ := newTestAggregator(t, AggregatorConfig{})
	observeSample(mustBind(t, a, "db"))
	observeSample(mustBind(t, a, "cache"))
	mfs, err := newTestRegistry(t, a).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// BenchmarkScrape gathers the metrics of 1,000 pipelines that each saw
// traffic, as a Prometheus scrape does.
func BenchmarkScrape(b *testing.B) {
	a, _ := newTestAggregator(b, AggregatorConfig{})
	for i := range 1000 {
		o := mustBind(b, a, fmt.Sprintf("pipeline-%04d", i))
		for j := range 50 {
			call(o, uint64(j), epoch.Add(time.Duration(j)*100*time.Millisecond), time.Duration(j+1)*time.Millisecond,
				resilience.OutcomeFailure, resilience.OutcomeSuccess)
		}
	}
	reg := prometheus.NewRegistry()
	if _, err := Register(reg, a, CollectorConfig{}); err != nil {
		b.Fatal(err)
	}
	b.Run("pipelines=1000/gather", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := reg.Gather(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pipelines=1000/collect", func(b *testing.B) {
		c, err := NewCollector(a, CollectorConfig{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			ch := make(chan prometheus.Metric, 64)
			go func() { c.Collect(ch); close(ch) }()
			for range ch {
			}
		}
	})
	b.Run("pipelines=1000/snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.Snapshot()
		}
	})
}
