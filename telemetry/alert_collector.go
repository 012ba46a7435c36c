package telemetry

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
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
	slos     *SLOEngine
	alerts   *AlertManager
	notifier *WebhookNotifier

	budget, burn, firing, deliveries *prometheus.Desc
}

// NewAlertingCollector returns a collector of the given parts; any may be
// nil, and its metrics are then left out.
func NewAlertingCollector(slos *SLOEngine, alerts *AlertManager, notifier *WebhookNotifier) *AlertingCollector {
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
		counts := c.alerts.firingCounts()
		if c.alerts.cfg.SLOs != nil {
			for _, row := range BurnRateAlerts() {
				k := [2]string{AlertErrorBudgetBurn, row.Severity}
				counts[k] += 0
			}
		}
		if c.alerts.cfg.Breakers != nil {
			counts[[2]string{AlertBreakerOpen, c.alerts.cfg.BreakerOpenSeverity}] += 0
			counts[[2]string{AlertBreakerForcedOpen, "info"}] += 0
		}
		keys := make([][2]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b [2]string) int {
			if a[0] != b[0] {
				return strings.Compare(a[0], b[0])
			}
			return strings.Compare(a[1], b[1])
		})
		for _, k := range keys {
			ch <- prometheus.MustNewConstMetric(c.firing, prometheus.GaugeValue, float64(counts[k]), k[0], k[1])
		}
	}
	if c.notifier != nil {
		for _, r := range c.notifier.receivers {
			for i, res := range deliveryResults {
				ch <- prometheus.MustNewConstMetric(c.deliveries, prometheus.CounterValue, float64(r.counts[i].Load()), r.cfg.Name, res)
			}
		}
	}
}
