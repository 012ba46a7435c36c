package grafana_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/fusebox-dev/fusebox/grafana"
)

func generated(t *testing.T) []grafana.File {
	t.Helper()
	files, err := grafana.Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("%d dashboards, want Overview, Pipeline detail and SLOs", len(files))
	}
	return files
}

func TestCommittedDashboardsAreCurrent(t *testing.T) {
	for _, f := range generated(t) {
		committed, err := os.ReadFile(filepath.Join("dashboards", f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(committed, f.JSON) {
			t.Errorf("dashboards/%s is stale; regenerate with: cd grafana && go generate ./...", f.Name)
		}
	}
	entries, err := filepath.Glob("dashboards/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Errorf("dashboards/ holds %v; want exactly the generated files", entries)
	}
}

func TestCommittedDashboardsPassTheSDKsStrictDecoder(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	paths, err := filepath.Glob("dashboards/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no committed dashboards (%v)", err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var d dashboard.Dashboard
			if errs := failures(d.UnmarshalJSONStrict(raw)); len(errs) > 0 {
				t.Fatalf("strict decoding: %v", errs)
			}
			// v0.0.22 checks panels, their queries and options strictly but
			// drops them when they are valid (PanelOrRowPanel, Panel and the
			// variant runtime return early on a typed-nil error list), so
			// decode them one by one to check and keep them.
			var rawPanels struct {
				Panels []json.RawMessage `json:"panels"`
			}
			if err := json.Unmarshal(raw, &rawPanels); err != nil {
				t.Fatal(err)
			}
			if len(d.Panels) != len(rawPanels.Panels) {
				t.Fatalf("decoded %d panels of %d", len(d.Panels), len(rawPanels.Panels))
			}
			for i, rp := range rawPanels.Panels {
				var kind struct {
					Type string `json:"type"`
				}
				if err := json.Unmarshal(rp, &kind); err != nil {
					t.Fatal(err)
				}
				if kind.Type == "row" {
					row := &dashboard.RowPanel{}
					if errs := failures(row.UnmarshalJSONStrict(rp)); len(errs) > 0 {
						t.Fatalf("strict decoding of panel %d: %v", i, errs)
					}
					if row.Panels == nil {
						row.Panels = []dashboard.Panel{} // decoded from []
					}
					d.Panels[i] = dashboard.PanelOrRowPanel{RowPanel: row}
					continue
				}
				panel := &dashboard.Panel{}
				if errs := failures(panel.UnmarshalJSONStrict(rp)); len(errs) > 0 {
					t.Fatalf("strict decoding of panel %d: %v", i, errs)
				}
				if err := strictPanelParts(rp, panel); err != nil {
					t.Fatalf("strict decoding of panel %d: %v", i, err)
				}
				d.Panels[i] = dashboard.PanelOrRowPanel{Panel: panel}
			}
			if errs := failures(d.Validate()); len(errs) > 0 {
				t.Fatalf("validation: %v", errs)
			}
			again, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &b); err != nil {
				t.Fatal(err)
			}
			for _, d := range diff(a, b, "") {
				t.Errorf("decoding and encoding again changes %s", d)
			}
		})
	}
}

// strictDecoder is a type of the SDK with a strict JSON decoder.
type strictDecoder interface{ UnmarshalJSONStrict([]byte) error }

// panelParts are the strictly decoded options and custom field config of
// the panel types the dashboards use (nil: the type has none).
var panelParts = map[string]struct{ options, custom func() strictDecoder }{
	"timeseries":     {func() strictDecoder { return &timeseries.Options{} }, func() strictDecoder { return &timeseries.FieldConfig{} }},
	"state-timeline": {func() strictDecoder { return &statetimeline.Options{} }, func() strictDecoder { return &statetimeline.FieldConfig{} }},
	"heatmap":        {func() strictDecoder { return &heatmap.Options{} }, func() strictDecoder { return &heatmap.FieldConfig{} }},
	"stat":           {func() strictDecoder { return &stat.Options{} }, nil},
	"bargauge":       {func() strictDecoder { return &bargauge.Options{} }, nil},
}

// strict decodes raw into v strictly.
func strict(raw []byte, v strictDecoder) error {
	if errs := failures(v.UnmarshalJSONStrict(raw)); len(errs) > 0 {
		return errs
	}
	return nil
}

