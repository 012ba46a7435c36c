package grafana

import (
	"strconv"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// selSLORule selects the series the SLO recording rules write.
const selSLORule = selSLO + `, pipeline=~"$pipeline"`

// windowRatios are the recorded error ratios of every window, divided by the
// error budget: the burn rates.
const burnRates = `{__name__=~"slo:sli_error:ratio_rate(5m|30m|1h|2h|6h|1d|3d)", ` + selSLORule + `}
/ ignoring (sloth_window) group_left
slo:error_budget:ratio{` + selSLORule + `}`

// slos is the SLOs dashboard: per SLO (a row repeated over $slo) the
// objective, availability and budget over the period, the budget over time,
// burn rates per window and the state of the burn-rate alerts, from the
// recording rules and from the app's in-process engine.
func slos() *dashboard.DashboardBuilder {
	d := newDashboard("fusebox-slos", "Fusebox / SLOs",
		"Service-level objectives of Fusebox pipelines: objective, availability, error budget, burn rates and alerts.")
	d = commonVars(d, false).
		WithVariable(labelVar("slo", "SLO", `slo:objective:ratio{pipeline=~"$pipeline"}`, true))

	d = d.WithRow(dashboard.NewRowBuilder("SLO $slo").Repeat("slo")).
		WithPanel(stat.NewPanelBuilder().
			Title("Objective").
			Description("Target share of good calls over the SLO's period.").
			Unit(unitRatio).Decimals(2).
			Span(4).Height(5).
			ColorMode(common.BigValueColorModeNone).
			WithTarget(query(`max(slo:objective:ratio{`+selSLORule+`})`, "objective").Instant())).
		WithPanel(stat.NewPanelBuilder().
			Title("Availability over the period").
			Description("Share of good calls over the SLO's period, from the recorded error ratio.").
			Unit(unitRatio).Decimals(3).
			Span(4).Height(5).
			WithTarget(query(`1 - max(slo:period_burn_rate:ratio{`+selSLORule+`}) * max(slo:error_budget:ratio{`+selSLORule+`})`, "availability").Instant())).
		WithPanel(stat.NewPanelBuilder().
			Title("Error budget remaining").
			Description("Share of the period's error budget left; below zero the objective is missed.").
			Unit(unitRatio).Decimals(1).
			Span(4).Height(5).
			Thresholds(thresholds("red", 0.0, "orange", 0.25, "green")).
			ColorMode(common.BigValueColorModeBackground).
			WithTarget(query(`max(slo:period_error_budget_remaining:ratio{`+selSLORule+`})`, "remaining").Instant())).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Error budget remaining over time").
			Description("From Prometheus' recording rules and from the app's in-process SLO engine; the two should agree.").
			Unit(unitRatio).Max(1).
			Span(12).Height(5).
			WithTarget(query(`max(slo:period_error_budget_remaining:ratio{`+selSLORule+`})`, "Prometheus rules")).
			WithTarget(query(`max by (instance) (fusebox_slo_error_budget_remaining_ratio{`+selJob+`, `+selSLO+`})`, "in-process {{instance}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Burn rate per window").
			Description("Error ratio over each window divided by the error budget: 1× spends the budget exactly over the period.").
			Unit(unitTimes).Min(0).
			Span(12).Height(8).
			Thresholds(thresholds("green", 1.0, "yellow", 6.0, "orange", 14.4, "red")).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)).
			WithTarget(query(burnRates, "{{sloth_window}}"))).
		WithPanel(bargauge.NewPanelBuilder().
			Title("Burn rate now").
			Description("Current burn rate per window; the alert rows compare 5m with 1h (14.4×), 30m with 6h (6×), 2h with 1d (3×) and 6h with 3d (1×).").
			Unit(unitTimes).Min(0).
			Span(6).Height(8).
			Thresholds(thresholds("green", 1.0, "yellow", 6.0, "orange", 14.4, "red")).
			DisplayMode(common.BarGaugeDisplayModeLcd).
			Orientation(common.VizOrientationHorizontal).
			WithTarget(query(burnRates, "{{sloth_window}}").Instant())).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Burn rate (in-process engine)").
			Description("Burn rates the app computes itself, per window (fusebox_slo_burn_rate).").
			Unit(unitTimes).Min(0).
			Span(6).Height(8).
			WithTarget(query(`max by (window) (fusebox_slo_burn_rate{`+selJob+`, `+selSLO+`})`, "{{window}}"))).
		WithPanel(statetimeline.NewPanelBuilder().
			Title("Burn-rate alerts").
			Description("ErrorBudgetBurn alerts of Prometheus per row: pending, firing.").
			Unit(unitState).
			Mappings(alertStateMappings()).
			Thresholds(thresholds("green")).
			Span(16).Height(6).
			MergeValues(true).
			WithTarget(query(`max by (severity, long_window, short_window) (
  ALERTS{alertname="ErrorBudgetBurn", alertstate="firing", `+selSLORule+`} * 2
  or ALERTS{alertname="ErrorBudgetBurn", alertstate="pending", `+selSLORule+`}
)`, "{{severity}} {{long_window}}/{{short_window}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Alerts firing in the app").
			Description("Alerts the app's in-process engine has firing, by name and severity (fusebox_alerts_firing).").
			Unit(unitCount).Min(0).
			Span(8).Height(6).
			WithTarget(query(`sum by (alert, severity) (fusebox_alerts_firing{`+selJob+`})`, "{{alert}} ({{severity}})")))
	return d
}

// alertStateMappings names the values of the alert-state query.
func alertStateMappings() []dashboard.ValueMapping {
	m := dashboard.NewValueMap()
	m.Options["1"] = dashboard.ValueMappingResult{Text: ptr("pending"), Color: ptr("yellow"), Index: ptr(int32(0))}
	m.Options["2"] = dashboard.ValueMappingResult{Text: ptr("firing"), Color: ptr("red"), Index: ptr(int32(1))}
	return []dashboard.ValueMapping{{ValueMap: m}}
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
