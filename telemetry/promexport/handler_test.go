package promexport

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/fusebox-dev/fusebox/telemetry"
)

// acceptHeaders are Accept headers of every format and escaping scheme,
// and some that match no format.
var acceptHeaders = []string{
	"text/plain;version=0.0.4",
	"application/openmetrics-text;version=1.0.0",
	"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
	"",
	"*/*",
	"text/plain",
	"text/plain;version=0.0.4;escaping=allow-utf-8",
	"text/plain;version=0.0.4;escaping=dots",
	"application/openmetrics-text",
	"application/openmetrics-text;version=0.0.1",
	"application/openmetrics-text;version=1.0.0;escaping=values",
	"application/openmetrics-text;version=2.0.0",
	"application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.9",
	"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
	"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=compact-text",
	"application/json",
	"text/plain;version=1.0.0",
}

// serve answers a GET of target with the request headers, unchecked.
func serve(h http.Handler, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header = header
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// sameResponse reports how two responses differ in status, headers and
// body, with gzipped bodies decompressed.
func sameResponse(t *testing.T, what string, got, want *httptest.ResponseRecorder) {
	t.Helper()
	if got.Code != want.Code {
		t.Errorf("%s: status %d, want %d", what, got.Code, want.Code)
	}
	for _, k := range []string{"Content-Type", "Content-Encoding", "Vary", "X-Content-Type-Options", "Content-Length"} {
		if g, w := got.Header().Values(k), want.Header().Values(k); !slices.Equal(g, w) {
			t.Errorf("%s: %s %q, want %q", what, k, g, w)
		}
	}
	gotBody, wantBody := body(t, got), body(t, want)
	if !bytes.Equal(gotBody, wantBody) {
		t.Errorf("%s: the body differs from promhttp's %s", what, firstDifference(gotBody, wantBody))
	}
}

// body returns a response's body, decompressed if gzipped.
func body(t *testing.T, rec *httptest.ResponseRecorder) []byte {
	t.Helper()
	if rec.Header().Get("Content-Encoding") != "gzip" {
		return rec.Body.Bytes()
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newHandlers returns a Handler of g and the promhttp handler it
// replaces, both counting errors on reg.
func newHandlers(t *testing.T, g prometheus.TransactionalGatherer, reg prometheus.Registerer) (*Handler, http.Handler) {
	t.Helper()
	h, err := newMetricsHandler(g, reg, HandlerOpts{EnableOpenMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	return h, promhttp.HandlerForTransactional(g, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: reg})
}

// frozenScrape gathers g and returns a gatherer of copies of its
// families, which then stay the same from scrape to scrape.
func frozenScrape(t *testing.T, g prometheus.TransactionalGatherer) *frozenGatherer {
	t.Helper()
	mfs, done, err := g.Gather()
	defer done()
	if err != nil {
		t.Fatal(err)
	}
	frozen := &frozenGatherer{}
	for _, mf := range mfs {
		frozen.mfs = append(frozen.mfs, proto.Clone(mf).(*dto.MetricFamily))
	}
	return frozen
}

func TestMetricsHandlerServesWhatPromhttpServes(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{Policies: fleetPolicies()})
	reg := prometheus.NewPedanticRegistry()
	g, err := registerGatherer(reg, a, CollectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h, ref := newHandlers(t, g, reg)
	for round := range 3 {
		observeFleet(t, a, round)
		for _, accept := range acceptHeaders {
			for _, encoding := range []string{"", "gzip"} {
				header := http.Header{"Accept": {accept}, "Accept-Encoding": {encoding}}
				want := serve(ref, "/metrics", header)
				got := serve(h, "/metrics", header)
				sameResponse(t, fmt.Sprintf("round %d, Accept %q, Accept-Encoding %q", round, accept, encoding), got, want)
			}
		}
	}
}

func TestMetricsHandlerServesTheRuntimeCollectorsAsPromhttp(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{Policies: fleetPolicies()})
	observeFleet(t, a, 2)
	reg := prometheus.NewPedanticRegistry()
	g, err := registerGatherer(reg, a, CollectorConfig{},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err != nil {
		t.Fatal(err)
	}
	// The error counter is registered before the families are frozen.
	if _, err := newMetricsHandler(g, reg, HandlerOpts{}); err != nil {
		t.Fatal(err)
	}
	frozen := frozenScrape(t, g)
	h, ref := newHandlers(t, frozen, nil)
	for _, accept := range acceptHeaders {
		header := http.Header{"Accept": {accept}}
		sameResponse(t, "Accept "+accept, serve(h, "/metrics", header), serve(ref, "/metrics", header))
	}
	if got, want := frozen.dones.Load(), int32(len(acceptHeaders)*2); got != want {
		t.Errorf("done was called %d times for %d scrapes", got, want)
	}
}

func TestMetricsHandlerKeepsTheFamiliesNamedInTheQuery(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{Policies: fleetPolicies()})
	observeFleet(t, a, 1)
	reg := prometheus.NewPedanticRegistry()
	h, ref := newHandlers(t, newTestGatherer(t, a), reg)
	for _, target := range []string{
		"/metrics?name[]=fusebox_calls_total",
		"/metrics?name[]=fusebox_calls_total&name[]=fusebox_call_duration_seconds&name[]=nothing",
		"/metrics?name[]=nothing",
		"/metrics?name=fusebox_calls_total",
	} {
		for _, f := range expositionFormats {
			header := http.Header{"Accept": {f.accept}}
			got := serve(h, target, header)
			sameResponse(t, target+", "+f.name, got, serve(ref, target, header))
			if strings.Contains(target, "name[]=fusebox_calls_total") && f.name == "text" && !strings.Contains(got.Body.String(), "fusebox_calls_total{") {
				t.Errorf("%s: the body has no fusebox_calls_total:\n%s", target, got.Body)
			}
		}
	}
}

func TestMetricsHandlerNegotiatesGzipAsPromhttp(t *testing.T) {
	g := &frozenGatherer{mfs: []*dto.MetricFamily{{Name: ptr("up"), Help: ptr("Up."), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: ptr(1.0)}}}}}}
	h, ref := newHandlers(t, g, nil)
	check := func(t *testing.T, lines []string) {
		header := http.Header{"Accept-Encoding": lines}
		got, want := serve(h, "/metrics", header), serve(ref, "/metrics", header)
		if g, w := got.Header().Get("Content-Encoding"), want.Header().Get("Content-Encoding"); g != w {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", lines, g, w)
		}
		if g, w := body(t, got), body(t, want); !bytes.Equal(g, w) {
			t.Errorf("Accept-Encoding %q: body %q, want %q", lines, g, w)
		}
	}
	tests := []struct {
		name  string
		lines []string
	}{
		{"no header", nil},
		{"gzip alone", []string{"gzip"}},
		{"gzip among others", []string{"gzip, deflate, br"}},
		{"what Prometheus sends", []string{"gzip"}},
		{"gzip refused", []string{"gzip;q=0"}},
		{"identity preferred", []string{"identity;q=0.9, gzip;q=0.8"}},
		{"gzip preferred", []string{"identity;q=0.5, gzip;q=0.8"}},
		{"a tie goes to identity", []string{"gzip;q=0.5, identity;q=0.5"}},
		{"a wildcard", []string{"*"}},
		{"a refusing wildcard", []string{"*;q=0"}},
		{"an unknown coding", []string{"br"}},
		{"capitals do not match", []string{"GZIP"}},
		{"identity refused", []string{"identity;q=0"}},
		{"a malformed element ends its line", []string{"br;x=1, gzip"}},
		{"a malformed quality ends its line", []string{"br;q=x, gzip"}},
		{"a leading comma ends its line", []string{", gzip"}},
		{"spaces around the quality", []string{"gzip ; q=0.7 , identity;q=0.2"}},
		{"several lines", []string{"identity;q=0.1", "gzip"}},
		{"a long quality", []string{"gzip;q=0.12345678, identity;q=0.1234567"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.lines) })
	}
	t.Run("random headers", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			part := rapid.SampledFrom([]string{"gzip", "identity", "*", "br", "deflate", ";q=0", ";q=1", ";q=0.5", ";q=0.50", ";q=1.0", ";q=", ";x", ",", ", ", " ", "\t", "q=0.3", "/", "\"", "GZIP", "zstd"})
			var lines []string
			for range rapid.IntRange(1, 3).Draw(rt, "lines") {
				lines = append(lines, strings.Join(rapid.SliceOfN(part, 0, 8).Draw(rt, "parts"), ""))
			}
			check(t, lines)
		})
	})
}

