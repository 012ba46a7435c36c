package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The end-to-end test runs the demo app, the fleet demo (a hub with
// instances joined to it), a real Prometheus scraping both every second
// with the committed rules and configuration, and a real Alertmanager whose
// webhook points at the app. It checks the dashboards' queries against
// Prometheus (every query of the fleet row with data from the hub), the
// app's exposition with promtool, and that an outage on a demo downstream
// reaches the app as a Prometheus alert.

const (
	e2eToken    = "e2e-admin-token-0123"
	e2ePipeline = "payments"
	e2eSLO      = "payments-availability"
	// e2eService is the fleet demo's service whose payments breaker the
	// test forces open through the hub.
	e2eService = "checkout"
	// fleetRow is the title of the Overview's row of hub queries.
	fleetRow = "Fleet (hub)"
)

func TestEndToEndWithPrometheusAndAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	prom := program(t, "prometheus")
	am := program(t, "prometheus-alertmanager", "alertmanager")
	promtool := program(t, "promtool")
	goTool := program(t, "go")
	dir := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Cleanup(http.DefaultClient.CloseIdleConnections)

	// The app, built from this checkout.
	bin := filepath.Join(dir, "fusebox")
	build := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/app")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/app: %v\n%s", err, out)
	}
	appAddr, hubAddr, natsAddr, promAddr, amAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	app, hub := "http://"+appAddr, "http://"+hubAddr
	start(t, dir, "app", []string{"FUSEBOX_ADMIN_TOKEN=" + e2eToken},
		bin, "--addr", appAddr, "--data-dir", filepath.Join(dir, "data"))
	waitHTTP(ctx, t, app+"/readyz")

	// The fleet demo: a hub with its embedded NATS server and instances
	// joined to it, with checkout's payments breaker forced open and its
	// retry switched off on every instance, so that the fleet row's
	// breaker, override and kill switch panels have something to show.
	start(t, dir, "fleet-demo", []string{"FUSEBOX_ADMIN_TOKEN=" + e2eToken},
		bin, "fleet-demo", "--addr", hubAddr, "--nats-listen", natsAddr, "--data-dir", filepath.Join(dir, "hub"))
	waitHTTP(ctx, t, hub+"/readyz")
	forceFleetBreaker(ctx, t, hub)
	switchFleetRetryOff(ctx, t, hub)

	// Alertmanager, with the committed configuration pointed at the app.
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(e2eToken), 0o600); err != nil {
		t.Fatal(err)
	}
	amConfig := alertmanagerConfig(t, app, tokenFile)
	amStore := filepath.Join(dir, "alertmanager")
	start(t, dir, "alertmanager", nil, am,
		"--config.file="+amConfig, "--storage.path="+amStore,
		"--web.listen-address="+amAddr, "--web.external-url=http://"+amAddr,
		"--cluster.listen-address=")
	waitHTTP(ctx, t, "http://"+amAddr+"/-/ready")

	// Prometheus, with the committed configuration and rules, every second.
	promConfig := prometheusConfig(t, dir, appAddr, hubAddr, amAddr)
	start(t, dir, "prometheus", nil, prom,
		"--config.file="+promConfig, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--web.external-url=http://"+promAddr,
		"--rules.alert.resend-delay=1s")
	promURL := "http://" + promAddr
	waitHTTP(ctx, t, promURL+"/-/ready")

	// An outage on payments: every call fails, so the SLO's error ratio
	// passes 14.4 times its 0.1 % budget over both 5m and 1h at once.
	putOutage(ctx, t, app)

	// Wait until the page fires in Prometheus and the last recording rule
	// of the SLO's chain has data, so that the dashboards' queries, the
	// SLO's included, have something to show.
	waitQuery(ctx, t, promURL, `ALERTS{alertname="ErrorBudgetBurn", alertstate="firing", slo="`+e2eSLO+`", severity="page"}`)
	waitQuery(ctx, t, promURL, `slo:period_error_budget_remaining:ratio{slo="`+e2eSLO+`"} < 0`)

	t.Run("every dashboard query parses and most return data", func(t *testing.T) {
		checkDashboardQueries(ctx, t, promURL)
	})
	t.Run("every query of the fleet row returns data from the hub", func(t *testing.T) {
		checkFleetQueries(ctx, t, promURL)
	})
	t.Run("promtool check metrics accepts the exposition", func(t *testing.T) {
		body := get(ctx, t, app+"/metrics", "text/plain")
		cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})
	t.Run("the Prometheus alert reaches the app through Alertmanager", func(t *testing.T) {
		if code := status(ctx, t, http.MethodPost, app+"/api/v1/alertmanager", "{}"); code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
			msg := fmt.Sprintf("the app has no POST /api/v1/alertmanager route (status %d)", code)
			if os.Getenv("FUSEBOX_E2E") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		waitAlertInApp(ctx, t, app)
	})
}

