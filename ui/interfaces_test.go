package ui

import "github.com/fusebox-dev/fusebox/alerting"

// The telemetry types cmd/app passes in Config as they are.
var (
	_ SLOReader     = (*alerting.SLOEngine)(nil)
	_ AlertLister   = (*alerting.AlertManager)(nil)
	_ AlertReceiver = (*alerting.AlertManager)(nil)
	_ WebhookReader = (*alerting.WebhookNotifier)(nil)
)
