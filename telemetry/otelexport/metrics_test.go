package otelexport

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// staticSource serves a fixed snapshot and counts the reads.
type staticSource struct {
	snap  telemetry.Snapshot
	reads atomic.Int64
}

func (s *staticSource) Snapshot() telemetry.Snapshot { s.reads.Add(1); return s.snap }

// collectOTel registers the Fusebox metrics of src on a fresh provider with
// a manual reader and returns one collection.
func collectOTel(t *testing.T, src SnapshotSource) metricdata.ResourceMetrics {
	t.Helper()
	prod, err := NewProducer(src)
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(prod))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	if _, err := RegisterMetrics(mp, src); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// otelValues flattens a collection into "name{k=v,...}" -> value, with
// histograms as name_count, name_sum and name_bucket{le=...} (cumulative).
func otelValues(t *testing.T, rm metricdata.ResourceMetrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	key := func(name string, set attribute.Set, extra ...string) string {
		var kv []string
		for _, a := range set.ToSlice() {
			kv = append(kv, fmt.Sprintf("%s=%s", a.Key, a.Value.Emit()))
		}
		kv = append(kv, extra...)
		sort.Strings(kv)
		return name + "{" + strings.Join(kv, ",") + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
					t.Errorf("%s: monotonic %v, temporality %v; want a cumulative counter", m.Name, d.IsMonotonic, d.Temporality)
				}
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name+"_count", p.Attributes)] = float64(p.Count)
					out[key(m.Name+"_sum", p.Attributes)] = p.Sum
					var cum uint64
					for i, c := range p.BucketCounts {
						cum += c
						le := "+Inf"
						if i < len(p.Bounds) {
							le = fmt.Sprint(p.Bounds[i])
						}
						out[key(m.Name+"_bucket", p.Attributes, "le="+le)] = float64(cum)
					}
				}
			default:
				t.Errorf("%s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return out
}

