package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseConfigReportsRouteProblemsWithTheirPathAndLine(t *testing.T) {
	const pipelines = "pipelines:\n  - name: inventory\n    upstream: http://127.0.0.1:9100\n  - name: plain\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "an unknown pipeline is named with the known ones",
			yaml: pipelines + "proxy:\n  listen: 127.0.0.1:9000\n  routes:\n    - name: a\n      path_prefix: /a/\n      pipeline: inventroy\n",
			want: []string{`proxy.routes[0].pipeline: unknown pipeline "inventroy" (known: inventory, plain) (line 10)`},
		},
		{
			name: "a bad upstream URL is named",
			yaml: pipelines + "proxy:\n  listen: 127.0.0.1:9000\n  routes:\n    - name: a\n      path_prefix: /a/\n      upstream: ftp://files\n      pipeline: inventory\n",
			want: []string{`proxy.routes[0].upstream: "ftp://files": the scheme must be http or https (line 10)`},
		},
		{
			name: "a route without an upstream needs its pipeline's",
			yaml: pipelines + "proxy:\n  listen: 127.0.0.1:9000\n  routes:\n    - name: a\n      path_prefix: /a/\n      pipeline: plain\n",
			want: []string{"proxy.routes[0].upstream: is required (or set pipelines[1].upstream) (line 8)"},
		},
		{
			name: "overlapping prefixes are refused on the later route",
			yaml: pipelines + "proxy:\n  listen: 127.0.0.1:9000\n  routes:\n    - {name: a, path_prefix: /api/, pipeline: inventory}\n    - {name: b, path_prefix: /api/v2/, pipeline: inventory}\n",
			want: []string{`proxy.routes[1].path_prefix: "/api/v2/" overlaps routes[0] (a "/api/")`, "(line 9)"},
		},
		{
			name: "a listen address is required",
			yaml: pipelines + "proxy:\n  routes:\n    - {name: a, path_prefix: /a/, pipeline: inventory}\n",
			want: []string{"proxy.listen: is required", "(line 5)"},
		},
		{
			name: "an unknown route field is named",
			yaml: pipelines + "proxy:\n  listen: 127.0.0.1:9000\n  routes:\n    - {name: a, prefix: /a/, pipeline: inventory}\n",
			want: []string{"proxy.routes[0].prefix: unknown field", "(line 8)"},
		},
		{
			name: "a stale fallback needs a max age",
			yaml: pipelines + "proxy:\n  listen: 127.0.0.1:9000\n  routes:\n    - name: a\n      path_prefix: /a/\n      pipeline: inventory\n      fallback:\n        stale: {max_entries: 10}\n",
			want: []string{"proxy.routes[0].fallback.stale.max_age: 0s must be positive (line 12)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tt.yaml))
			if err == nil {
				t.Fatal("parseConfig accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestTheGatewayExampleIsValid(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--check-config", "--config", "../../examples/gateway.yaml"}, &out, &errOut); code != 0 {
		t.Errorf("--check-config examples/gateway.yaml: exit %d: %s", code, errOut.String())
	}
}

// startGateway starts an app whose config routes /inventory/ through
// pipeline inventory to upstream, and returns it with the gateway's URL.
func startGateway(t *testing.T, upstream string) (*running, string) {
	t.Helper()
	cfg := writeConfig(t, fmt.Sprintf(`pipelines:
  - name: inventory
    upstream: %s
    retry: {max_attempts: 2, backoff: {base: 1ms, max: 2ms}, budget: {disabled: true}}
    breaker: {window_size: 10, minimum_calls: 10, open_duration: 1h}
proxy:
  listen: 127.0.0.1:0
  routes:
    - {name: inventory-api, path_prefix: /inventory/, strip_prefix: true, pipeline: inventory}
slos:
  - {name: inventory-availability, pipeline: inventory, objective: 99}
`, upstream))
	r := startApp(t, t.TempDir(), nil, cfg)
	return r, "http://" + r.gateway.Addr()
}

func TestGatewayTrafficReachesTheDashboardAndTheBreakerControlsIt(t *testing.T) {
	up, err := newDemoUpstream(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	r, gw := startGateway(t, upstream.URL)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(gw + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	for i := range 5 {
		resp, body := get(fmt.Sprintf("/inventory/items/%d", i))
		if resp.StatusCode != 200 || !strings.Contains(body, fmt.Sprintf(`"path":"/items/%d"`, i)) {
			t.Fatalf("through the gateway: %d %s", resp.StatusCode, body)
		}
	}
	var p struct {
		Totals struct {
			Calls struct{ Success uint64 } `json:"calls"`
		} `json:"totals"`
	}
	if code := r.do(t, "GET", "/api/v1/pipelines/inventory", nil, &p); code != 200 || p.Totals.Calls.Success != 5 {
		t.Errorf("pipeline inventory: %d, %d successful calls; want the 5 proxied", code, p.Totals.Calls.Success)
	}
	var routes struct {
		Routes []struct{ Name, PathPrefix, Upstream, Pipeline string } `json:"routes"`
	}
	r.do(t, "GET", "/api/v1/routes", nil, &routes)
	if len(routes.Routes) != 1 || routes.Routes[0].Name != "inventory-api" || routes.Routes[0].Upstream != upstream.URL || routes.Routes[0].Pipeline != "inventory" {
		t.Errorf("GET /api/v1/routes = %+v", routes)
	}
	resp, err := http.Get(r.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`data-testid="route-inventory-api"`, "/inventory/*", upstream.URL, `href="/pipelines/inventory"`} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the overview does not show %s", want)
		}
	}

	resp, err = http.Get(r.url + "/slos")
	if err != nil {
		t.Fatal(err)
	}
	slos, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(slos, []byte("inventory-availability")) {
		t.Errorf("/slos: %d, without the SLO of the gateway pipeline", resp.StatusCode)
	}

	if code := r.do(t, "PUT", "/api/v1/pipelines/inventory/breaker", map[string]string{"state": "forced_open", "reason": "upstream maintenance"}, nil); code != 200 {
		t.Fatalf("forcing open: %d", code)
	}
	resp, body := get("/inventory/items/9")
	var pr struct{ Route, Pipeline, Reason string }
	_ = json.Unmarshal([]byte(body), &pr)
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/problem+json" || pr.Reason != "breaker_forced_open" || pr.Route != "inventory-api" || pr.Pipeline != "inventory" {
		t.Errorf("forced open: %d %s %s, want a 503 breaker_forced_open problem", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if code := r.do(t, "PUT", "/api/v1/pipelines/inventory/breaker", map[string]string{"state": "auto", "reason": "done"}, nil); code != 200 {
		t.Fatalf("back to auto: %d", code)
	}
	if resp, body := get("/inventory/items/10"); resp.StatusCode != 200 {
		t.Errorf("after auto: %d %s, want 200", resp.StatusCode, body)
	}
}

func TestDemoUpstreamFailsOnRequestAndTakesNewFaults(t *testing.T) {
	up, err := newDemoUpstream(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(up)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/_faults?error_rate=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /_faults: %d", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/items/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("with error_rate=1: %d, want 503", resp.StatusCode)
	}
	resp, err = http.Post(srv.URL+"/_faults?error_rate=2", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("error_rate=2: %d, want 400", resp.StatusCode)
	}
}
