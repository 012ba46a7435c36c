package otelexport

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// SnapshotSource gives consistent copies of the aggregated figures;
// *Aggregator is one. Snapshot must be safe for concurrent use.
type SnapshotSource interface {
	Snapshot() telemetry.Snapshot
}

// The OpenTelemetry metrics carry the Prometheus names of ARCHITECTURE.md
// with dots, and units instead of unit suffixes; attribute keys are the
// Prometheus label names. So an OpenTelemetry Collector that exports to
// Prometheus produces the very series /metrics does, and the same
// dashboards and rules work on either path:
//
//	OpenTelemetry (unit)                              Prometheus
//	fusebox.calls {call}               pipeline,outcome  fusebox_calls_total
//	fusebox.call.duration s (histogram) pipeline         fusebox_call_duration_seconds
//	fusebox.attempts {attempt}         pipeline,outcome  fusebox_attempts_total
//	fusebox.retries {retry}            pipeline          fusebox_retries_total
//	fusebox.retry.backoff s (histogram) pipeline         fusebox_retry_backoff_seconds
//	fusebox.timeouts {timeout}         pipeline,scope    fusebox_timeouts_total
//	fusebox.rejections {rejection}     pipeline,reason   fusebox_rejections_total
//	fusebox.fallbacks {fallback}       pipeline          fusebox_fallbacks_total
//	fusebox.breaker.state (gauge)      pipeline,state    fusebox_breaker_state
//	fusebox.breaker.transitions {transition} pipeline,from,to,reason fusebox_breaker_transitions_total
//	fusebox.breaker.failure_rate (gauge) pipeline        fusebox_breaker_failure_rate
//
// The failure rate has no unit (not "1", which a Prometheus exporter would
// turn into a _ratio suffix). Counters and gauges are observable
// instruments read from a SnapshotSource at collection time
// (RegisterMetrics); OpenTelemetry has no observable histogram, so the
// two histograms come from a metric producer on the reader (see Producer).
const (
	MetricCalls              = "fusebox.calls"
	MetricCallDuration       = "fusebox.call.duration"
	MetricAttempts           = "fusebox.attempts"
	MetricRetries            = "fusebox.retries"
	MetricRetryBackoff       = "fusebox.retry.backoff"
	MetricTimeouts           = "fusebox.timeouts"
	MetricRejections         = "fusebox.rejections"
	MetricFallbacks          = "fusebox.fallbacks"
	MetricBreakerState       = "fusebox.breaker.state"
	MetricBreakerTransitions = "fusebox.breaker.transitions"
	MetricBreakerFailureRate = "fusebox.breaker.failure_rate"
)

// callDurationBounds returns the upper bounds, in seconds, of the buckets
// of fusebox.call.duration: those OpenTelemetry recommends for request
// durations.
func callDurationBounds() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
}

// retryBackoffBounds returns the upper bounds, in seconds, of the buckets
// of fusebox.retry.backoff.
func retryBackoffBounds() []float64 {
	return []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
}

// RegisterMetrics creates the counters and gauges of Fusebox on a meter
// of mp, as observable instruments whose callback reads one Snapshot of src
// per collection. Nothing happens on the hot path. Call unregister to stop
// observing src. It returns an error when mp or src is nil or an instrument
// cannot be made.
func RegisterMetrics(mp metric.MeterProvider, src SnapshotSource) (unregister func() error, err error) {
	if mp == nil {
		return nil, fmt.Errorf("otelexport: OpenTelemetry metrics: MeterProvider must not be nil")
	}
	if src == nil {
		return nil, fmt.Errorf("otelexport: OpenTelemetry metrics: SnapshotSource must not be nil")
	}
	m := mp.Meter(instrumentationName)
	var ins otelInstruments
	var errs [9]error
	ins.calls, errs[0] = m.Int64ObservableCounter(MetricCalls, metric.WithUnit("{call}"),
		metric.WithDescription("Calls that ended, by outcome."))
	ins.attempts, errs[1] = m.Int64ObservableCounter(MetricAttempts, metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts that ended, by outcome."))
	ins.retries, errs[2] = m.Int64ObservableCounter(MetricRetries, metric.WithUnit("{retry}"),
		metric.WithDescription("Retries scheduled."))
	ins.timeouts, errs[3] = m.Int64ObservableCounter(MetricTimeouts, metric.WithUnit("{timeout}"),
		metric.WithDescription("Timeouts that fired, by scope (call or attempt)."))
	ins.rejections, errs[4] = m.Int64ObservableCounter(MetricRejections, metric.WithUnit("{rejection}"),
		metric.WithDescription("Calls or attempts turned away, by reason."))
	ins.fallbacks, errs[5] = m.Int64ObservableCounter(MetricFallbacks, metric.WithUnit("{fallback}"),
		metric.WithDescription("Fallbacks that answered in place of an error."))
	ins.state, errs[6] = m.Int64ObservableGauge(MetricBreakerState,
		metric.WithDescription("1 for the circuit breaker's current state, 0 for the others."))
	ins.transitions, errs[7] = m.Int64ObservableCounter(MetricBreakerTransitions, metric.WithUnit("{transition}"),
		metric.WithDescription("Circuit breaker transitions, by from, to and reason."))
	ins.failureRate, errs[8] = m.Float64ObservableGauge(MetricBreakerFailureRate,
		metric.WithDescription("Share of failed calls in the circuit breaker's current window."))
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("otelexport: OpenTelemetry metrics: %w", err)
		}
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		ins.observe(o, src.Snapshot())
		return nil
	}, ins.calls, ins.attempts, ins.retries, ins.timeouts, ins.rejections, ins.fallbacks,
		ins.state, ins.transitions, ins.failureRate)
	if err != nil {
		return nil, fmt.Errorf("otelexport: OpenTelemetry metrics: %w", err)
	}
	return reg.Unregister, nil
}

