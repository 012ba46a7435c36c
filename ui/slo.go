package ui

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/ui/templates"
)

// The viewBox size of the budget chart (see slo.templ).
const budgetW, budgetH = 600.0, 120.0

// slosPage renders GET /slos.
func (s *Server) slosPage(c echo.Context) error {
	view := templates.SLOs{Enabled: s.cfg.SLOs != nil}
	if s.cfg.SLOs != nil {
		view.Items = s.sloViews(s.cfg.SLOs.Statuses(true), s.alerts())
	}
	p := s.page(c, "SLOs", "slos")
	p.Events = "/events?page=slos"
	return s.render(c, http.StatusOK, layout(p, templates.SLOsPage(view)))
}

// pipelineSLOs returns the SLO sections of a pipeline; nil without any.
func (s *Server) pipelineSLOs(pipeline string) []templates.SLO {
	if s.cfg.SLOs == nil {
		return nil
	}
	sts := s.cfg.SLOs.ForPipeline(pipeline)
	if len(sts) == 0 {
		return nil
	}
	return s.sloViews(sts, s.alerts())
}

// burnKey finds the burn-rate alert of an SLO's row.
type burnKey struct{ slo, long string }

// sloViews formats SLO statuses, each alert row with the state of its
// alert among as.
func (s *Server) sloViews(sts []alerting.SLOStatus, as []alerting.Alert) []templates.SLO {
	states := map[burnKey]alerting.AlertState{}
	rank := map[alerting.AlertState]int{alerting.AlertFiring: 3, alerting.AlertPending: 2, alerting.AlertResolved: 1}
	for _, a := range as {
		if a.Name != alerting.AlertErrorBudgetBurn || a.Source == alerting.SourceAlertmanager {
			continue
		}
		k := burnKey{a.Labels["slo"], a.Labels["long_window"]}
		if rank[a.State] > rank[states[k]] {
			states[k] = a.State
		}
	}
	out := make([]templates.SLO, len(sts))
	for i := range sts {
		out[i] = s.sloView(&sts[i], states)
	}
	return out
}

// sloView formats one SLO's status.
func (s *Server) sloView(st *alerting.SLOStatus, states map[burnKey]alerting.AlertState) templates.SLO {
	v := templates.SLO{
		ID: "slo-" + st.Name, Name: st.Name, Pipeline: st.Pipeline,
		PipelineURL: "/pipelines/" + url.PathEscape(st.Pipeline),
		SLI:         "availability",
		Objective:   strconv.FormatFloat(st.Objective, 'f', -1, 64) + "%",
		Period:      fmtSpan(st.Period),
		BudgetLeft:  fmtBudgetLeft(st.BudgetRemaining),
		BudgetClass: budgetClass(st.BudgetRemaining),
		Chart:       s.budgetChart(st.BudgetHistory),
	}
	if st.SLI == alerting.SLILatency {
		v.SLI = "latency ≤ " + fmtDur(st.LatencyThreshold)
	}
	bad := st.Total - st.Good
	if st.Total > 0 {
		v.Availability = fmtAvailability(st.Availability)
		v.Calls = fmtCount(st.Total) + " calls, " + fmtCount(bad) + " bad"
		if st.BudgetRemainingCalls >= 0 {
			v.BudgetCalls = "≈ " + fmtCount(st.BudgetRemainingCalls) + " of " + fmtCount(st.BudgetTotal) + " bad calls left"
		} else {
			v.BudgetCalls = "overspent by ≈ " + fmtCount(-st.BudgetRemainingCalls) + " bad calls"
		}
		if st.Coverage > 0 && st.Coverage < st.Period {
			v.Coverage = "The history covers " + fmtSpan(st.Coverage) + " of the " + v.Period +
				" period; the budget extrapolates the calls seen so far."
		}
	} else {
		v.Availability, v.Calls, v.BudgetCalls = "–", "no calls yet", "no calls yet"
	}
	switch {
	case st.Total > 0 && st.BudgetRemaining <= 0:
		v.Exhaustion = "spent"
	case !st.Exhausts || st.TimeToExhaustion <= 0 || st.TimeToExhaustion == time.Duration(math.MaxInt64):
		v.Exhaustion = "not burning"
	default:
		v.Exhaustion, v.ExhaustionNote = "in "+fmtSpan(st.TimeToExhaustion), "at the 1h burn rate"
	}
	for _, b := range st.BurnRates {
		v.Burns = append(v.Burns, templates.Burn{Window: b.Window.Name, Rate: fmtBurn(b.Rate), Class: burnClass(b.Rate)})
	}
	for _, row := range alerting.BurnRateAlerts() {
		long, short := st.Burn(row.Long.Name), st.Burn(row.Short.Name)
		a := templates.BurnAlert{
			Severity: row.Severity, Long: row.Long.Name, Short: row.Short.Name,
			LongRate: fmtBurn(long), ShortRate: fmtBurn(short),
			Threshold: fmtBurn(row.Factor),
			Spends:    spends(row.Factor, row.Long, st.Period),
		}
		switch states[burnKey{st.Name, row.Long.Name}] {
		case alerting.AlertFiring:
			a.Status, a.Class = "firing", "alert-firing"
		case alerting.AlertPending:
			a.Status, a.Class = "pending", "alert-pending"
		default:
			if long > row.Factor && short > row.Factor {
				a.Status, a.Class = "over threshold", "burn-warn"
			} else {
				a.Status, a.Class = "ok", "burn-ok"
			}
		}
		v.Alerts = append(v.Alerts, a)
	}
	return v
}

