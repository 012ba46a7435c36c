package telemetry

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/fusebox-dev/fusebox/resilience"
)

// callEvents returns the events of a successful call with one attempt, as a
// pipeline emits them: attempt start, attempt end, call end.
func callEvents(name string, call uint64, at time.Time, d time.Duration) [3]resilience.Event {
	return [3]resilience.Event{
		{Kind: resilience.KindAttemptStart, Pipeline: name, Call: call, Attempt: 1, Time: at.Add(-d)},
		{Kind: resilience.KindAttemptEnd, Pipeline: name, Call: call, Attempt: 1, Duration: d, Time: at},
		{Kind: resilience.KindCallEnd, Pipeline: name, Call: call, Attempt: 1, Duration: d, Time: at},
	}
}

func benchAggregator(b *testing.B) resilience.Observer {
	b.Helper()
	a, err := NewAggregator(AggregatorConfig{})
	if err != nil {
		b.Fatal(err)
	}
	o, err := a.Bind("bench")
	if err != nil {
		b.Fatal(err)
	}
	return o
}

// BenchmarkObserve measures one Observe of a bound pipeline. The events
// cycle through those of successful calls (attempt start, attempt end, call
// end) and, in kind=failure, of failing retried calls, advancing event time
// by 1 µs per call so that seconds roll over as in real traffic.
func BenchmarkObserve(b *testing.B) {
	ctx := context.Background()
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	failing := errors.New("unavailable")
	mix := func(call uint64) [3]resilience.Event {
		at := start.Add(time.Duration(call) * time.Microsecond)
		return callEvents("bench", call, at, time.Duration(1000+call%50000)*time.Microsecond)
	}
	// Events are made before the timer starts: 4,096 calls, 1 µs apart.
	const calls = 4096
	evs := make([]resilience.Event, 0, 3*calls)
	for call := range uint64(calls) {
		e := mix(call + 1)
		evs = append(evs, e[:]...)
	}
	b.Run("kind=success/serial", func(b *testing.B) {
		o := benchAggregator(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			o.Observe(ctx, evs[i])
			if i++; i == len(evs) {
				i = 0
			}
		}
	})
	b.Run("kind=success/parallel", func(b *testing.B) {
		o := benchAggregator(b)
		b.ReportAllocs()
		var ids atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			// Goroutines start apart in the event list, so that they
			// observe different calls at once, as concurrent callers do,
			// and their calls carry ids of different counters, as a
			// pipeline numbers calls made on different Ps (see
			// resilience.Event.Call).
			g := ids.Add(1)
			i := int(g*3*calls/7) % len(evs)
			i -= i % 3
			mine := slices.Clone(evs)
			for j := range mine {
				mine[j].Call |= uint64(g) << 56
			}
			for pb.Next() {
				o.Observe(ctx, mine[i])
				if i++; i == len(mine) {
					i = 0
				}
			}
		})
	})
	b.Run("kind=failure/serial", func(b *testing.B) {
		o := benchAggregator(b)
		b.ReportAllocs()
		evs := [...]resilience.Event{
			{Kind: resilience.KindAttemptEnd, Pipeline: "bench", Call: 1, Attempt: 1, Outcome: resilience.OutcomeFailure, Duration: time.Millisecond, Err: failing},
			{Kind: resilience.KindRetryScheduled, Pipeline: "bench", Call: 1, Attempt: 1, Delay: 100 * time.Millisecond, Err: failing},
			{Kind: resilience.KindTimeout, Pipeline: "bench", Call: 1, Attempt: 2, Scope: resilience.ScopeAttempt},
			{Kind: resilience.KindCallEnd, Pipeline: "bench", Call: 1, Attempt: 2, Outcome: resilience.OutcomeTimeout, Duration: time.Second, Err: failing},
		}
		for i := 0; b.Loop(); i++ {
			e := evs[i%len(evs)]
			e.Call = uint64(i / len(evs))
			e.Time = start.Add(time.Duration(i) * time.Microsecond)
			o.Observe(ctx, e)
		}
	})
}

// BenchmarkObserveBaseline measures what counting one call costs with the
// usual instruments, for comparison with BenchmarkObserve: a Prometheus
// CounterVec looked up by label values, and an OpenTelemetry SDK
// Int64Counter with attributes.
func BenchmarkObserveBaseline(b *testing.B) {
	b.Run("impl=prometheus-countervec/serial", func(b *testing.B) {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls_total", Help: "Calls."}, []string{"pipeline", "outcome"})
		b.ReportAllocs()
		for b.Loop() {
			c.WithLabelValues("bench", "success").Inc()
		}
	})
	b.Run("impl=prometheus-countervec/parallel", func(b *testing.B) {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls_total", Help: "Calls."}, []string{"pipeline", "outcome"})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.WithLabelValues("bench", "success").Inc()
			}
		})
	})
	otelCounter := func(b *testing.B) (metric.Int64Counter, metric.AddOption) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		c, err := mp.Meter("bench").Int64Counter("fusebox.calls")
		if err != nil {
			b.Fatal(err)
		}
		return c, metric.WithAttributes(attribute.String("pipeline", "bench"), attribute.String("outcome", "success"))
	}
	b.Run("impl=otel-int64counter/serial", func(b *testing.B) {
		c, opt := otelCounter(b)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			c.Add(ctx, 1, opt)
		}
	})
	b.Run("impl=otel-int64counter/parallel", func(b *testing.B) {
		c, opt := otelCounter(b)
		ctx := context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(ctx, 1, opt)
			}
		})
	})
}