type otelInstruments struct {
	calls, attempts, retries, timeouts, rejections, fallbacks, transitions metric.Int64ObservableCounter
	state                                                                  metric.Int64ObservableGauge
	failureRate                                                            metric.Float64ObservableGauge
}

func (ins *otelInstruments) observe(o metric.Observer, s telemetry.Snapshot) {
	for i := range s.Pipelines {
		ps := &s.Pipelines[i]
		pl := attribute.String("pipeline", ps.Name)
		t := &ps.Totals
		for out := range resilience.NumOutcomes {
			oa := metric.WithAttributes(pl, attribute.String("outcome", out.String()))
			o.ObserveInt64(ins.calls, int64(t.Calls[out]), oa)
			o.ObserveInt64(ins.attempts, int64(t.Attempts[out]), oa)
		}
		o.ObserveInt64(ins.retries, int64(t.Retries), metric.WithAttributes(pl))
		for sc := range resilience.Scope(telemetry.NumScopes) {
			o.ObserveInt64(ins.timeouts, int64(t.Timeouts[sc]), metric.WithAttributes(pl, attribute.String("scope", sc.String())))
		}
		for r := range telemetry.NumRejections {
			o.ObserveInt64(ins.rejections, int64(t.Rejections[r]), metric.WithAttributes(pl, attribute.String("reason", r.String())))
		}
		o.ObserveInt64(ins.fallbacks, int64(t.Fallbacks), metric.WithAttributes(pl))

		b := &ps.Breaker
		for st := range resilience.NumStates {
			v := int64(0)
			if st == b.State {
				v = 1
			}
			o.ObserveInt64(ins.state, v, metric.WithAttributes(pl, attribute.String("state", st.String())))
		}
		for _, tc := range b.TransitionCounts {
			o.ObserveInt64(ins.transitions, int64(tc.Count), metric.WithAttributes(pl,
				attribute.String("from", tc.From.String()),
				attribute.String("to", tc.To.String()),
				attribute.String("reason", tc.Reason.String())))
		}
		if b.Live != nil {
			o.ObserveFloat64(ins.failureRate, b.Live.FailureRate, metric.WithAttributes(pl))
		}
	}
}

// Producer is a metric Producer (go.opentelemetry.io/otel/sdk/metric)
// that gives the histograms fusebox.call.duration and fusebox.retry.backoff
// of every pipeline, cumulative since the pipeline was bound, read from a
// SnapshotSource when the reader collects. Pass it to a reader with
// sdkmetric.WithProducer. It is safe for concurrent use.
type Producer struct {
	src SnapshotSource
}

// NewProducer returns a producer reading src, or an error when src is nil.
func NewProducer(src SnapshotSource) (*Producer, error) {
	if src == nil {
		return nil, fmt.Errorf("otelexport: OpenTelemetry producer: SnapshotSource must not be nil")
	}
	return &Producer{src: src}, nil
}

// Produce returns the histograms of the current Snapshot.
func (p *Producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	s := p.src.Snapshot()
	callBounds, backoffBounds := callDurationBounds(), retryBackoffBounds()
	calls := make([]metricdata.HistogramDataPoint[float64], 0, len(s.Pipelines))
	backoff := make([]metricdata.HistogramDataPoint[float64], 0, len(s.Pipelines))
	for i := range s.Pipelines {
		ps := &s.Pipelines[i]
		set := attribute.NewSet(attribute.String("pipeline", ps.Name))
		calls = append(calls, histogramPoint(set, ps.Bound, s.Time, ps.Totals.Latency, callBounds))
		backoff = append(backoff, histogramPoint(set, ps.Bound, s.Time, ps.Totals.Backoff, backoffBounds))
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: instrumentationName},
		Metrics: []metricdata.Metrics{
			{
				Name: MetricCallDuration, Unit: "s",
				Description: "Duration of the calls that ended, retries and waits included.",
				Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: calls},
			},
			{
				Name: MetricRetryBackoff, Unit: "s",
				Description: "Delays waited before retries.",
				Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: backoff},
			},
		},
	}}, nil
}

// histogramPoint re-buckets h into bounds (seconds, upper bounds inclusive
// as OpenTelemetry has them). A bucket of h goes where its midpoint lies, so
// a value may move to a neighbouring bucket by at most h's resolution.
func histogramPoint(set attribute.Set, start, now time.Time, h telemetry.Histogram, bounds []float64) metricdata.HistogramDataPoint[float64] {
	counts := make([]uint64, len(bounds)+1)
	j := 0
	for _, b := range h.Buckets {
		mid := (b.Lower + (b.Upper-b.Lower)/2).Seconds()
		for j < len(bounds) && mid > bounds[j] {
			j++
		}
		counts[j] += b.Count
	}
	return metricdata.HistogramDataPoint[float64]{
		Attributes:   set,
		StartTime:    start,
		Time:         now,
		Count:        h.Count,
		Sum:          h.Sum.Seconds(),
		Bounds:       bounds,
		BucketCounts: counts,
	}
}
