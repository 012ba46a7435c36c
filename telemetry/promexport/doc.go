// Package promexport exposes the figures of a telemetry.Aggregator, and of
// the policies and alerting around it, as Prometheus metrics read at
// scrape time (nothing is pushed on the hot path).
//
// The metric names and labels are those of ARCHITECTURE.md:
// fusebox_calls_total, fusebox_call_duration_seconds and the others of a
// pipeline (Collector), the live state of adaptive policies and kill
// switches (PolicyCollector), SLOs, firing alerts and webhook deliveries
// (AlertingCollector).
//
// It imports telemetry, alerting, resilience and client_golang; nothing
// in telemetry or alerting imports it.
package promexport
