package promexport

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fusebox-dev/fusebox/alerting"
)

// AlertingCollector is a prometheus.Collector of the SLO engine, the alert
// manager and the webhook notifier, read at scrape time:
//
//	fusebox_slo_error_budget_remaining_ratio{slo}
//	fusebox_slo_burn_rate{slo,window}
//	fusebox_alerts_firing{alert,severity}
//	fusebox_webhook_deliveries_total{receiver,result}
//
// fusebox_alerts_firing counts Fusebox's own alerts (not those received
// from Alertmanager, which Prometheus already has); every rule's alert and
// severity is present, at 0 when nothing fires. It is safe for concurrent
// use.
type AlertingCollector struct {
	slos     *alerting.SLOEngine
	alerts   *alerting.AlertManager
	notifier *alerting.WebhookNotifier

	budget, burn, firing, deliveries *prometheus.Desc
}

// NewAlertingCollector returns a collector of the given parts; any may be
// nil, and its metrics are then left out.
func NewAlertingCollector(slos *alerting.SLOEngine, alerts *alerting.AlertManager, notifier *alerting.WebhookNotifier) *AlertingCollector {
	return &AlertingCollector{
		slos: slos, alerts: alerts, notifier: notifier,
		budget: prometheus.NewDesc("fusebox_slo_error_budget_remaining_ratio",
			"Share of the SLO's error budget left over its period; 1 is untouched, below 0 overspent.", []string{"slo"}, nil),
		burn: prometheus.NewDesc("fusebox_slo_burn_rate",
			"Rate at which the SLO's error budget is spent over the window; 1 spends it exactly over the period.", []string{"slo", "window"}, nil),
		firing: prometheus.NewDesc("fusebox_alerts_firing",
			"Number of firing Fusebox alerts by alert name and severity.", []string{"alert", "severity"}, nil),
		deliveries: prometheus.NewDesc("fusebox_webhook_deliveries_total",
			"Webhook delivery rounds by receiver and result (success, failure, timeout, rejected, dropped).", []string{"receiver", "result"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *AlertingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.budget
	ch <- c.burn
	ch <- c.firing
	ch <- c.deliveries
}

// Collect implements prometheus.Collector.
func (c *AlertingCollector) Collect(ch chan<- prometheus.Metric) {
	if c.slos != nil {
		for _, st := range c.slos.Statuses(false) {
			ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, st.BudgetRemaining, st.Name)
			for _, b := range st.BurnRates {
				ch <- prometheus.MustNewConstMetric(c.burn, prometheus.GaugeValue, b.Rate, st.Name, b.Window.Name)
			}
		}
	}
	if c.alerts != nil {
		for _, f := range c.alerts.FiringCounts() {
			ch <- prometheus.MustNewConstMetric(c.firing, prometheus.GaugeValue, float64(f.Firing), f.Alert, f.Severity)
		}
	}
	if c.notifier != nil {
		for _, d := range c.notifier.DeliveryCounts() {
			ch <- prometheus.MustNewConstMetric(c.deliveries, prometheus.CounterValue, float64(d.Count), d.Receiver, d.Result.String())
		}
	}
}