// strictPanelParts decodes the queries, options and custom field config of
// the panel in raw with the SDK's strict decoders of its panel type and of
// Prometheus queries, and sets them on p.
func strictPanelParts(raw []byte, p *dashboard.Panel) error {
	var parts struct {
		Type        string            `json:"type"`
		Targets     []json.RawMessage `json:"targets"`
		Options     json.RawMessage   `json:"options"`
		FieldConfig struct {
			Defaults struct {
				Custom json.RawMessage `json:"custom"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return err
	}
	kind, ok := panelParts[parts.Type]
	if !ok {
		return fmt.Errorf("panel type %q is not checked by this test", parts.Type)
	}
	if parts.Options != nil {
		opts := kind.options()
		if err := strict(parts.Options, opts); err != nil {
			return fmt.Errorf("options: %w", err)
		}
		p.Options = opts
	}
	if parts.FieldConfig.Defaults.Custom != nil && kind.custom != nil {
		custom := kind.custom()
		if err := strict(parts.FieldConfig.Defaults.Custom, custom); err != nil {
			return fmt.Errorf("fieldConfig.defaults.custom: %w", err)
		}
		p.FieldConfig.Defaults.Custom = custom
	}
	p.Targets = nil
	for i, rt := range parts.Targets {
		q := &prometheus.Dataquery{}
		if err := strict(rt, q); err != nil {
			return fmt.Errorf("targets[%d]: %w", i, err)
		}
		p.Targets = append(p.Targets, q)
	}
	return nil
}

// diff lists the paths where JSON values a and b differ.
func diff(a, b any, path string) []string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v became %v", path, a, b)}
		}
		var out []string
		for k := range av {
			out = append(out, diff(av[k], bv[k], path+"."+k)...)
		}
		for k := range bv {
			if _, ok := av[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: added %v", path, k, bv[k]))
			}
		}
		return out
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return []string{fmt.Sprintf("%s: %v became %v", path, a, b)}
		}
		var out []string
		for i := range av {
			out = append(out, diff(av[i], bv[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	default:
		if a != b {
			return []string{fmt.Sprintf("%s: %v became %v", path, a, b)}
		}
		return nil
	}
}

// failures returns the errors in err. The SDK's decoder and Validate return
// a cog.BuildErrors that is a typed nil when all is well, so err != nil
// even then: count the list instead.
func failures(err error) cog.BuildErrors {
	var errs cog.BuildErrors
	if errors.As(err, &errs) {
		return errs
	}
	if err != nil {
		return cog.BuildErrors{{Message: err.Error()}}
	}
	return nil
}

// panels returns the panels of a dashboard JSON, rows included.
func panels(t *testing.T, f grafana.File) []map[string]any {
	t.Helper()
	var d struct {
		Panels []map[string]any `json:"panels"`
	}
	if err := json.Unmarshal(f.JSON, &d); err != nil {
		t.Fatal(err)
	}
	return d.Panels
}

func TestEveryPanelHasAUnitAndUsesTheVariables(t *testing.T) {
	rangeVector := regexp.MustCompile(`\[([^\]]+)\]`)
	for _, f := range generated(t) {
		for _, p := range panels(t, f) {
			if p["type"] == "row" {
				continue
			}
			title := f.Name + ": " + p["title"].(string)
			defaults, _ := p["fieldConfig"].(map[string]any)["defaults"].(map[string]any)
			if u, _ := defaults["unit"].(string); u == "" {
				t.Errorf("%s has no unit", title)
			}
			ds, _ := p["datasource"].(map[string]any)
			targets, _ := p["targets"].([]any)
			if len(targets) == 0 {
				t.Errorf("%s has no query", title)
			}
			for _, tg := range targets {
				tg := tg.(map[string]any)
				expr := tg["expr"].(string)
				if tds, _ := tg["datasource"].(map[string]any); tds["uid"] != "${datasource}" && (ds == nil || ds["uid"] != "${datasource}") {
					t.Errorf("%s: a query does not use the datasource variable", title)
				}
				if !strings.Contains(expr, "$job") && !strings.Contains(expr, "$slo") && !strings.Contains(expr, "$service") {
					t.Errorf("%s: query ignores the job (or slo, or service) variable: %s", title, expr)
				}
				for _, m := range rangeVector.FindAllStringSubmatch(expr, -1) {
					if m[1] != "$__rate_interval" && m[1] != "$__range" {
						t.Errorf("%s: range [%s] instead of $__rate_interval: %s", title, m[1], expr)
					}
				}
			}
		}
	}
}

func TestDashboardsHaveTheirVariables(t *testing.T) {
	want := map[string][]string{
		"fusebox-overview.json": {"datasource", "job", "instance", "pipeline", "service"},
		"fusebox-pipeline.json": {"datasource", "job", "instance", "pipeline"},
		"fusebox-slos.json":     {"datasource", "job", "instance", "pipeline", "slo"},
	}
	for _, f := range generated(t) {
		var d struct {
			UID        string `json:"uid"`
			Templating struct {
				List []struct {
					Name string `json:"name"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(f.JSON, &d); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range d.Templating.List {
			got = append(got, v.Name)
		}
		if !slices.Equal(got, want[f.Name]) {
			t.Errorf("%s variables = %v, want %v", f.Name, got, want[f.Name])
		}
		if !strings.HasPrefix(d.UID, "fusebox-") {
			t.Errorf("%s uid = %q", f.Name, d.UID)
		}
	}
}

func TestPanelIDsAreDistinct(t *testing.T) {
	for _, f := range generated(t) {
		seen := map[float64]bool{}
		for _, p := range panels(t, f) {
			id, _ := p["id"].(float64)
			if id == 0 || seen[id] {
				t.Errorf("%s: panel %q has id %v, missing or used twice", f.Name, p["title"], p["id"])
			}
			seen[id] = true
		}
	}
}

func TestOverviewHasARowPerPipeline(t *testing.T) {
	f := generated(t)[0]
	var repeated bool
	for _, p := range panels(t, f) {
		if p["type"] == "row" && p["repeat"] == "pipeline" {
			repeated = true
		}
	}
	if !repeated {
		t.Error("the Overview has no row repeated over $pipeline")
	}
}
