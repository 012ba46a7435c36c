package otelexport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Config holds what Setup cannot learn from the environment. The
// zero value is ready to use.
type Config struct {
	// ServiceName names the service when neither OTEL_SERVICE_NAME nor
	// service.name in OTEL_RESOURCE_ATTRIBUTES does. Empty means "fusebox".
	ServiceName string
	// ServiceVersion is the service.version resource attribute. Empty omits it.
	ServiceVersion string
	// Attributes are further resource attributes. OTEL_RESOURCE_ATTRIBUTES
	// overrides them.
	Attributes []attribute.KeyValue
	// Metrics is what the exported metrics are read from, usually the
	// *Aggregator: when metrics are exported, its counters and gauges are
	// registered on the MeterProvider (RegisterMetrics) and its
	// histograms produced for the reader (Producer). Nil exports no
	// Fusebox metrics, only what the application records itself.
	Metrics SnapshotSource
}

// Providers holds the OpenTelemetry providers that Setup built. A nil
// provider means that signal is not exported. The providers are not made
// global: pass them to NewTracing and RegisterMetrics, or to
// otel.SetTracerProvider and otel.SetMeterProvider if the application wants.
type Providers struct {
	// Resource describes the service; nil when nothing is exported.
	Resource *resource.Resource
	// TracerProvider exports spans over OTLP/HTTP in batches; nil when
	// traces are not exported.
	TracerProvider *sdktrace.TracerProvider
	// MeterProvider exports metrics over OTLP/HTTP periodically
	// (OTEL_METRIC_EXPORT_INTERVAL, 60 s by default); nil when metrics are
	// not exported.
	MeterProvider *sdkmetric.MeterProvider
}

// Setup builds OpenTelemetry providers from the standard environment
// variables. Nothing is exported unless asked:
//
//   - OTEL_SDK_DISABLED=true turns everything off.
//   - Traces are exported when OTEL_TRACES_EXPORTER is "otlp", or when it is
//     unset and OTEL_EXPORTER_OTLP_ENDPOINT or
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; "none" turns them off.
//   - Metrics likewise, with OTEL_METRICS_EXPORTER and
//     OTEL_EXPORTER_OTLP_METRICS_ENDPOINT.
//
// The exporters speak OTLP over HTTP (protobuf) and read the other
// OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression,
// certificates) themselves; the SDK reads OTEL_TRACES_SAMPLER, OTEL_BSP_*
// and OTEL_METRIC_EXPORT_*. The resource takes OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES over cfg.
//
// An unsupported value (another exporter, the grpc protocol, a malformed
// boolean) is an error that names the variable and its value. Call Shutdown
// on the result to flush and stop the exporters.
func Setup(ctx context.Context, cfg Config) (*Providers, error) {
	o := &Providers{}
	disabled, err := envBool("OTEL_SDK_DISABLED")
	if err != nil || disabled {
		return o, err
	}
	traces, err := exporterWanted("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if err != nil {
		return o, err
	}
	metrics, err := exporterWanted("OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
	if err != nil {
		return o, err
	}
	if !traces && !metrics {
		return o, nil
	}

	if cfg.ServiceName == "" {
		cfg.ServiceName = "fusebox"
	}
	attrs := append([]attribute.KeyValue{semconv.ServiceName(cfg.ServiceName)}, cfg.Attributes...)
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attrs...),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv())
	if err != nil {
		return o, fmt.Errorf("otelexport: OpenTelemetry resource: %w", err)
	}
	o.Resource = res

	if traces {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return &Providers{}, fmt.Errorf("otelexport: OTLP trace exporter: %w", err)
		}
		o.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp))
	}
	if metrics {
		exp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			err = fmt.Errorf("otelexport: OTLP metric exporter: %w", err)
			return &Providers{}, errors.Join(err, o.Shutdown(ctx))
		}
		var readerOpts []sdkmetric.PeriodicReaderOption
		if cfg.Metrics != nil {
			prod, err := NewProducer(cfg.Metrics)
			if err != nil {
				return &Providers{}, errors.Join(err, o.Shutdown(ctx), exp.Shutdown(ctx))
			}
			readerOpts = append(readerOpts, sdkmetric.WithProducer(prod))
		}
		o.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, readerOpts...)))
		if cfg.Metrics != nil {
			if _, err := RegisterMetrics(o.MeterProvider, cfg.Metrics); err != nil {
				return &Providers{}, errors.Join(err, o.Shutdown(ctx))
			}
		}
	}
	return o, nil
}

// Tracing returns a Tracing observer on o's TracerProvider, or nil when
// traces are not exported: then attach no tracing observer at all, and
// tracing costs nothing.
func (o *Providers) Tracing(cfg TracingConfig) (*Tracing, error) {
	if o == nil || o.TracerProvider == nil {
		return nil, nil
	}
	return NewTracing(o.TracerProvider, cfg)
}

// Shutdown flushes and stops the providers that o holds. It is safe to call
// on Providers with none, and more than once.
func (o *Providers) Shutdown(ctx context.Context) error {
	if o == nil {
		return nil
	}
	var errs []error
	if o.TracerProvider != nil {
		if err := o.TracerProvider.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("otelexport: shutting down traces: %w", err))
		}
	}
	if o.MeterProvider != nil {
		if err := o.MeterProvider.Shutdown(ctx); err != nil && !errors.Is(err, sdkmetric.ErrReaderShutdown) {
			errs = append(errs, fmt.Errorf("otelexport: shutting down metrics: %w", err))
		}
	}
	return errors.Join(errs...)
}

// exporterWanted reports whether the signal whose exporter variable is
// exporterVar should be exported over OTLP.
func exporterWanted(exporterVar, protocolVar, endpointVar string) (bool, error) {
	want := false
	if v := strings.TrimSpace(os.Getenv(exporterVar)); v != "" {
		for name := range strings.SplitSeq(v, ",") {
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "otlp":
				want = true
			case "none":
			default:
				return false, fmt.Errorf("otelexport: %s=%q: unsupported exporter %q (want otlp or none)", exporterVar, v, strings.TrimSpace(name))
			}
		}
	} else {
		want = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv(endpointVar) != ""
	}
	if !want {
		return false, nil
	}
	for _, k := range []string{protocolVar, "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := os.Getenv(k); v != "" {
			if v != "http/protobuf" {
				return false, fmt.Errorf("otelexport: %s=%q: unsupported protocol (want http/protobuf)", k, v)
			}
			break // the signal's own variable wins
		}
	}
	return true, nil
}

// envBool reads a boolean variable: "true" or "false" in any case, or unset.
func envBool(key string) (bool, error) {
	switch v := strings.TrimSpace(os.Getenv(key)); strings.ToLower(v) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, fmt.Errorf("otelexport: %s=%q: want true or false", key, v)
	}
}
