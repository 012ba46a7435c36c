package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// Units of the panels (Grafana unit ids).
const (
	unitPerSecond = "reqps"       // calls, attempts, retries… per second
	unitSeconds   = "s"           // latencies and delays
	unitRatio     = "percentunit" // 0..1 shown as a percentage
	unitTimes     = "suffix:×"    // burn rates, amplification
	unitCount     = "short"       // plain counts
	unitState     = "none"        // states shown through value mappings
)

// Selectors of the series the variables choose.
const (
	selJob      = `job=~"$job", instance=~"$instance"`
	selPipeline = `job=~"$job", instance=~"$instance", pipeline=~"$pipeline"`
	selSLO      = `slo=~"$slo"`
)

// datasource refers panels and variables to the dashboard's datasource
// variable.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr("${datasource}")}
}

// query is a range query of expr with a legend.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(datasource()).Expr(expr).LegendFormat(legend).Range()
}

// datasourceVar is the datasource variable: any Prometheus.
func datasourceVar() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")
}

// labelVar is a query variable over the values of label in series.
func labelVar(name, label, series string, multi bool) *dashboard.QueryVariableBuilder {
	def := "label_values(" + series + ", " + name + ")"
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource()).
		Query(dashboard.StringOrMap{String: ptr(def)}).
		Definition(def).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(multi).
		IncludeAll(multi).
		AllValue(".*")
}

// commonVars are the variables of every dashboard: datasource, job,
// instance and pipeline (multi-valued unless single).
func commonVars(d *dashboard.DashboardBuilder, singlePipeline bool) *dashboard.DashboardBuilder {
	return d.
		WithVariable(datasourceVar()).
		WithVariable(labelVar("job", "Job", "fusebox_calls_total", true)).
		WithVariable(labelVar("instance", "Instance", `fusebox_calls_total{job=~"$job"}`, true)).
		WithVariable(labelVar("pipeline", "Pipeline", `fusebox_calls_total{`+selJob+`}`, !singlePipeline))
}

// newDashboard starts a dashboard with Fusebox's common settings.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"fusebox", "resilience"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("10s").
		Time("now-30m", "now").
		Timezone("browser").
		Link(dashboard.NewDashboardLinkBuilder("Fusebox").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"fusebox"}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true))
}

// breakerStateExpr is the state of the pipeline's breaker as one number
// per instance: 0 closed, 1 open, 2 half-open, 3 forced open, 4 forced
// closed (the one-hot gauge weighted by state).
func breakerStateExpr() string {
	s := func(state string) string {
		return `fusebox_breaker_state{` + selPipeline + `, state="` + state + `"}`
	}
	return "max by (instance, pipeline) (\n" +
		"  " + s("closed") + " * 0\n" +
		"  or " + s("open") + " * 1\n" +
		"  or " + s("half_open") + " * 2\n" +
		"  or " + s("forced_open") + " * 3\n" +
		"  or " + s("forced_closed") + " * 4\n)"
}

// breakerStateMappings names and colours the numbers of breakerStateExpr.
func breakerStateMappings() []dashboard.ValueMapping {
	m := dashboard.NewValueMap()
	for i, s := range []struct{ value, text, color string }{
		{"0", "closed", "green"}, {"1", "open", "red"}, {"2", "half open", "yellow"},
		{"3", "forced open", "purple"}, {"4", "forced closed", "blue"},
	} {
		m.Options[s.value] = dashboard.ValueMappingResult{Text: ptr(s.text), Color: ptr(s.color), Index: ptr(int32(i))}
	}
	return []dashboard.ValueMapping{{ValueMap: m}}
}

// thresholds are absolute colour steps: base colour, then value/colour
// pairs.
func thresholds(base string, steps ...any) *dashboard.ThresholdsConfigBuilder {
	ts := []dashboard.Threshold{{Color: base}}
	for i := 0; i+1 < len(steps); i += 2 {
		ts = append(ts, dashboard.Threshold{Value: ptr(steps[i].(float64)), Color: steps[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(ts)
}

// cogPanel is any panel builder.
type cogPanel = cog.Builder[dashboard.Panel]
