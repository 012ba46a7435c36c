// Package slorules turns service-level objectives into a Prometheus rule
// file: recording rules for the error ratio of each SLO over the windows the
// in-process SLO engine uses, multiwindow multi-burn-rate alerts with the
// engine's thresholds, and alerts on open circuit breakers.
//
// Recorded series carry Sloth's names and labels (slo:sli_error:ratio_rate5m,
// slo:objective:ratio, slo:error_budget:ratio,
// slo:period_error_budget_remaining:ratio…, with sloth_id, sloth_service and
// sloth_slo) so dashboards built for Sloth work unchanged; they also carry
// Fusebox's own slo and pipeline labels.
//
//	out, err := slorules.Generate(slos, slorules.Options{})
//
// What an SLO measures (alerting.SLI), its default and shortest period,
// the burn-rate windows and alert rows, and the alert names are those of
// package alerting, which evaluates the same SLOs in process; the latency
// buckets are telemetry.DefaultLatencyBuckets. The package imports the
// standard library, a YAML encoder, alerting and telemetry.
package slorules

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// DefaultBreakerOpenFor is how long a breaker must stay open before the
// BreakerOpen alert fires, when Options.BreakerOpenFor is zero.
const DefaultBreakerOpenFor = 5 * time.Minute

// SLO is a service-level objective on a pipeline.
type SLO struct {
	// Name identifies the SLO (the slo label); required and unique.
	Name string
	// Pipeline is the pipeline whose calls the SLO judges; required.
	Pipeline string
	// SLI is alerting.SLIAvailability or alerting.SLILatency; required.
	SLI alerting.SLI
	// Objective is the target share of good calls, in percent, in (0, 100).
	Objective float64
	// Period is the span the error budget covers, at least
	// alerting.MinSLOPeriod and a whole number of minutes. Zero means
	// alerting.DefaultSLOPeriod.
	Period time.Duration
	// LatencyThreshold is the latency a good call stays within; required
	// for a latency SLI, where it must be one of the histogram's bucket
	// bounds, and zero for an availability SLI.
	LatencyThreshold time.Duration
	// IgnoreRejected leaves the calls a breaker, bulkhead or retry budget
	// refused (fusebox_calls_total{outcome="rejected"}) out of the SLI. By
	// default they are bad for every SLI: for latency they are taken out of
	// the good calls of the threshold's bucket, which their fast refusal
	// would otherwise land in.
	IgnoreRejected bool
}

// Options tune Generate. The zero value works.
type Options struct {
	// LatencyBuckets are the classic bucket bounds, in seconds, of
	// fusebox_call_duration_seconds. Nil means
	// telemetry.DefaultLatencyBuckets.
	LatencyBuckets []float64
	// BreakerOpenFor is how long a breaker must stay open before
	// BreakerOpen fires. Zero means DefaultBreakerOpenFor.
	BreakerOpenFor time.Duration
}

// FieldError reports an invalid field of the SLO at Index.
type FieldError struct {
	// Index is the position of the SLO in the slice given to Generate.
	Index int
	// Field is the name of the field, in lower case ("objective").
	Field string
	// Value is the offending value.
	Value any
	// Reason says what is expected.
	Reason string
}

// Error implements error.
func (e *FieldError) Error() string {
	return fmt.Sprintf("slorules: slos[%d].%s = %v: %s", e.Index, e.Field, e.Value, e.Reason)
}