func TestMetricsHandlerFailsAsPromhttpWhenGatherFails(t *testing.T) {
	fail := errors.New("collector db: the store is closed")
	tests := []struct {
		name string
		mfs  []*dto.MetricFamily
	}{
		{"nothing gathered", nil},
		{"some families gathered", []*dto.MetricFamily{{Name: ptr("up"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: ptr(1.0)}}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &frozenGatherer{mfs: tc.mfs, err: fail}
			reg := prometheus.NewPedanticRegistry()
			h, err := newMetricsHandler(g, reg, HandlerOpts{EnableOpenMetrics: true})
			if err != nil {
				t.Fatal(err)
			}
			ref := promhttp.HandlerForTransactional(g, promhttp.HandlerOpts{EnableOpenMetrics: true})
			header := http.Header{"Accept-Encoding": {"gzip"}}
			got := serve(h, "/metrics", header)
			if got.Code != http.StatusInternalServerError || !strings.Contains(got.Body.String(), fail.Error()) {
				t.Errorf("status %d, body %q; want 500 and the error", got.Code, got.Body)
			}
			sameResponse(t, "gather error", got, serve(ref, "/metrics", header))
			if n := g.dones.Load(); n != 2 {
				t.Errorf("done was called %d times for 2 scrapes", n)
			}
			want := `
# HELP promhttp_metric_handler_errors_total Total number of internal errors encountered by the promhttp metric handler.
# TYPE promhttp_metric_handler_errors_total counter
promhttp_metric_handler_errors_total{cause="encoding"} 0
promhttp_metric_handler_errors_total{cause="gathering"} 1
`
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestMetricsHandlerStopsAtAFamilyExpfmtRefuses(t *testing.T) {
	up := &dto.MetricFamily{Name: ptr("up"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: ptr(1.0)}}}}
	broken := &dto.MetricFamily{Name: ptr("calls_total"), Help: ptr("Calls."), Type: dto.MetricType_COUNTER.Enum(),
		Metric: []*dto.Metric{{Counter: &dto.Counter{Value: ptr(1.0)}}, {Gauge: &dto.Gauge{Value: ptr(2.0)}}}}
	g := &frozenGatherer{mfs: []*dto.MetricFamily{up, broken, up}}
	reg := prometheus.NewPedanticRegistry()
	h, err := newMetricsHandler(g, reg, HandlerOpts{EnableOpenMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	ref := promhttp.HandlerForTransactional(g, promhttp.HandlerOpts{EnableOpenMetrics: true})
	for _, f := range expositionFormats {
		header := http.Header{"Accept": {f.accept}}
		sameResponse(t, f.name, serve(h, "/metrics", header), serve(ref, "/metrics", header))
	}
	// Protobuf encodes the counter's gauge; the text formats refuse it.
	if got := testutil.ToFloat64(mustCounter(t, reg, "encoding")); got != 2 {
		t.Errorf("promhttp_metric_handler_errors_total{cause=\"encoding\"} = %v, want 2", got)
	}
}

// mustCounter returns the error counter of a cause registered on reg.
func mustCounter(t *testing.T, reg *prometheus.Registry, cause string) prometheus.Counter {
	t.Helper()
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "promhttp_metric_handler_errors_total",
		Help: "Total number of internal errors encountered by the promhttp metric handler.",
	}, []string{"cause"})
	var are prometheus.AlreadyRegisteredError
	if err := reg.Register(v); !errors.As(err, &are) {
		t.Fatalf("the error counter is not registered: %v", err)
	}
	return are.ExistingCollector.(*prometheus.CounterVec).WithLabelValues(cause)
}

// sameDesc describes the error counter's metric but is no CounterVec.
type sameDesc struct{}

func (sameDesc) Describe(ch chan<- *prometheus.Desc) {
	ch <- prometheus.NewDesc("promhttp_metric_handler_errors_total", "Total number of internal errors encountered by the promhttp metric handler.", []string{"cause"}, nil)
}
func (sameDesc) Collect(chan<- prometheus.Metric) {}

func TestNewHandlerRejectsBadInput(t *testing.T) {
	g := &frozenGatherer{}
	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "promhttp_metric_handler_errors_total", Help: "Another counter."}))
	other := prometheus.NewRegistry()
	other.MustRegister(sameDesc{})
	tests := []struct {
		name string
		g    prometheus.TransactionalGatherer
		reg  prometheus.Registerer
		want string
	}{
		{"a nil gatherer is refused", nil, nil, "the gatherer must not be nil"},
		{"a registry refusing the error counter is reported", g, clash, "registering promhttp_metric_handler_errors_total"},
		{"an error counter of another type is reported", g, other, "registered as a promexport.sameDesc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := newMetricsHandler(tc.g, tc.reg, HandlerOpts{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("newMetricsHandler: %v, %v; want an error containing %q", h, err, tc.want)
			}
		})
	}
	t.Run("an error counter already registered is shared", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		promhttp.HandlerForTransactional(g, promhttp.HandlerOpts{Registry: reg})
		if _, err := newMetricsHandler(g, reg, HandlerOpts{}); err != nil {
			t.Error(err)
		}
	})
}

