package otelexport

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fusebox-dev/fusebox/resilience"
)

// discardExporter is a span exporter that drops what it is given.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkTracing measures what tracing adds to a successful call through
// a retry policy (three events a call: attempt start, attempt end, call end).
//
//	tracing=none         no observer attached: what "off" costs in practice
//	tracing=noop         a Tracing on a no-op TracerProvider
//	tracing=sampler_off  the SDK with a sampler that never samples
//	tracing=on           the SDK sampling every call, batching to an exporter that drops them
func BenchmarkTracing(b *testing.B) {
	cases := []struct {
		name string
		obs  func(b *testing.B) resilience.Observer
	}{
		{"none", func(*testing.B) resilience.Observer { return nil }},
		{"noop", func(b *testing.B) resilience.Observer { return benchTracing(b, noop.NewTracerProvider()) }},
		{"sampler_off", func(b *testing.B) resilience.Observer {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			return benchTracing(b, tp)
		}},
		{"on", func(b *testing.B) resilience.Observer {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			return benchTracing(b, tp)
		}},
	}
	fn := func(context.Context) error { return nil }
	for _, c := range cases {
		newPipeline := func(b *testing.B) *resilience.Pipeline {
			r, err := resilience.NewRetry(resilience.RetryConfig{Budget: resilience.BudgetConfig{Disabled: true}})
			if err != nil {
				b.Fatal(err)
			}
			cfg := resilience.Config{Policies: []resilience.Policy{r}}
			if o := c.obs(b); o != nil {
				cfg.Observers = []resilience.Observer{o}
			}
			p, err := resilience.New("bench", cfg)
			if err != nil {
				b.Fatal(err)
			}
			return p
		}
		b.Run("tracing="+c.name, func(b *testing.B) {
			p := newPipeline(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := resilience.Run(ctx, p, fn); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("tracing="+c.name+"/parallel", func(b *testing.B) {
			p := newPipeline(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := resilience.Run(ctx, p, fn); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func benchTracing(b *testing.B, tp trace.TracerProvider) resilience.Observer {
	tr, err := NewTracing(tp, TracingConfig{})
	if err != nil {
		b.Fatal(err)
	}
	return tr
}
