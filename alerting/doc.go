// Package alerting watches SLOs and breakers and tells people about them:
// the SLO engine counts good and bad calls over rolling windows and
// reports error budgets and burn rates (SLOEngine); the alert manager
// evaluates the burn-rate and breaker rules, keeps alert state across
// restarts and takes in Alertmanager's webhooks (AlertManager); the
// webhook notifier delivers grouped notifications through a durable
// outbox, retried and signed (WebhookNotifier, VerifySignature).
//
// It imports the standard library, resilience and telemetry only. Storage
// is behind small interfaces (AlertStore, Outbox, NotificationLog,
// SLOHistoryStore) that *store.Store implements with these very types; the
// Prometheus metrics of alerting are in telemetry/promexport.
//
// States, sources, delivery results, SLIs and the ways to count rejected
// calls are small integer types whose text forms ("firing", "fusebox",
// "success", "latency", "ignored"…) are what JSON, YAML, the store and
// webhook payloads carry.
package alerting
