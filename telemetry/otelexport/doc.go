// Package otelexport bridges the events and figures of resilience
// pipelines to OpenTelemetry: Tracing makes a span of each call with its
// attempts, retries and breaker decisions as events, and the metrics
// bridge reads a telemetry snapshot at collection time under the names of
// the Prometheus metrics, with dots.
//
// It imports telemetry, resilience and the OpenTelemetry API, SDK and OTLP
// exporters; nothing in telemetry imports it.
package otelexport