func TestOTelMetricsReadTheSnapshotAtCollection(t *testing.T) {
	bound := traceEpoch
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var totals telemetry.Totals
	totals.Calls[resilience.OutcomeSuccess] = 90
	totals.Calls[resilience.OutcomeFailure] = 7
	totals.Calls[resilience.OutcomeRejected] = 3
	totals.Attempts[resilience.OutcomeSuccess] = 90
	totals.Attempts[resilience.OutcomeFailure] = 20
	totals.Retries = 13
	totals.Timeouts[resilience.ScopeAttempt] = 4
	totals.Rejections[telemetry.RejectBreakerOpen] = 3
	totals.Fallbacks = 2
	totals.Latency = telemetry.Histogram{Count: 4, Sum: ms(3 + 40 + 41 + 2000), Buckets: []telemetry.HistogramBucket{
		{Lower: ms(3), Upper: ms(3) + 50*time.Microsecond, Count: 1},
		{Lower: ms(40), Upper: ms(41), Count: 1},
		{Lower: ms(41), Upper: ms(42), Count: 1},
		{Lower: ms(2000), Upper: ms(2050), Count: 1},
	}}
	totals.Backoff = telemetry.Histogram{Count: 2, Sum: ms(300), Buckets: []telemetry.HistogramBucket{
		{Lower: ms(99), Upper: ms(101), Count: 1}, {Lower: ms(199), Upper: ms(201), Count: 1},
	}}
	src := &staticSource{snap: telemetry.Snapshot{Time: bound.Add(time.Hour), Pipelines: []telemetry.PipelineSnapshot{{
		Name: "payments", Bound: bound, Totals: totals,
		Breaker: telemetry.BreakerSnapshot{
			State: resilience.StateOpen,
			TransitionCounts: []telemetry.TransitionCount{
				{From: resilience.StateClosed, To: resilience.StateOpen, Reason: resilience.ReasonAuto, Count: 2},
				{From: resilience.StateOpen, To: resilience.StateHalfOpen, Reason: resilience.ReasonAuto, Count: 1},
			},
			Live: &telemetry.BreakerLive{State: resilience.StateOpen, Calls: 40, FailureRate: 0.625},
		},
	}, {
		Name: "search", Bound: bound,
	}}}}

	got := otelValues(t, collectOTel(t, src))
	if n := src.reads.Load(); n != 2 {
		t.Errorf("%d snapshots read per collection, want 2 (one for the instruments, one for the histograms)", n)
	}
	want := map[string]float64{
		"fusebox.calls{outcome=success,pipeline=payments}":                                  90,
		"fusebox.calls{outcome=failure,pipeline=payments}":                                  7,
		"fusebox.calls{outcome=rejected,pipeline=payments}":                                 3,
		"fusebox.calls{outcome=timeout,pipeline=payments}":                                  0,
		"fusebox.attempts{outcome=failure,pipeline=payments}":                               20,
		"fusebox.retries{pipeline=payments}":                                                13,
		"fusebox.timeouts{pipeline=payments,scope=attempt}":                                 4,
		"fusebox.timeouts{pipeline=payments,scope=call}":                                    0,
		"fusebox.rejections{pipeline=payments,reason=breaker_open}":                         3,
		"fusebox.rejections{pipeline=payments,reason=retry_budget}":                         0,
		"fusebox.fallbacks{pipeline=payments}":                                              2,
		"fusebox.breaker.state{pipeline=payments,state=open}":                               1,
		"fusebox.breaker.state{pipeline=payments,state=closed}":                             0,
		"fusebox.breaker.state{pipeline=search,state=closed}":                               1,
		"fusebox.breaker.transitions{from=closed,pipeline=payments,reason=auto,to=open}":    2,
		"fusebox.breaker.transitions{from=open,pipeline=payments,reason=auto,to=half_open}": 1,
		"fusebox.breaker.failure_rate{pipeline=payments}":                                   0.625,
		"fusebox.call.duration_count{pipeline=payments}":                                    4,
		"fusebox.call.duration_sum{pipeline=payments}":                                      2.084,
		"fusebox.call.duration_bucket{le=0.005,pipeline=payments}":                          1,
		"fusebox.call.duration_bucket{le=0.025,pipeline=payments}":                          1,
		"fusebox.call.duration_bucket{le=0.05,pipeline=payments}":                           3,
		"fusebox.call.duration_bucket{le=1,pipeline=payments}":                              3,
		"fusebox.call.duration_bucket{le=2.5,pipeline=payments}":                            4,
		"fusebox.call.duration_bucket{le=+Inf,pipeline=payments}":                           4,
		"fusebox.retry.backoff_count{pipeline=payments}":                                    2,
		"fusebox.retry.backoff_sum{pipeline=payments}":                                      0.3,
		"fusebox.retry.backoff_bucket{le=0.1,pipeline=payments}":                            1,
		"fusebox.retry.backoff_bucket{le=0.25,pipeline=payments}":                           2,
		"fusebox.call.duration_count{pipeline=search}":                                      0,
		"fusebox.calls{outcome=success,pipeline=search}":                                    0,
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s missing", k)
			continue
		}
		if diff := g - v; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	if _, ok := got["fusebox.breaker.failure_rate{pipeline=search}"]; ok {
		t.Error("a failure rate is reported for a pipeline whose breaker figures are unknown")
	}
}

func TestOTelMetricsDescribeTheirUnits(t *testing.T) {
	src := &staticSource{snap: telemetry.Snapshot{Time: traceEpoch, Pipelines: []telemetry.PipelineSnapshot{{Name: "p", Bound: traceEpoch,
		Breaker: telemetry.BreakerSnapshot{
			TransitionCounts: []telemetry.TransitionCount{{From: resilience.StateClosed, To: resilience.StateOpen, Reason: resilience.ReasonAuto, Count: 1}},
			Live:             &telemetry.BreakerLive{},
		}}}}}
	rm := collectOTel(t, src)
	units := map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != instrumentationName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, instrumentationName)
		}
		for _, m := range sm.Metrics {
			units[m.Name] = m.Unit
			if m.Description == "" {
				t.Errorf("%s has no description", m.Name)
			}
		}
	}
	want := map[string]string{
		MetricCalls: "{call}", MetricCallDuration: "s", MetricAttempts: "{attempt}", MetricRetries: "{retry}",
		MetricRetryBackoff: "s", MetricTimeouts: "{timeout}", MetricRejections: "{rejection}",
		MetricFallbacks: "{fallback}", MetricBreakerState: "", MetricBreakerTransitions: "{transition}",
		MetricBreakerFailureRate: "",
	}
	for name, unit := range want {
		if u, ok := units[name]; !ok || u != unit {
			t.Errorf("%s: unit %q (present %v), want %q", name, u, ok, unit)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(units)) {
		if !strings.HasPrefix(n, "fusebox.") {
			t.Errorf("metric %q outside the fusebox namespace", n)
		}
	}
}

