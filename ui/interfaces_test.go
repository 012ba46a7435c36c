package ui

import "github.com/fusebox-dev/fusebox/telemetry"

// The telemetry types cmd/app passes in Config as they are.
var (
	_ SLOReader     = (*telemetry.SLOEngine)(nil)
	_ AlertLister   = (*telemetry.AlertManager)(nil)
	_ AlertReceiver = (*telemetry.AlertManager)(nil)
	_ WebhookReader = (*telemetry.WebhookNotifier)(nil)
)
