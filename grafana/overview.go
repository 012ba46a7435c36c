package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// overview is the Overview dashboard: every pipeline at a glance, then a
// row per pipeline (repeated over $pipeline) with its breaker state, calls
// by outcome, effective and first-attempt success, latency percentiles,
// retries and amplification, and rejections.
func overview() *dashboard.DashboardBuilder {
	d := newDashboard("fusebox-overview", "Fusebox / Overview",
		"Every Fusebox pipeline: breaker state, traffic by outcome, success, latency, retries and rejections.")
	d = commonVars(d, false).
		WithVariable(labelVar("service", "Service (fleet)", "fusebox_fleet_instances", true))

	d = d.WithRow(dashboard.NewRowBuilder("All pipelines")).
		WithPanel(statetimeline.NewPanelBuilder().
			Title("Breaker states").
			Description("State of every pipeline's circuit breaker.").
			Unit(unitState).
			Mappings(breakerStateMappings()).
			Thresholds(thresholds("green")).
			Span(12).Height(7).
			MergeValues(true).
			ShowValue(common.VisibilityModeAuto).
			WithTarget(query(breakerStateExpr(), "{{pipeline}} {{instance}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Effective success by pipeline").
			Description("Share of calls that succeeded, after retries and fallbacks.").
			Unit(unitRatio).Min(0).Max(1).
			Span(12).Height(7).
			WithTarget(query(
				`sum by (pipeline) (rate(fusebox_calls_total{`+selPipeline+`, outcome="success"}[$__rate_interval]))
/
sum by (pipeline) (rate(fusebox_calls_total{`+selPipeline+`}[$__rate_interval]))`, "{{pipeline}}")))

	d = d.WithRow(dashboard.NewRowBuilder("Fleet (hub)"))
	for _, p := range fleetRow() {
		d = d.WithPanel(p)
	}

	d = d.WithRow(dashboard.NewRowBuilder("Pipeline $pipeline").Repeat("pipeline"))
	for _, p := range pipelineRow() {
		d = d.WithPanel(p)
	}
	return d
}

// pipelineRow are the panels of one pipeline's row in the Overview.
func pipelineRow() []cogPanel {
	return []cogPanel{
		statetimeline.NewPanelBuilder().
			Title("Breaker state").
			Description("State of the circuit breaker, per instance; empty for pipelines without a breaker.").
			Unit(unitState).
			Mappings(breakerStateMappings()).
			Thresholds(thresholds("green")).
			Span(8).Height(6).
			MergeValues(true).
			WithTarget(query(breakerStateExpr(), "{{instance}}")),
		timeseries.NewPanelBuilder().
			Title("Calls by outcome").
			Description("Calls per second by how they ended: success, failure, timeout, rejected, canceled.").
			Unit(unitPerSecond).Min(0).
			Span(8).Height(6).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
			FillOpacity(20).
			WithTarget(query(`sum by (outcome) (rate(fusebox_calls_total{`+selPipeline+`}[$__rate_interval]))`, "{{outcome}}")),
		timeseries.NewPanelBuilder().
			Title("Effective vs first-attempt success").
			Description("Effective: calls that succeeded after retries and fallbacks. Actual: attempts that succeeded. The gap is what the policies recover.").
			Unit(unitRatio).Min(0).Max(1).
			Span(8).Height(6).
			WithTarget(query(`sum(rate(fusebox_calls_total{`+selPipeline+`, outcome="success"}[$__rate_interval]))
/
sum(rate(fusebox_calls_total{`+selPipeline+`}[$__rate_interval]))`, "effective")).
			WithTarget(query(`sum(rate(fusebox_attempts_total{`+selPipeline+`, outcome="success"}[$__rate_interval]))
/
sum(rate(fusebox_attempts_total{`+selPipeline+`}[$__rate_interval]))`, "actual (per attempt)")),
		timeseries.NewPanelBuilder().
			Title("Latency p50 / p99").
			Description("Call latency, retries and waits included, from the fusebox_call_duration_seconds histogram.").
			Unit(unitSeconds).Min(0).
			Span(6).Height(6).
			WithTarget(query(`histogram_quantile(0.5, sum by (le) (rate(fusebox_call_duration_seconds_bucket{`+selPipeline+`}[$__rate_interval])))`, "p50")).
			WithTarget(query(`histogram_quantile(0.99, sum by (le) (rate(fusebox_call_duration_seconds_bucket{`+selPipeline+`}[$__rate_interval])))`, "p99")),
		timeseries.NewPanelBuilder().
			Title("Retries").
			Description("Retries scheduled per second.").
			Unit(unitPerSecond).Min(0).
			Span(6).Height(6).
			WithTarget(query(`sum(rate(fusebox_retries_total{`+selPipeline+`}[$__rate_interval]))`, "retries")),
		timeseries.NewPanelBuilder().
			Title("Amplification").
			Description("Attempts per call: 1× means no retries; a retry budget keeps it bounded during an outage.").
			Unit(unitTimes).Min(0).
			Span(6).Height(6).
			WithTarget(query(`sum(rate(fusebox_attempts_total{`+selPipeline+`}[$__rate_interval]))
/
sum(rate(fusebox_calls_total{`+selPipeline+`}[$__rate_interval]))`, "attempts per call")),
		timeseries.NewPanelBuilder().
			Title("Rejections by reason").
			Description("Calls or retries refused without calling the downstream: breaker open, bulkhead full, retry budget spent.").
			Unit(unitPerSecond).Min(0).
			Span(6).Height(6).
			WithTarget(query(`sum by (reason) (rate(fusebox_rejections_total{`+selPipeline+`}[$__rate_interval]))`, "{{reason}}")),
	}
}

// selService selects the hub's series of the chosen services.
const selService = `service=~"$service"`

// fleetRow are the panels of the fleet hub's metrics: instances by state,
// open breakers and applied overrides by service and pipeline, how fresh
// and how clean the snapshots are, and the policies kill switches hold off.
func fleetRow() []cogPanel {
	return []cogPanel{
		timeseries.NewPanelBuilder().
			Title("Fleet instances by state").
			Description("Instances of each service the hub knows: up, stale (no snapshot for 10 s), gone (none for 60 s).").
			Unit(unitCount).Min(0).
			Span(6).Height(6).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
			FillOpacity(20).
			WithTarget(query(`sum by (service, state) (fusebox_fleet_instances{`+selService+`})`, "{{service}} {{state}}")),
		timeseries.NewPanelBuilder().
			Title("Fleet breakers open").
			Description("Instances whose breaker of the pipeline is open or forced open, by service and pipeline.").
			Unit(unitCount).Min(0).
			Span(6).Height(6).
			WithTarget(query(`sum by (service, pipeline) (fusebox_fleet_breakers{`+selService+`, state=~"open|forced_open"})`, "{{service}} {{pipeline}}")),
		timeseries.NewPanelBuilder().
			Title("Fleet overrides applied").
			Description("Instances that report applying a fleet override, by service and pipeline.").
			Unit(unitCount).Min(0).
			Span(6).Height(6).
			WithTarget(query(`sum by (service, pipeline) (fusebox_fleet_overrides_applied{`+selService+`})`, "{{service}} {{pipeline}}")),
		timeseries.NewPanelBuilder().
			Title("Snapshot lag and drops").
			Description("Time from an instance's snapshot to the hub (clock skew included), and messages the hub dropped per second by reason.").
			Unit(unitSeconds).Min(0).
			Span(6).Height(6).
			WithTarget(query(`max(fusebox_fleet_snapshot_lag_seconds) and on() (count(fusebox_fleet_instances{`+selService+`}) > 0)`, "lag")).
			WithTarget(query(`sum by (reason) (rate(fusebox_fleet_snapshots_dropped_total[$__rate_interval])) and on() (count(fusebox_fleet_instances{`+selService+`}) > 0)`, "dropped {{reason}}/s")),
		timeseries.NewPanelBuilder().
			Title("Fleet policies switched off").
			Description("Instances that run a policy of a pipeline switched off by a kill switch, by whose switch: the fleet's (from the hub) or the instance's own. Only what is off is drawn.").
			Unit(unitCount).Min(0).
			Span(12).Height(6).
			WithTarget(query(`sum by (service, pipeline, policy, by) (fusebox_fleet_policies_off{`+selService+`}) > 0`, "{{service}} {{pipeline}} {{policy}} off by {{by}}")),
	}
}
