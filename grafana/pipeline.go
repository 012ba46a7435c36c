package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// pipelineDetail is the Pipeline detail dashboard of one pipeline: latency
// heatmap and percentiles, attempts, the backoff distribution, timeouts by
// scope, fallbacks, and the breaker with its transitions; manual overrides
// are annotations.
func pipelineDetail() *dashboard.DashboardBuilder {
	d := newDashboard("fusebox-pipeline", "Fusebox / Pipeline detail",
		"One Fusebox pipeline in depth: latency distribution, attempts and backoff, timeouts, fallbacks and the circuit breaker.")
	d = commonVars(d, true)
	d = d.Annotation(dashboard.NewAnnotationQueryBuilder().
		Name("Breaker overrides").
		Datasource(datasource()).
		Enable(true).
		IconColor("purple").
		Expr(`sum by (pipeline, from, to, reason) (increase(fusebox_breaker_transitions_total{` + selPipeline + `, reason=~"manual|expired"}[$__rate_interval])) > 0`).
		TitleFormat("Breaker {{from}} → {{to}}").
		TextFormat("{{pipeline}}: {{reason}} override").
		TagKeys("pipeline,reason"))

	d = d.WithRow(dashboard.NewRowBuilder("Latency")).
		WithPanel(heatmap.NewPanelBuilder().
			Title("Latency distribution").
			Description("Calls per latency bucket of fusebox_call_duration_seconds.").
			Unit(unitSeconds).
			Span(12).Height(8).
			Calculate(false).
			YAxis(heatmap.NewYAxisConfigBuilder().Unit(unitSeconds)).
			CellValues(heatmap.NewCellValuesBuilder().Unit(unitPerSecond)).
			Color(heatmap.NewHeatmapColorOptionsBuilder().Mode(heatmap.HeatmapColorModeScheme).Scheme("Oranges").Scale(heatmap.HeatmapColorScaleExponential).Exponent(0.5).Steps(64)).
			WithTarget(query(`sum by (le) (rate(fusebox_call_duration_seconds_bucket{`+selPipeline+`}[$__rate_interval]))`, "{{le}}").
				Format(prometheus.PromQueryFormatHeatmap))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Latency percentiles").
			Description("p50, p90, p99 and p99.9 of call latency, retries and waits included.").
			Unit(unitSeconds).Min(0).
			Span(12).Height(8).
			WithTarget(quantile(0.5, "fusebox_call_duration_seconds", "p50")).
			WithTarget(quantile(0.9, "fusebox_call_duration_seconds", "p90")).
			WithTarget(quantile(0.99, "fusebox_call_duration_seconds", "p99")).
			WithTarget(quantile(0.999, "fusebox_call_duration_seconds", "p99.9")))

	d = d.WithRow(dashboard.NewRowBuilder("Attempts and backoff")).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Attempts by outcome").
			Description("Attempts per second at the protected function, by how they ended.").
			Unit(unitPerSecond).Min(0).
			Span(8).Height(7).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
			FillOpacity(20).
			WithTarget(query(`sum by (outcome) (rate(fusebox_attempts_total{`+selPipeline+`}[$__rate_interval]))`, "{{outcome}}"))).
		WithPanel(bargauge.NewPanelBuilder().
			Title("Backoff distribution").
			Description("Retry delays waited over the dashboard's time range, per bucket of fusebox_retry_backoff_seconds.").
			Unit(unitCount).Min(0).
			Span(8).Height(7).
			DisplayMode(common.BarGaugeDisplayModeGradient).
			Orientation(common.VizOrientationVertical).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
			WithTarget(query(`sum by (le) (increase(fusebox_retry_backoff_seconds_bucket{`+selPipeline+`}[$__range]))`, "≤ {{le}} s").
				Format(prometheus.PromQueryFormatHeatmap).Instant())).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Backoff p50 / p99").
			Description("Retry delays from the fusebox_retry_backoff_seconds histogram, with jitter and Retry-After hints.").
			Unit(unitSeconds).Min(0).
			Span(8).Height(7).
			WithTarget(quantile(0.5, "fusebox_retry_backoff_seconds", "p50")).
			WithTarget(quantile(0.99, "fusebox_retry_backoff_seconds", "p99")))

	d = d.WithRow(dashboard.NewRowBuilder("Timeouts and fallbacks")).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Timeouts by scope").
			Description("Timeouts per second that bounded one attempt or the whole call.").
			Unit(unitPerSecond).Min(0).
			Span(12).Height(7).
			WithTarget(query(`sum by (scope) (rate(fusebox_timeouts_total{`+selPipeline+`}[$__rate_interval]))`, "{{scope}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Fallbacks").
			Description("Calls per second whose error a fallback replaced.").
			Unit(unitPerSecond).Min(0).
			Span(12).Height(7).
			WithTarget(query(`sum(rate(fusebox_fallbacks_total{`+selPipeline+`}[$__rate_interval]))`, "fallbacks")))

	d = adaptivePolicies(d)

	d = d.WithRow(dashboard.NewRowBuilder("Circuit breaker")).
		WithPanel(statetimeline.NewPanelBuilder().
			Title("Breaker state").
			Description("State of the circuit breaker per instance; purple and blue are operator overrides (see the annotations).").
			Unit(unitState).
			Mappings(breakerStateMappings()).
			Thresholds(thresholds("green")).
			Span(24).Height(5).
			MergeValues(true).
			WithTarget(query(breakerStateExpr(), "{{instance}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Breaker failure rate").
			Description("Share of failed calls in the breaker's current window.").
			Unit(unitRatio).Min(0).Max(1).
			Span(12).Height(7).
			WithTarget(query(`max by (instance) (fusebox_breaker_failure_rate{`+selPipeline+`})`, "{{instance}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Breaker transitions").
			Description("Transitions of the breaker by states and reason (auto, manual, expired).").
			Unit(unitCount).Min(0).
			Span(12).Height(7).
			DrawStyle(common.GraphDrawStyleBars).
			WithTarget(query(`sum by (from, to, reason) (increase(fusebox_breaker_transitions_total{`+selPipeline+`}[$__rate_interval]))`, "{{from}} → {{to}} ({{reason}})")))
	return d
}

// quantile is the q quantile of histogram over the selected pipeline.
func quantile(q float64, histogram, legend string) *prometheus.DataqueryBuilder {
	return query(`histogram_quantile(`+fmtFloat(q)+`, sum by (le) (rate(`+histogram+`_bucket{`+selPipeline+`}[$__rate_interval])))`, legend)
}

// adaptivePolicies adds the row of the adaptive policies and kill switches:
// the adaptive concurrency limit against the calls in flight, the timeout a
// call gets now, the rate limiter's tokens, hedges by result and the
// policies a kill switch holds off.
func adaptivePolicies(d *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	return d.WithRow(dashboard.NewRowBuilder("Adaptive policies and kill switches")).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Adaptive concurrency limit").
			Description("The limit of the adaptive concurrency limit (AIMD or Vegas) and the calls in flight under it; it falls when the dependency slows down.").
			Unit(unitCount).Min(0).
			Span(8).Height(7).
			WithTarget(query(`max by (instance) (fusebox_concurrency_limit{`+selPipeline+`})`, "limit {{instance}}")).
			WithTarget(query(`max by (instance) (fusebox_concurrency_inflight{`+selPipeline+`})`, "in flight {{instance}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Effective timeout").
			Description("The timeout a call starting now gets, by scope: fixed, or adaptive (a percentile of recent latency, shortened under strain).").
			Unit(unitSeconds).Min(0).
			Span(8).Height(7).
			WithTarget(query(`max by (scope) (fusebox_timeout_effective_seconds{`+selPipeline+`})`, "{{scope}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Hedges").
			Description("Hedged attempts per second: started, won (answered first) and canceled (another won).").
			Unit(unitPerSecond).Min(0).
			Span(8).Height(7).
			WithTarget(query(`sum by (result) (rate(fusebox_hedges_total{`+selPipeline+`}[$__rate_interval]))`, "{{result}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Rate limiter tokens").
			Description("Calls the rate limiter lets pass now without waiting; at 0 calls wait or are refused (reason rate_limited).").
			Unit(unitCount).Min(0).
			Span(12).Height(7).
			WithTarget(query(`min by (instance) (fusebox_rate_limiter_tokens{`+selPipeline+`})`, "{{instance}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Policies switched off").
			Description("1 while a kill switch holds the policy off, by policy and instance.").
			Unit(unitCount).Min(0).Max(1).
			Span(12).Height(7).
			WithTarget(query(`max by (policy, instance) (1 - fusebox_policy_enabled{`+selPipeline+`})`, "{{policy}} {{instance}}")))
}