// Generate returns the Prometheus rule file for slos: per SLO a group of
// SLI recordings, a group of metadata recordings and a group of burn-rate
// alerts, then a group of breaker alerts. Its output is deterministic. It
// returns a *FieldError for the first invalid SLO, or an error naming an
// invalid option; it then returns no rules.
func Generate(slos []SLO, opts Options) ([]byte, error) {
	if opts.LatencyBuckets == nil {
		opts.LatencyBuckets = telemetry.DefaultLatencyBuckets
	}
	for i, b := range opts.LatencyBuckets {
		if math.IsNaN(b) || math.IsInf(b, 0) || b <= 0 || (i > 0 && b <= opts.LatencyBuckets[i-1]) {
			return nil, fmt.Errorf("slorules: Options.LatencyBuckets[%d] = %v: bounds must be finite, positive and increasing", i, b)
		}
	}
	if opts.BreakerOpenFor < 0 || opts.BreakerOpenFor%time.Second != 0 {
		return nil, fmt.Errorf("slorules: Options.BreakerOpenFor = %v: must be a positive whole number of seconds", opts.BreakerOpenFor)
	}
	if opts.BreakerOpenFor == 0 {
		opts.BreakerOpenFor = DefaultBreakerOpenFor
	}
	seen := make(map[string]int, len(slos))
	var file ruleFile
	for i, s := range slos {
		if s.Period == 0 {
			s.Period = alerting.DefaultSLOPeriod
		}
		if err := validate(i, s, opts.LatencyBuckets); err != nil {
			return nil, err
		}
		if j, ok := seen[s.Name]; ok {
			return nil, &FieldError{Index: i, Field: "name", Value: strconv.Quote(s.Name), Reason: fmt.Sprintf("used by slos[%d] already", j)}
		}
		seen[s.Name] = i
		file.Groups = append(file.Groups, sliGroup(s), metaGroup(s), alertGroup(s))
	}
	file.Groups = append(file.Groups, breakerGroup(opts.BreakerOpenFor))
	var buf bytes.Buffer
	buf.WriteString("# Generated by Fusebox from its SLO configuration; do not edit.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(file); err != nil {
		return nil, fmt.Errorf("slorules: encoding rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("slorules: encoding rules: %w", err)
	}
	return buf.Bytes(), nil
}

func validate(i int, s SLO, buckets []float64) error {
	bad := func(field string, v any, reason string) error {
		return &FieldError{Index: i, Field: field, Value: v, Reason: reason}
	}
	switch {
	case strings.TrimSpace(s.Name) == "":
		return bad("name", strconv.Quote(s.Name), "must not be empty")
	case strings.TrimSpace(s.Pipeline) == "":
		return bad("pipeline", strconv.Quote(s.Pipeline), "must not be empty")
	case s.SLI != alerting.SLIAvailability && s.SLI != alerting.SLILatency:
		return bad("sli", strconv.Quote(s.SLI.String()), `must be "availability" or "latency"`)
	case math.IsNaN(s.Objective) || s.Objective <= 0 || s.Objective >= 100:
		return bad("objective", s.Objective, "must be a percentage in (0, 100)")
	case s.Period < alerting.MinSLOPeriod || s.Period%time.Minute != 0:
		return bad("period", s.Period, "must be at least 1h and a whole number of minutes")
	}
	switch s.SLI {
	case alerting.SLIAvailability:
		if s.LatencyThreshold != 0 {
			return bad("latency_threshold", s.LatencyThreshold, "must be unset for an availability SLI")
		}
	case alerting.SLILatency:
		if !slices.Contains(buckets, s.LatencyThreshold.Seconds()) {
			return bad("latency_threshold", s.LatencyThreshold,
				"must be one of the bucket bounds of fusebox_call_duration_seconds ("+bounds(buckets)+")")
		}
	}
	return nil
}

func bounds(buckets []float64) string {
	s := make([]string, len(buckets))
	for i, b := range buckets {
		s[i] = time.Duration(b * float64(time.Second)).String()
	}
	return strings.Join(s, ", ")
}

type ruleFile struct {
	Groups []group `yaml:"groups"`
}

type group struct {
	Name  string `yaml:"name"`
	Rules []rule `yaml:"rules"`
}

type rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// labels are the labels every series of s carries.
func labels(s SLO) map[string]string {
	return map[string]string{
		"sloth_id":      s.Name,
		"sloth_service": s.Pipeline,
		"sloth_slo":     s.Name,
		"slo":           s.Name,
		"pipeline":      s.Pipeline,
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// selector is the PromQL selector of the series of s recorded by name.
func selector(s SLO) string {
	return fmt.Sprintf(`{sloth_id=%s, sloth_service=%s, sloth_slo=%s}`, quote(s.Name), quote(s.Pipeline), quote(s.Name))
}

// quote returns v as a PromQL string literal.
func quote(v string) string { return strconv.Quote(v) }

// Duration returns d in Prometheus notation, in its largest whole unit:
// 5m, 1h, 1d, 30d.
func Duration(d time.Duration) string {
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.s
		}
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// Number returns v as a PromQL number, rounded to 12 significant digits so
// that 1 - 0.999 reads 0.001.
func Number(v float64) string {
	return strconv.FormatFloat(mustParse(strconv.FormatFloat(v, 'g', 12, 64)), 'g', -1, 64)
}

func mustParse(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err) // unreachable: s was formatted by strconv
	}
	return v
}

// leMatcher matches the le label of the bucket bounded by seconds in both
// exposition formats: the text format writes 1, OpenMetrics 1.0.
func leMatcher(seconds float64) string {
	le := strconv.FormatFloat(seconds, 'g', -1, 64)
	if strings.ContainsAny(le, ".e") {
		return "le=" + quote(le)
	}
	return "le=~" + quote(le+`|`+le+`\.0`)
}

// errorRatio is the PromQL error ratio of s over window.
func errorRatio(s SLO, window string) string {
	p := "pipeline=" + quote(s.Pipeline)
	rejected := fmt.Sprintf("(sum(rate(fusebox_calls_total{%s, outcome=\"rejected\"}[%s])) or vector(0))", p, window)
	if s.SLI == alerting.SLILatency {
		// A refusal is fast: its duration lands in the threshold's bucket.
		if s.IgnoreRejected {
			return fmt.Sprintf("1 - (\n  (sum(rate(fusebox_call_duration_seconds_bucket{%s, %s}[%s])) - %s)\n  /\n  (sum(rate(fusebox_call_duration_seconds_count{%s}[%s])) - %s)\n)",
				p, leMatcher(s.LatencyThreshold.Seconds()), window, rejected, p, window, rejected)
		}
		return fmt.Sprintf("1 - (\n  (sum(rate(fusebox_call_duration_seconds_bucket{%s, %s}[%s])) - %s)\n  /\n  sum(rate(fusebox_call_duration_seconds_count{%s}[%s]))\n)",
			p, leMatcher(s.LatencyThreshold.Seconds()), window, rejected, p, window)
	}
	if s.IgnoreRejected {
		return fmt.Sprintf("1 - (\n  sum(rate(fusebox_calls_total{%s, outcome=\"success\"}[%s]))\n  /\n  (sum(rate(fusebox_calls_total{%s}[%s])) - %s)\n)",
			p, window, p, window, rejected)
	}
	return fmt.Sprintf("1 - (\n  sum(rate(fusebox_calls_total{%s, outcome=\"success\"}[%s]))\n  /\n  sum(rate(fusebox_calls_total{%s}[%s]))\n)",
		p, window, p, window)
}

func sliGroup(s SLO) group {
	g := group{Name: "fusebox-slo-sli-recordings-" + s.Name}
	windows := alerting.BurnWindows()
	for _, w := range windows {
		ws := Duration(w.Duration)
		g.Rules = append(g.Rules, rule{
			Record: "slo:sli_error:ratio_rate" + ws,
			Expr:   errorRatio(s, ws),
			Labels: with(labels(s), "sloth_window", ws),
		})
	}
	if !slices.ContainsFunc(windows, func(w alerting.BurnWindow) bool { return w.Duration == s.Period }) {
		ps := Duration(s.Period)
		sel := selector(s)
		g.Rules = append(g.Rules, rule{
			Record: "slo:sli_error:ratio_rate" + ps,
			Expr: fmt.Sprintf("sum_over_time(slo:sli_error:ratio_rate5m%s[%s])\n/ ignoring (sloth_window)\ncount_over_time(slo:sli_error:ratio_rate5m%s[%s])",
				sel, ps, sel, ps),
			Labels: with(labels(s), "sloth_window", ps),
		})
	}
	return g
}

func metaGroup(s SLO) group {
	sel := selector(s)
	objective := s.Objective / 100
	budget := 1 - objective
	l := labels(s)
	return group{Name: "fusebox-slo-meta-recordings-" + s.Name, Rules: []rule{
		{Record: "slo:objective:ratio", Expr: "vector(" + Number(objective) + ")", Labels: l},
		{Record: "slo:error_budget:ratio", Expr: "vector(" + Number(budget) + ")", Labels: l},
		{Record: "slo:time_period:days", Expr: "vector(" + Number(s.Period.Hours()/24) + ")", Labels: l},
		{Record: "slo:current_burn_rate:ratio", Expr: fmt.Sprintf(
			"slo:sli_error:ratio_rate5m%s\n/ on (sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio%s", sel, sel), Labels: l},
		{Record: "slo:period_burn_rate:ratio", Expr: fmt.Sprintf(
			"slo:sli_error:ratio_rate%s%s\n/ on (sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio%s", Duration(s.Period), sel, sel), Labels: l},
		{Record: "slo:period_error_budget_remaining:ratio", Expr: "1 - slo:period_burn_rate:ratio" + sel, Labels: l},
		{Record: "sloth_slo_info", Expr: "vector(1)", Labels: with(l,
			"sloth_mode", "fusebox", "sloth_objective", strconv.FormatFloat(s.Objective, 'g', -1, 64),
			"sloth_sli", s.SLI.String())},
	}}
}

func alertGroup(s SLO) group {
	sel := selector(s)
	g := group{Name: "fusebox-slo-alerts-" + s.Name}
	budget := Number(1 - s.Objective/100)
	for _, a := range alerting.BurnRateAlerts() {
		long, short := Duration(a.Long.Duration), Duration(a.Short.Duration)
		threshold := fmt.Sprintf("(%s * %s)", Number(a.Factor), budget)
		g.Rules = append(g.Rules, rule{
			Alert: alerting.AlertErrorBudgetBurn,
			Expr: fmt.Sprintf("max without (sloth_window) (slo:sli_error:ratio_rate%s%s > %s)\nand\nmax without (sloth_window) (slo:sli_error:ratio_rate%s%s > %s)",
				long, sel, threshold, short, sel, threshold),
			Labels: with(labels(s), "severity", a.Severity, "long_window", long, "short_window", short,
				"burn_rate", Number(a.Factor)),
			Annotations: map[string]string{
				"title": fmt.Sprintf("%s is burning its error budget %s× too fast", s.Name, Number(a.Factor)),
				"summary": fmt.Sprintf("The error ratio of %s (pipeline %s, objective %s %%) exceeds %s× its budget over %s and %s.",
					s.Name, s.Pipeline, strconv.FormatFloat(s.Objective, 'g', -1, 64), Number(a.Factor), long, short),
			},
		})
	}
	return g
}

func breakerGroup(openFor time.Duration) group {
	return group{Name: "fusebox-breakers", Rules: []rule{
		{
			Alert:  alerting.AlertBreakerOpen,
			Expr:   `fusebox_breaker_state{state="open"} == 1`,
			For:    Duration(openFor),
			Labels: map[string]string{"severity": "ticket"},
			Annotations: map[string]string{
				"title":   "Breaker of {{ $labels.pipeline }} is open",
				"summary": "The circuit breaker of pipeline {{ $labels.pipeline }} (job {{ $labels.job }}) has been open for " + Duration(openFor) + ": its downstream is failing.",
			},
		},
		{
			Alert:  alerting.AlertBreakerForcedOpen,
			Expr:   `fusebox_breaker_state{state="forced_open"} == 1`,
			Labels: map[string]string{"severity": "info"},
			Annotations: map[string]string{
				"title":   "Breaker of {{ $labels.pipeline }} is forced open",
				"summary": "An operator forced the circuit breaker of pipeline {{ $labels.pipeline }} (job {{ $labels.job }}) open: its calls are refused.",
			},
		},
	}}
}
