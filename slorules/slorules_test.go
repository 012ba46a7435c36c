package slorules_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/slorules"
)

func validSLOs() []alerting.SLOConfig {
	return []alerting.SLOConfig{
		{Name: "checkout-availability", Pipeline: "checkout", SLI: alerting.SLIAvailability, Objective: 99.9, Period: time.Hour},
		{Name: "search-latency", Pipeline: "search", SLI: alerting.SLILatency, Objective: 99, LatencyThreshold: 250 * time.Millisecond},
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string            `yaml:"record"`
			Alert  string            `yaml:"alert"`
			Expr   string            `yaml:"expr"`
			For    string            `yaml:"for"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func parse(t *testing.T, out []byte) ruleFile {
	t.Helper()
	var f ruleFile
	if err := yaml.Unmarshal(out, &f); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, out)
	}
	return f
}

func TestGenerateRecordsEveryWindowAndTheSlothMetadata(t *testing.T) {
	out, err := slorules.Generate(validSLOs(), slorules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := parse(t, out)
	records := map[string]map[string]int{} // slo -> record name (+window) -> count
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record == "" {
				continue
			}
			slo := r.Labels["sloth_slo"]
			if records[slo] == nil {
				records[slo] = map[string]int{}
			}
			records[slo][r.Record]++
		}
	}
	for _, name := range []string{"checkout-availability", "search-latency"} {
		for _, rec := range []string{
			"slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m", "slo:sli_error:ratio_rate1h",
			"slo:sli_error:ratio_rate2h", "slo:sli_error:ratio_rate6h", "slo:sli_error:ratio_rate1d",
			"slo:sli_error:ratio_rate3d", "slo:objective:ratio", "slo:error_budget:ratio",
			"slo:time_period:days", "slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio",
			"slo:period_error_budget_remaining:ratio", "sloth_slo_info",
		} {
			if records[name][rec] != 1 {
				t.Errorf("SLO %s: %d rules record %s, want 1", name, records[name][rec], rec)
			}
		}
	}
	if records["search-latency"]["slo:sli_error:ratio_rate30d"] != 1 {
		t.Errorf("the 30-day SLO does not record its period's error ratio")
	}
	if records["checkout-availability"]["slo:sli_error:ratio_rate1h"] != 1 {
		t.Errorf("the one-hour SLO records its period's error ratio twice or not at all")
	}
}

func TestGenerateWritesTheEnginesBurnRateRows(t *testing.T) {
	out, err := slorules.Generate(validSLOs()[:1], slorules.Options{BreakerOpenFor: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ severity, long, short, factor string }
	var got []row
	var breakerFor string
	for _, g := range parse(t, out).Groups {
		for _, r := range g.Rules {
			switch r.Alert {
			case alerting.AlertErrorBudgetBurn:
				got = append(got, row{r.Labels["severity"], r.Labels["long_window"], r.Labels["short_window"], r.Labels["burn_rate"]})
				want := "(" + r.Labels["burn_rate"] + " * 0.001)"
				if strings.Count(r.Expr, want) != 2 {
					t.Errorf("alert expr does not compare both windows with %s:\n%s", want, r.Expr)
				}
			case alerting.AlertBreakerOpen:
				breakerFor = r.For
			}
		}
	}
	want := []row{{"page", "1h", "5m", "14.4"}, {"page", "6h", "30m", "6"}, {"ticket", "1d", "2h", "3"}, {"ticket", "3d", "6h", "1"}}
	if !slices.Equal(got, want) {
		t.Errorf("burn-rate rows = %v, want %v", got, want)
	}
	if breakerFor != "90s" {
		t.Errorf("breaker alert for = %q, want 90s", breakerFor)
	}
}

func TestGenerateMatchesTheLatencyBucketInBothExpositionFormats(t *testing.T) {
	slos := []alerting.SLOConfig{{Name: "a", Pipeline: "p", SLI: alerting.SLILatency, Objective: 99, LatencyThreshold: time.Second}}
	out, err := slorules.Generate(slos, slorules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `le=~"1|1\\.0"`) {
		t.Errorf("an integer bound is not matched as both 1 and 1.0:\n%s", out)
	}
	out, err = slorules.Generate(validSLOs(), slorules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `le="0.25"`) {
		t.Errorf("bucket 0.25 not selected:\n%s", out)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, err := slorules.Generate(validSLOs(), slorules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, _ := slorules.Generate(validSLOs(), slorules.Options{})
		if string(a) != string(b) {
			t.Fatal("two runs differ")
		}
	}
}

func TestGenerateRejectsBadInput(t *testing.T) {
	tests := []struct {
		name      string
		change    func(s *alerting.SLOConfig)
		opts      slorules.Options
		wantField string
		wantText  string
	}{
		{name: "an empty name", change: func(s *alerting.SLOConfig) { s.Name = " " }, wantField: "name"},
		{name: "an empty pipeline", change: func(s *alerting.SLOConfig) { s.Pipeline = "" }, wantField: "pipeline"},
		{name: "an SLI out of range", change: func(s *alerting.SLOConfig) { s.SLI = 9 }, wantField: "sli", wantText: "SLI(9)"},
		{name: "an objective of 100", change: func(s *alerting.SLOConfig) { s.Objective = 100 }, wantField: "objective", wantText: "100"},
		{name: "an objective of zero", change: func(s *alerting.SLOConfig) { s.Objective = 0 }, wantField: "objective"},
		{name: "a period under an hour", change: func(s *alerting.SLOConfig) { s.Period = 59 * time.Minute }, wantField: "period", wantText: "59m0s"},
		{name: "a period of fractional minutes", change: func(s *alerting.SLOConfig) { s.Period = time.Hour + time.Second }, wantField: "period"},
		{name: "an availability SLI with a threshold", change: func(s *alerting.SLOConfig) { s.LatencyThreshold = time.Second }, wantField: "latency_threshold"},
		{name: "a latency SLI without a threshold", change: func(s *alerting.SLOConfig) { s.SLI = alerting.SLILatency }, wantField: "latency_threshold"},
		{name: "a latency threshold between buckets", change: func(s *alerting.SLOConfig) {
			s.SLI, s.LatencyThreshold = alerting.SLILatency, 300*time.Millisecond
		}, wantField: "latency_threshold", wantText: "300ms"},
		{name: "a threshold outside custom buckets", change: func(s *alerting.SLOConfig) {
			s.SLI, s.LatencyThreshold = alerting.SLILatency, 500*time.Millisecond
		}, opts: slorules.Options{LatencyBuckets: []float64{0.1, 0.25, 1}}, wantField: "latency_threshold"},
		{name: "a duplicate name", change: func(s *alerting.SLOConfig) { s.Name = "search-latency" }, wantField: "name", wantText: "used by slos[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slos := validSLOs()
			slos = append(slos, slos[0])
			tt.change(&slos[2])
			out, err := slorules.Generate(slos, tt.opts)
			var fe *slorules.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FieldError", err)
			}
			if fe.Index != 2 || fe.Field != tt.wantField {
				t.Errorf("error names slos[%d].%s, want slos[2].%s", fe.Index, fe.Field, tt.wantField)
			}
			if !strings.Contains(err.Error(), "slos[2]."+tt.wantField) || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not name slos[2].%s and %q", err, tt.wantField, tt.wantText)
			}
			if out != nil {
				t.Errorf("wrote %d bytes despite the error", len(out))
			}
		})
	}
}

func TestGenerateRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts slorules.Options
		want string
	}{
		{"decreasing buckets", slorules.Options{LatencyBuckets: []float64{1, 0.5}}, "LatencyBuckets[1]"},
		{"a zero bucket", slorules.Options{LatencyBuckets: []float64{0}}, "LatencyBuckets[0]"},
		{"a negative breaker duration", slorules.Options{BreakerOpenFor: -time.Second}, "BreakerOpenFor"},
		{"a fractional breaker duration", slorules.Options{BreakerOpenFor: 1500 * time.Millisecond}, "BreakerOpenFor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := slorules.Generate(validSLOs(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestDurationUsesTheLargestWholeUnit(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Minute: "90m", 72 * time.Hour: "3d",
		30 * 24 * time.Hour: "30d", 90 * time.Second: "90s", 1500 * time.Millisecond: "1500ms",
	} {
		if got := slorules.Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func ExampleGenerate() {
	out, err := slorules.Generate([]alerting.SLOConfig{{
		Name: "checkout-availability", Pipeline: "checkout", SLI: alerting.SLIAvailability, Objective: 99.9,
	}}, slorules.Options{})
	if err != nil {
		panic(err)
	}
	_ = out // write it to a file Prometheus loads with rule_files
}

func TestAnSLOWithoutAnSLIMeasuresAvailability(t *testing.T) {
	slo := validSLOs()[0]
	want, err := slorules.Generate([]alerting.SLOConfig{slo}, slorules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	slo.SLI = alerting.SLIUnset
	got, err := slorules.Generate([]alerting.SLOConfig{slo}, slorules.Options{})
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("without an SLI: %v, rules differ from those of availability: %s", err, got)
	}
}