func TestMetricsHandlerUnderConcurrentScrapes(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{Policies: fleetPolicies()})
	observeFleet(t, a, 2)
	h, ref := newHandlers(t, newTestGatherer(t, a), nil)
	want := map[string][]byte{}
	for _, f := range expositionFormats {
		want[f.accept] = serve(ref, "/metrics", http.Header{"Accept": {f.accept}}).Body.Bytes()
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 6 {
				f := expositionFormats[(i+j)%len(expositionFormats)]
				got := serve(h, "/metrics", http.Header{"Accept": {f.accept}})
				if !bytes.Equal(got.Body.Bytes(), want[f.accept]) {
					t.Errorf("%s: a concurrent scrape differs %s", f.name, firstDifference(got.Body.Bytes(), want[f.accept]))
				}
			}
		})
	}
	wg.Wait()
}

// TestMetricsHandlerPassesPromtool runs `promtool check metrics` on the
// handler's text exposition. It skips without promtool, unless
// FUSEBOX_E2E=1 asks for it.
func TestMetricsHandlerPassesPromtool(t *testing.T) {
	promtool := needPromtool(t)
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{Policies: fleetPolicies()})
	observeFleet(t, a, 2)
	reg := prometheus.NewPedanticRegistry()
	g, err := registerGatherer(reg, a, CollectorConfig{}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandlers(t, g, reg)
	rec := serve(h, "/metrics", http.Header{"Accept": {"text/plain;version=0.0.4"}})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = rec.Body
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
