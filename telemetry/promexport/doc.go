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
// An aggregator's metrics reach Prometheus one of two ways, which give the
// same series. NewCollector is a prometheus.Collector for a registry of
// your own, served with promhttp as any other. NewHandler is the /metrics
// handler the app serves: it serves a registry's families merged with the
// aggregator's, which it builds and writes without the registry's
// per-metric checks, in about a fifth of the time and a hundredth of the
// memory of promhttp over a registry (BENCHMARKS.md, 1,000 pipelines:
// 7.6 ms and 171 KiB against 36.9 ms and 17.2 MiB). Both exist because a
// library user with a registry of their own needs the first, and the
// scrape cost of a large fleet needs the second.
//
// It imports telemetry, alerting, resilience and client_golang; nothing
// in telemetry or alerting imports it.
package promexport