func TestOTelMetricsRejectBadInput(t *testing.T) {
	mp := sdkmetric.NewMeterProvider()
	defer func() { _ = mp.Shutdown(context.Background()) }()
	if _, err := RegisterMetrics(nil, &staticSource{}); err == nil || !strings.Contains(err.Error(), "MeterProvider") {
		t.Errorf("nil provider: %v, want an error naming MeterProvider", err)
	}
	if _, err := RegisterMetrics(mp, nil); err == nil || !strings.Contains(err.Error(), "SnapshotSource") {
		t.Errorf("nil source: %v, want an error naming SnapshotSource", err)
	}
	if _, err := NewProducer(nil); err == nil || !strings.Contains(err.Error(), "SnapshotSource") {
		t.Errorf("nil source: %v, want an error naming SnapshotSource", err)
	}
}

func TestOTelMetricsStopAfterUnregister(t *testing.T) {
	src := &staticSource{snap: telemetry.Snapshot{Pipelines: []telemetry.PipelineSnapshot{{Name: "p"}}}}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	unregister, err := RegisterMetrics(mp, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if n := src.reads.Load(); n != 0 {
		t.Errorf("%d snapshots read after unregister, want 0", n)
	}
}

var _ SnapshotSource = (*telemetry.Aggregator)(nil)

func TestOTelMetricsOfRealPipelines(t *testing.T) {
	clock := autoClock{resiliencetest.NewClock(traceEpoch)}
	agg, err := telemetry.NewAggregator(telemetry.AggregatorConfig{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	tr, sr, _ := newTracingRecorder(t)
	p, err := resilience.New("payments", resilience.Config{
		Policies:  []resilience.Policy{mustRetry(t, 3), mustTimeout(t, 50*time.Millisecond)},
		Observers: []resilience.Observer{agg, tr},
		Clock:     clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	// A call whose first attempt times out, the second fails, the third
	// succeeds: 365 ms, retries after 100 and 200 ms.
	attempt := 0
	if err := resilience.Run(context.Background(), p, func(ctx context.Context) error {
		attempt++
		switch attempt {
		case 1:
			clock.Advance(50 * time.Millisecond)
			<-ctx.Done()
			return ctx.Err()
		case 2:
			clock.Advance(10 * time.Millisecond)
			return errors.New("connection reset")
		}
		clock.Advance(5 * time.Millisecond)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A call whose three attempts fail in 10 ms each: 330 ms.
	if err := resilience.Run(context.Background(), p, func(context.Context) error {
		clock.Advance(10 * time.Millisecond)
		return errors.New("503")
	}); err == nil {
		t.Fatal("the failing call succeeded")
	}

	got := otelValues(t, collectOTel(t, agg))
	want := map[string]float64{
		"fusebox.calls{outcome=success,pipeline=payments}":        1,
		"fusebox.calls{outcome=failure,pipeline=payments}":        1,
		"fusebox.attempts{outcome=success,pipeline=payments}":     1,
		"fusebox.attempts{outcome=failure,pipeline=payments}":     4,
		"fusebox.attempts{outcome=timeout,pipeline=payments}":     1,
		"fusebox.retries{pipeline=payments}":                      4,
		"fusebox.timeouts{pipeline=payments,scope=attempt}":       1,
		"fusebox.timeouts{pipeline=payments,scope=call}":          0,
		"fusebox.breaker.state{pipeline=payments,state=closed}":   1,
		"fusebox.call.duration_count{pipeline=payments}":          2,
		"fusebox.call.duration_bucket{le=0.25,pipeline=payments}": 0,
		"fusebox.call.duration_bucket{le=0.5,pipeline=payments}":  2,
		"fusebox.retry.backoff_count{pipeline=payments}":          4,
		"fusebox.retry.backoff_bucket{le=0.1,pipeline=payments}":  2,
		"fusebox.retry.backoff_bucket{le=0.25,pipeline=payments}": 4,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	// Sums go through the aggregator's histogram; allow its 2 % error.
	for k, v := range map[string]float64{
		"fusebox.call.duration_sum{pipeline=payments}": 0.695,
		"fusebox.retry.backoff_sum{pipeline=payments}": 0.6,
	} {
		if g := got[k]; g < v*0.98 || g > v*1.02 {
			t.Errorf("%s = %v, want %v ± 2 %%", k, g, v)
		}
	}
	if n := len(sr.Ended()); n != 2 {
		t.Errorf("%d spans beside the metrics, want 2", n)
	}
}