// freeAddr returns a loopback address with a port that was free.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start starts a program in its own process group, logging to dir/name.log,
// and stops the group when the test ends; the log is shown if the test
// failed.
func start(t *testing.T, dir, name string, env []string, path string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s log (last 4 KiB):\n%s", name, tail(b, 4096))
			}
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// poll calls try every 200 ms until it returns nil or ctx ends, then fails
// with the last error. The programs run in real time; the waits are
// bounded by ctx.
func poll(ctx context.Context, t *testing.T, what string, try func() error) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := try()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v (gave up: %v)", what, err, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

func waitHTTP(ctx context.Context, t *testing.T, u string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	poll(wctx, t, "waiting for "+u, func() error {
		req, _ := http.NewRequestWithContext(wctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

func get(ctx context.Context, t *testing.T, u, accept string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v", u, resp.StatusCode, err)
	}
	return b
}

// status sends an admin request and returns its status code.
func status(ctx context.Context, t *testing.T, method, u, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func putOutage(ctx context.Context, t *testing.T, app string) {
	t.Helper()
	u := app + "/api/v1/demo/downstreams/" + e2ePipeline
	if code := status(ctx, t, http.MethodPut, u, `{"outage":true}`); code/100 != 2 {
		t.Fatalf("PUT %s: status %d", u, code)
	}
}

// alertmanagerConfig writes the committed Alertmanager configuration with
// its webhook pointed at app, the token read from tokenFile, and short
// group waits.
func alertmanagerConfig(t *testing.T, app, tokenFile string) string {
	t.Helper()
	var cfg map[string]any
	readYAML(t, "alertmanager/alertmanager.yml", &cfg)
	route := cfg["route"].(map[string]any)
	route["group_wait"], route["group_interval"] = "1s", "1s"
	hooks := 0
	for _, r := range cfg["receivers"].([]any) {
		for _, w := range r.(map[string]any)["webhook_configs"].([]any) {
			w := w.(map[string]any)
			u, err := url.Parse(w["url"].(string))
			if err != nil {
				t.Fatal(err)
			}
			w["url"] = app + u.Path
			w["http_config"].(map[string]any)["authorization"].(map[string]any)["credentials_file"] = tokenFile
			hooks++
		}
	}
	if hooks == 0 {
		t.Fatal("alertmanager.yml has no webhook")
	}
	return writeYAML(t, filepath.Dir(tokenFile), "alertmanager.yml", cfg)
}

// forceFleetBreaker forces the payments breaker of e2eService open on
// every instance, through the hub's API.
func forceFleetBreaker(ctx context.Context, t *testing.T, hub string) {
	t.Helper()
	u := hub + "/api/v1/fleet/" + e2eService + "/pipelines/" + e2ePipeline + "/breaker"
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The hub knows the service once its instances' first snapshots are in.
	poll(wctx, t, "PUT "+u, func() error {
		if code := status(wctx, t, http.MethodPut, u, `{"state":"forced_open","reason":"end-to-end test"}`); code/100 != 2 {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
}

// switchFleetRetryOff switches the payments retry of e2eService off on
// every instance, through the hub's API, so that the fleet row's kill
// switch panel has data.
func switchFleetRetryOff(ctx context.Context, t *testing.T, hub string) {
	t.Helper()
	u := hub + "/api/v1/fleet/" + e2eService + "/pipelines/" + e2ePipeline + "/policies/retry"
	if code := status(ctx, t, http.MethodPut, u, `{"enabled":false,"reason":"end-to-end test"}`); code/100 != 2 {
		t.Fatalf("PUT %s: status %d", u, code)
	}
}

// prometheusConfig writes the committed Prometheus configuration scraping
// and evaluating every second, pointed at the app, the hub and
// Alertmanager, with the committed rules.
func prometheusConfig(t *testing.T, dir, appAddr, hubAddr, amAddr string) string {
	t.Helper()
	var cfg map[string]any
	readYAML(t, "prometheus/prometheus.yml", &cfg)
	global := cfg["global"].(map[string]any)
	global["scrape_interval"], global["evaluation_interval"] = "1s", "1s"
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg["rule_files"] = []any{rules}
	cfg["alerting"] = map[string]any{"alertmanagers": []any{
		map[string]any{"static_configs": []any{map[string]any{"targets": []any{amAddr}}}},
	}}
	targets := map[string]string{"fusebox": appAddr, "fusebox-hub": hubAddr}
	var jobs []any
	for _, sc := range cfg["scrape_configs"].([]any) {
		sc := sc.(map[string]any)
		if addr, ok := targets[sc["job_name"].(string)]; ok {
			sc["static_configs"] = []any{map[string]any{"targets": []any{addr}}}
			jobs = append(jobs, sc)
		}
	}
	if len(jobs) != len(targets) {
		t.Fatal("prometheus.yml lacks the fusebox or the fusebox-hub job")
	}
	cfg["scrape_configs"] = jobs
	return writeYAML(t, dir, "prometheus.yml", cfg)
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func writeYAML(t *testing.T, dir, name string, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// promResult is the answer of Prometheus' HTTP API.
type promResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		Result json.RawMessage `json:"result"`
	} `json:"data"`
}

// instantQuery evaluates expr now and returns the number of series of the
// result, or an error if Prometheus rejects it.
func instantQuery(ctx context.Context, promURL, expr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, promURL+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r promResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s", r.Error)
	}
	var series []json.RawMessage
	if err := json.Unmarshal(r.Data.Result, &series); err != nil {
		return 1, nil // a scalar or a string
	}
	return len(series), nil
}

func waitQuery(ctx context.Context, t *testing.T, promURL, expr string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	poll(wctx, t, "waiting for "+expr+" in Prometheus", func() error {
		n, err := instantQuery(wctx, promURL, expr)
		if err == nil && n == 0 {
			err = errors.New("no data yet")
		}
		return err
	})
}

// substitute replaces the dashboard variables by values of the demo.
func substitute(expr string) string {
	return strings.NewReplacer(
		"$__rate_interval", "1m", "$__range", "5m", "$__interval", "15s",
		"${datasource}", "prometheus", "$job", "fusebox", "$instance", ".*",
		"$pipeline", e2ePipeline, "$slo", e2eSLO, "$service", e2eService,
	).Replace(expr)
}

// dashboardQueries returns every PromQL expression of a committed dashboard
// (panels, annotations) and its label_values variables, by name, and the
// title of the row of each panel query.
func dashboardQueries(t *testing.T) (exprs, variables, rows map[string]string) {
	t.Helper()
	paths, err := filepath.Glob("../grafana/dashboards/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no committed dashboards (%v)", err)
	}
	exprs, variables, rows = map[string]string{}, map[string]string{}, map[string]string{}
	for _, p := range paths {
		var d struct {
			Panels []struct {
				Type    string `json:"type"`
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
			Annotations struct {
				List []struct {
					Name string `json:"name"`
					Expr string `json:"expr"`
				} `json:"list"`
			} `json:"annotations"`
			Templating struct {
				List []struct {
					Name  string `json:"name"`
					Query any    `json:"query"`
				} `json:"list"`
			} `json:"templating"`
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		base := filepath.Base(p)
		row := ""
		for _, panel := range d.Panels {
			if panel.Type == "row" {
				row = panel.Title
			}
			for i, tg := range panel.Targets {
				name := fmt.Sprintf("%s / %s / query %d", base, panel.Title, i+1)
				exprs[name], rows[name] = tg.Expr, row
			}
		}
		for _, a := range d.Annotations.List {
			exprs[fmt.Sprintf("%s / annotation %s", base, a.Name)] = a.Expr
		}
		for _, v := range d.Templating.List {
			if q, ok := v.Query.(string); ok && strings.HasPrefix(q, "label_values(") {
				variables[fmt.Sprintf("%s / variable %s", base, v.Name)] = q
			}
		}
	}
	return exprs, variables, rows
}

var labelValues = regexp.MustCompile(`^label_values\((.*), *(\w+)\)$`)

func checkDashboardQueries(ctx context.Context, t *testing.T, promURL string) {
	exprs, variables, _ := dashboardQueries(t)
	var withData, total int
	var empty []string
	for name, expr := range exprs {
		total++
		n, err := instantQuery(ctx, promURL, substitute(expr))
		switch {
		case err != nil:
			t.Errorf("%s: Prometheus rejects %s: %v", name, substitute(expr), err)
		case n == 0:
			empty = append(empty, name)
		default:
			withData++
		}
	}
	for name, q := range variables {
		total++
		m := labelValues.FindStringSubmatch(substitute(q))
		if m == nil {
			t.Errorf("%s: cannot read %s", name, q)
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
			promURL+"/api/v1/label/"+m[2]+"/values?"+url.Values{"match[]": {m[1]}}.Encode(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Status string   `json:"status"`
			Error  string   `json:"error"`
			Data   []string `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		switch {
		case err != nil || r.Status != "success":
			t.Errorf("%s: Prometheus rejects %s: %v %s", name, q, err, r.Error)
		case len(r.Data) == 0:
			empty = append(empty, name)
		default:
			withData++
		}
	}
	t.Logf("%d of %d dashboard queries and variables return data", withData, total)
	if len(empty) > 0 {
		t.Logf("without data now:\n  %s", strings.Join(empty, "\n  "))
		logRuleErrors(ctx, t, promURL)
	}
	if withData*5 < total*4 {
		t.Errorf("only %d of %d dashboard queries return data; want at least 80 %%", withData, total)
	}
}

// checkFleetQueries checks that every query of the fleet row returns data,
// naming the panel of each one that does not within 30 s (a rate needs two
// scrapes of the hub).
func checkFleetQueries(ctx context.Context, t *testing.T, promURL string) {
	exprs, _, rows := dashboardQueries(t)
	var names []string
	for name := range exprs {
		if rows[name] == fleetRow {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatalf("no dashboard has a %q row", fleetRow)
	}
	sort.Strings(names)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for _, name := range names {
		expr := substitute(exprs[name])
		for {
			n, err := instantQuery(ctx, promURL, expr)
			if err == nil && n > 0 {
				break
			}
			if err == nil {
				err = errors.New("no data")
			}
			select {
			case <-tick.C:
				continue
			case <-wctx.Done():
			}
			t.Errorf("%s: %s: %v", name, expr, err)
			break
		}
	}
	t.Logf("%d queries of the %q row checked", len(names), fleetRow)
}

// logRuleErrors logs the rules Prometheus failed to evaluate.
func logRuleErrors(ctx context.Context, t *testing.T, promURL string) {
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal(get(ctx, t, promURL+"/api/v1/rules", "application/json"), &r); err != nil {
		t.Errorf("reading /api/v1/rules: %v", err)
		return
	}
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			if rule.Health != "ok" {
				t.Logf("rule %s: %s %s", rule.Name, rule.Health, rule.LastError)
			}
		}
	}
}

// waitAlertInApp waits until GET /api/v1/alerts lists the payments page
// received from Alertmanager.
func waitAlertInApp(ctx context.Context, t *testing.T, app string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	poll(wctx, t, "waiting for the Alertmanager alert in GET /api/v1/alerts", func() error {
		var body struct {
			Alerts []map[string]any `json:"alerts"`
		}
		if err := json.Unmarshal(get(wctx, t, app+"/api/v1/alerts", "application/json"), &body); err != nil {
			return err
		}
		for _, a := range body.Alerts {
			b, _ := json.Marshal(a)
			s := string(b)
			if strings.Contains(s, `"alertmanager"`) && strings.Contains(s, "ErrorBudgetBurn") && strings.Contains(s, e2eSLO) {
				t.Logf("alert in the app: %s", s)
				return nil
			}
		}
		return fmt.Errorf("%d alerts, none from alertmanager for %s", len(body.Alerts), e2eSLO)
	})
}