// spends says how much of the budget a burn at factor over the long window
// spends ("2% of the budget in 1h"), or how soon it spends all of it.
func spends(factor float64, long alerting.BurnWindow, period time.Duration) string {
	if period <= 0 {
		return ""
	}
	share := factor * float64(long.Duration) / float64(period)
	if share >= 1 {
		return "all of it in " + fmtSpan(time.Duration(float64(period)/factor))
	}
	return strings.TrimSuffix(fmtBudget(share, 1), ".0%") + "% of the budget in " + long.Name
}

// budgetChart draws the budget left over the period: 100 % at the top,
// 0 % (or the lowest overspent value) at the bottom.
func (s *Server) budgetChart(h []alerting.BudgetPoint) templates.BudgetChart {
	c := templates.BudgetChart{Empty: len(h) < 2}
	if c.Empty {
		return c
	}
	top, bottom := 1.0, 0.0
	lowest := math.Inf(1)
	for _, p := range h {
		top, bottom, lowest = max(top, p.Remaining), min(bottom, p.Remaining), min(lowest, p.Remaining)
	}
	y := func(v float64) float64 { return 2 + (top-v)/(top-bottom)*(budgetH-4) }
	step := budgetW / float64(len(h)-1)
	line := make([]byte, 0, len(h)*12)
	for i, p := range h {
		if i > 0 {
			line = append(line, ' ')
		}
		line = appendNum(line, float64(i)*step)
		line = append(line, ',')
		line = appendNum(line, y(p.Remaining))
	}
	zero := fmtNum(y(0))
	c.Line = string(line)
	c.Area = c.Line + " " + fmtNum(budgetW) + "," + zero + " 0," + zero
	c.ZeroY = zero
	c.Top, c.Bottom = fmtBudget(top, 0), fmtBudget(bottom, 0)
	c.From, c.To = s.stamp(h[0].Time), s.stamp(h[len(h)-1].Time)
	c.Label = "error budget left from " + c.From + " to " + c.To + ": now " + fmtBudget(h[len(h)-1].Remaining, 1) +
		", lowest " + fmtBudget(lowest, 1)
	return c
}

// tileBudgets returns, per pipeline, the budget line of its SLO with the
// least budget left.
func (s *Server) tileBudgets() map[string]*templates.Budget {
	if s.cfg.SLOs == nil {
		return nil
	}
	worst := map[string]alerting.SLOStatus{}
	for _, st := range s.cfg.SLOs.Statuses(false) {
		if w, ok := worst[st.Pipeline]; !ok || st.BudgetRemaining < w.BudgetRemaining {
			worst[st.Pipeline] = st
		}
	}
	out := make(map[string]*templates.Budget, len(worst))
	for p, st := range worst {
		out[p] = tileBudget(st)
	}
	return out
}

