// Package deploy_test checks the files of deploy/: the Prometheus rules are
// those generated from the demo's SLOs, and promtool, amtool and
// docker-compose accept the configuration. Tests that need a program skip
// when it is absent, unless FUSEBOX_E2E=1, where they fail.
package deploy_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/demo"
	"github.com/fusebox-dev/fusebox/slorules"
)

var update = flag.Bool("update", false, "rewrite the generated rule file")

const rulesFile = "prometheus/rules/fusebox.rules.yml"

// program returns the path of the first of names found, or skips the test
// (fails it when FUSEBOX_E2E=1).
func program(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := "needs " + strings.Join(names, " or ") + " on PATH (Debian: apt-get install prometheus prometheus-alertmanager docker-compose)"
	if os.Getenv("FUSEBOX_E2E") == "1" {
		t.Fatal(msg + "; FUSEBOX_E2E=1 requires it")
	}
	t.Skip(msg)
	return ""
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// demoSLOs are the demo's SLOs as slorules takes them.
func demoSLOs(t *testing.T) []alerting.SLOConfig {
	t.Helper()
	d, err := demo.New(demo.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out []alerting.SLOConfig
	for _, s := range d.SLOs() {
		var sli alerting.SLI
		if err := sli.UnmarshalText([]byte(s.Kind)); err != nil {
			t.Fatal(err)
		}
		out = append(out, alerting.SLOConfig{
			Name: s.Name, Pipeline: s.Pipeline, SLI: sli,
			Objective: s.Objective, Period: s.Period, LatencyThreshold: s.LatencyThreshold,
		})
	}
	return out
}

func TestCommittedRulesAreGeneratedFromTheDemoSLOs(t *testing.T) {
	want, err := slorules.Generate(demoSLOs(t), slorules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(rulesFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale; regenerate it with: go test ./deploy -run TestCommittedRules -update", rulesFile)
	}
}

func TestPromtoolAcceptsTheRules(t *testing.T) {
	promtool := program(t, "promtool")
	out := run(t, ".", promtool, "check", "rules", rulesFile)
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules:\n%s", out)
	}
}

func TestPromtoolUnitTestsOfTheAlertsPass(t *testing.T) {
	promtool := program(t, "promtool")
	tests, err := filepath.Glob("prometheus/tests/*.yml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests under prometheus/tests (%v)", err)
	}
	t.Log(run(t, ".", promtool, append([]string{"test", "rules"}, tests...)...))
}

func TestPromtoolAcceptsThePrometheusConfig(t *testing.T) {
	promtool := program(t, "promtool")
	run(t, ".", promtool, "check", "config", "prometheus/prometheus.yml")
}

func TestAmtoolAcceptsTheAlertmanagerConfig(t *testing.T) {
	amtool := program(t, "amtool")
	run(t, ".", amtool, "check-config", "alertmanager/alertmanager.yml")
}

func TestDockerComposeAcceptsTheStack(t *testing.T) {
	compose := program(t, "docker-compose")
	out := run(t, "..", compose, "-f", "docker-compose.yml", "config")
	for _, service := range []string{"app:", "prometheus:", "alertmanager:", "grafana:", "nats:", "hub:", "shop:"} {
		if !strings.Contains(out, "  "+service) {
			t.Errorf("docker-compose config has no service %s:\n%s", service, out)
		}
	}
}

func TestDockerfileBuildsAStaticBinaryRunAsNonRoot(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"CGO_ENABLED=0", "AS build", "COPY --from=build", "USER nonroot", "0.0.0.0:8080"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if n := strings.Count(df, "\nFROM "); n < 2 {
		t.Errorf("Dockerfile has %d stages, want a build stage and a runtime stage", n)
	}
}