// tileBudget is the tile's line of an SLO: "budget 62% left · burn 14.9×".
func tileBudget(st alerting.SLOStatus) *templates.Budget {
	b := &templates.Budget{
		Burn:  "burn " + fmtBurn(st.Burn("1h")),
		Class: budgetClass(st.BudgetRemaining),
		Title: st.Name + ": " + strconv.FormatFloat(st.Objective, 'f', -1, 64) + "% over " + fmtSpan(st.Period) + "; burn rate over the last hour",
	}
	if b.Class == "budget-ok" && st.Burn("1h") >= 6 {
		b.Class = "budget-low" // plenty left, but burning at a paging rate
	}
	if st.BudgetRemaining > 0 {
		decimals := 0
		if st.BudgetRemaining < 0.1 {
			decimals = 1
		}
		b.Left = fmtBudget(st.BudgetRemaining, decimals) + " left"
	} else {
		b.Left = fmtOverspent(st.BudgetRemaining)
	}
	return b
}

// budgetClass colours a budget left: out when spent, low under a quarter.
func budgetClass(r float64) string {
	switch {
	case r <= 0:
		return "budget-out"
	case r < 0.25:
		return "budget-low"
	}
	return "budget-ok"
}

// burnClass colours a burn rate: ok below 1×, bad from the 6× page row.
func burnClass(r float64) string {
	switch {
	case r >= 6:
		return "burn-bad"
	case r >= 1:
		return "burn-warn"
	}
	return "burn-ok"
}

// fmtBudget formats a share of the budget as a percentage with decimals
// ("62.04%", "-12%").
func fmtBudget(r float64, decimals int) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "–"
	}
	v := r * 100
	if math.Abs(v) < 0.5*math.Pow10(-decimals) {
		v = 0 // no "-0%"
	}
	return strconv.FormatFloat(v, 'f', decimals, 64) + "%"
}

// fmtBudgetLeft formats the budget left with two decimals ("62.04%"), or
// by how much it is overspent ("overspent 14.6×").
func fmtBudgetLeft(r float64) string {
	if r < 0 {
		return fmtOverspent(r)
	}
	return fmtBudget(r, 2)
}

// fmtOverspent says how far a budget is spent: "spent" at zero, and past
// it by the bad calls beyond the budget, as a share of the budget
// ("overspent 40%") or, from one budget on, as a count of budgets
// ("overspent 115×").
func fmtOverspent(r float64) string {
	if r >= 0 || math.IsNaN(r) {
		return "spent"
	}
	over := -r
	if over < 0.005 { // would read "overspent 0%"
		return "spent"
	}
	if over < 1 {
		return "overspent " + fmtBudget(over, 0)
	}
	return "overspent " + fmtBurn(over)
}

// fmtAvailability formats an availability with enough decimals to compare
// it with objectives like 99.95 % ("99.62%", "100%").
func fmtAvailability(r float64) string {
	if r >= 1 {
		return "100%"
	}
	v := math.Floor(r*1e4) / 100 // truncate: 99.999 must not read 100
	return strconv.FormatFloat(v, 'f', 2, 64) + "%"
}

// fmtBurn formats a burn rate ("0×", "0.04×", "14.9×", "120×").
func fmtBurn(r float64) string {
	switch {
	case r <= 0 || math.IsNaN(r):
		return "0×"
	case r < 0.1:
		return strconv.FormatFloat(r, 'f', 2, 64) + "×"
	case r >= 100:
		return strconv.FormatFloat(r, 'f', 0, 64) + "×"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + "×"
}

// fmtCount formats a count of calls with thousands separators ("12,345").
func fmtCount(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	n := int64(math.Round(x))
	neg := n < 0
	if neg {
		n = -n
	}
	d := strconv.FormatInt(n, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fmtSpan formats a long duration in its two largest units ("30d", "2d4h",
// "3h12m", "45m", "30s").
func fmtSpan(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	const day = 24 * time.Hour
	if d >= 365*day {
		return "over a year"
	}
	type unit struct {
		d    time.Duration
		name string
	}
	units := []unit{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for i, u := range units {
		if d < u.d {
			continue
		}
		n := d / u.d
		out := strconv.FormatInt(int64(n), 10) + u.name
		if i+1 < len(units) {
			next := units[i+1]
			if m := (d - n*u.d) / next.d; m > 0 {
				out += strconv.FormatInt(int64(m), 10) + next.name
			}
		}
		return out
	}
	return "<1s"
}
