package promexport

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

func newTestRegistry(t testing.TB, a *telemetry.Aggregator) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if _, err := register(reg, a, CollectorConfig{}); err != nil {
		t.Fatal(err)
	}
	return reg
}

func newTestGatherer(t testing.TB, a *telemetry.Aggregator, more ...prometheus.Collector) *gatherer {
	t.Helper()
	g, err := registerGatherer(prometheus.NewPedanticRegistry(), a, CollectorConfig{}, more...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// observeSample feeds a pipeline: two calls (one retried), a rejection, a
// call timeout, a fallback and a breaker trip.
func observeSample(o resilience.Observer) {
	ctx := context.Background()
	call(o, 1, epoch, 3*time.Millisecond, resilience.OutcomeSuccess)
	call(o, 2, epoch, 40*time.Millisecond, resilience.OutcomeFailure, resilience.OutcomeSuccess)
	for _, e := range []resilience.Event{
		{Kind: resilience.KindRejected, Reason: resilience.ReasonBulkheadFull},
		{Kind: resilience.KindTimeout, Scope: resilience.ScopeCall},
		{Kind: resilience.KindFallback, Reason: resilience.ReasonFallbackFunc},
		{Kind: resilience.KindBreakerTransition, From: resilience.StateClosed, To: resilience.StateOpen, Reason: resilience.ReasonAuto},
	} {
		e.Time = epoch
		o.Observe(ctx, e)
	}
}

func TestCollectorExposesTheArchitectureMetrics(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{
		Policies: telemetry.PolicyReaderFunc(func(name string) (telemetry.PolicyStats, bool) {
			return telemetry.PolicyStats{Breaker: &telemetry.BreakerLive{State: resilience.StateOpen, FailureRate: 0.75}}, name == "db"
		}),
	})
	observeSample(mustBind(t, a, "db"))
	reg := newTestRegistry(t, a)
	const want = `
# HELP fusebox_attempts_total Attempts made to call the protected function, by how they ended.
# TYPE fusebox_attempts_total counter
fusebox_attempts_total{outcome="canceled",pipeline="db"} 0
fusebox_attempts_total{outcome="failure",pipeline="db"} 1
fusebox_attempts_total{outcome="rejected",pipeline="db"} 0
fusebox_attempts_total{outcome="success",pipeline="db"} 2
fusebox_attempts_total{outcome="timeout",pipeline="db"} 0
# HELP fusebox_breaker_failure_rate Share of failed calls in the circuit breaker's current window, from 0 to 1.
# TYPE fusebox_breaker_failure_rate gauge
fusebox_breaker_failure_rate{pipeline="db"} 0.75
# HELP fusebox_breaker_state Circuit breaker state: 1 for the current state, 0 for the others.
# TYPE fusebox_breaker_state gauge
fusebox_breaker_state{pipeline="db",state="closed"} 0
fusebox_breaker_state{pipeline="db",state="forced_closed"} 0
fusebox_breaker_state{pipeline="db",state="forced_open"} 0
fusebox_breaker_state{pipeline="db",state="half_open"} 0
fusebox_breaker_state{pipeline="db",state="open"} 1
# HELP fusebox_breaker_transitions_total Circuit breaker transitions, by states and reason.
# TYPE fusebox_breaker_transitions_total counter
fusebox_breaker_transitions_total{from="closed",pipeline="db",reason="auto",to="open"} 1
# HELP fusebox_call_duration_seconds Time calls took from entering a pipeline to returning, retries and waits included.
# TYPE fusebox_call_duration_seconds histogram
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.005"} 1
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.01"} 1
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.025"} 1
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.05"} 1
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.1"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.25"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="0.5"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="1"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="2.5"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="5"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="10"} 2
fusebox_call_duration_seconds_bucket{pipeline="db",le="+Inf"} 2
fusebox_call_duration_seconds_sum{pipeline="db"} 0.083
fusebox_call_duration_seconds_count{pipeline="db"} 2
# HELP fusebox_calls_total Calls that went through a pipeline, by how they ended.
# TYPE fusebox_calls_total counter
fusebox_calls_total{outcome="canceled",pipeline="db"} 0
fusebox_calls_total{outcome="failure",pipeline="db"} 0
fusebox_calls_total{outcome="rejected",pipeline="db"} 0
fusebox_calls_total{outcome="success",pipeline="db"} 2
fusebox_calls_total{outcome="timeout",pipeline="db"} 0
# HELP fusebox_fallbacks_total Calls whose error a fallback replaced.
# TYPE fusebox_fallbacks_total counter
fusebox_fallbacks_total{pipeline="db"} 1
# HELP fusebox_rejections_total Calls or retries refused without calling the function, by reason.
# TYPE fusebox_rejections_total counter
fusebox_rejections_total{pipeline="db",reason="breaker_open"} 0
fusebox_rejections_total{pipeline="db",reason="bulkhead_full"} 1
fusebox_rejections_total{pipeline="db",reason="concurrency_limit"} 0
fusebox_rejections_total{pipeline="db",reason="rate_limited"} 0
fusebox_rejections_total{pipeline="db",reason="retry_budget"} 0
# HELP fusebox_retries_total Retries scheduled after a failed attempt.
# TYPE fusebox_retries_total counter
fusebox_retries_total{pipeline="db"} 1
# HELP fusebox_retry_backoff_seconds Delays waited before retries.
# TYPE fusebox_retry_backoff_seconds histogram
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.01"} 0
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.025"} 0
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.05"} 0
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.1"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.25"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="0.5"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="1"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="2.5"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="5"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="10"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="30"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="60"} 1
fusebox_retry_backoff_seconds_bucket{pipeline="db",le="+Inf"} 1
fusebox_retry_backoff_seconds_sum{pipeline="db"} 0.1
fusebox_retry_backoff_seconds_count{pipeline="db"} 1
# HELP fusebox_timeouts_total Timeouts that fired, by whether they bounded an attempt or the whole call.
# TYPE fusebox_timeouts_total counter
fusebox_timeouts_total{pipeline="db",scope="attempt"} 0
fusebox_timeouts_total{pipeline="db",scope="call"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Errorf("registry with the collector: %v", err)
	}
	c, err := NewCollector(a, CollectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(prometheus.GathererFunc(c.gather), strings.NewReader(want)); err != nil {
		t.Errorf("collector as a gatherer: %v", err)
	}
	if err := testutil.TransactionalGatherAndCompare(newTestGatherer(t, a), strings.NewReader(want)); err != nil {
		t.Errorf("gatherer: %v", err)
	}
}

func TestCollectorExposesNativeHistograms(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{})
	observeSample(mustBind(t, a, "db"))
	reg := newTestRegistry(t, a)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "fusebox_call_duration_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSchema() != nativeSchema || len(h.GetPositiveSpan()) == 0 || len(h.GetBucket()) != len(telemetry.DefaultLatencyBuckets) {
			t.Errorf("histogram has schema %d, %d native spans, %d classic buckets", h.GetSchema(), len(h.GetPositiveSpan()), len(h.GetBucket()))
		}
		var n int64
		for _, d := range h.GetPositiveDelta() {
			n += d // deltas of the first span add up to the last bucket's count
		}
		if h.GetSampleCount() != 2 {
			t.Errorf("native histogram counts %d calls, want 2", h.GetSampleCount())
		}
		return
	}
	t.Error("fusebox_call_duration_seconds is missing")
}

func TestCollectorRejectsBadBuckets(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{})
	_, err := NewCollector(a, CollectorConfig{LatencyBuckets: []float64{0.1, 0.05}})
	if err == nil || !strings.Contains(err.Error(), "LatencyBuckets[1] = 0.05") {
		t.Errorf("err = %v, want one naming LatencyBuckets[1] = 0.05", err)
	}
}

// needPromtool returns the path of promtool. It skips t without promtool,
// unless FUSEBOX_E2E=1 asks for it.
func needPromtool(t *testing.T) string {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("FUSEBOX_E2E") == "1" {
			t.Fatal("FUSEBOX_E2E=1 but promtool is not on PATH (apt-get install prometheus)")
		}
		t.Skip("promtool is not on PATH; install Debian's prometheus package to run this check")
	}
	return promtool
}

// TestExpositionPassesPromtool runs `promtool check metrics` on the text
// exposition. It skips without promtool, unless FUSEBOX_E2E=1 asks for it.
func TestExpositionPassesPromtool(t *testing.T) {
	promtool := needPromtool(t)
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{Policies: fleetPolicies()})
	observeFleet(t, a, 0)
	body, _ := scrape(t, promhttp.HandlerForTransactional(newTestGatherer(t, a), promhttp.HandlerOpts{}), "text/plain")
	buf := bytes.NewBuffer(body)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = buf
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// named is an observer that reaches the aggregator by pipeline name.
type named struct {
	a    *telemetry.Aggregator
	name string
}

func (n named) Observe(ctx context.Context, e resilience.Event) {
	e.Pipeline = n.name
	n.a.Observe(ctx, e)
}

// fleetPolicies gives the pipelines named db* a half-open breaker and
// those named cache* no breaker; the others have no policies known.
func fleetPolicies() telemetry.PolicyReader {
	breaker := &telemetry.BreakerLive{State: resilience.StateHalfOpen, FailureRate: 0.25}
	return telemetry.PolicyReaderFunc(func(name string) (telemetry.PolicyStats, bool) {
		switch {
		case strings.HasPrefix(name, "db"):
			return telemetry.PolicyStats{Breaker: breaker}, true
		case strings.HasPrefix(name, "cache"):
			return telemetry.PolicyStats{}, true
		}
		return telemetry.PolicyStats{}, false
	})
}

// observeFleet feeds pipelines whose names sort differently in bytes and
// in the order they appear (capitals, digits, accents); each round adds
// pipelines and traffic: calls of durations from zero to beyond the last
// bucket, retries, timeouts, rejections, fallbacks and breaker
// transitions of every kind.
func observeFleet(t testing.TB, a *telemetry.Aggregator, round int) {
	t.Helper()
	ctx := context.Background()
	names := []string{"search", "db-primary", "Payments", "cache", "db", "zebra", "café", "cache-2", "a", "db-replica-10", "db-replica-9", "Zebra"}
	at := epoch.Add(time.Duration(round) * time.Minute)
	durations := []time.Duration{0, time.Microsecond, 3 * time.Millisecond, 7 * time.Millisecond, 90 * time.Millisecond, 2 * time.Second, 20 * time.Second}
	for i, name := range names[:min(len(names), 4+4*round)] {
		o := named{a, name}
		for j := range i + 2 {
			d := durations[(i+j+round)%len(durations)]
			outcomes := []resilience.Outcome{resilience.Outcome((i + j) % int(resilience.NumOutcomes))}
			if j%3 == 1 {
				outcomes = append([]resilience.Outcome{resilience.OutcomeFailure, resilience.OutcomeTimeout}, outcomes...)
			}
			call(o, uint64(round*1000+j), at, d, outcomes...)
		}
		events := []resilience.Event{
			{Kind: resilience.KindRejected, Reason: []resilience.Reason{resilience.ReasonBreakerOpen, resilience.ReasonBulkheadFull, resilience.ReasonRetryBudget}[i%3]},
			{Kind: resilience.KindTimeout, Scope: resilience.Scope(i % telemetry.NumScopes)},
			{Kind: resilience.KindFallback, Reason: resilience.ReasonFallbackFunc},
		}
		switch (i + round) % 3 {
		case 0:
			events = append(events,
				resilience.Event{Kind: resilience.KindBreakerTransition, From: resilience.StateClosed, To: resilience.StateOpen, Reason: resilience.ReasonAuto},
				resilience.Event{Kind: resilience.KindBreakerTransition, From: resilience.StateOpen, To: resilience.StateHalfOpen, Reason: resilience.ReasonAuto},
				resilience.Event{Kind: resilience.KindBreakerTransition, From: resilience.StateHalfOpen, To: resilience.StateClosed, Reason: resilience.ReasonAuto})
		case 1:
			events = append(events,
				resilience.Event{Kind: resilience.KindBreakerTransition, From: resilience.StateClosed, To: resilience.StateForcedOpen, Reason: resilience.ReasonManual},
				resilience.Event{Kind: resilience.KindBreakerTransition, From: resilience.StateForcedOpen, To: resilience.StateClosed, Reason: resilience.ReasonExpired},
				resilience.Event{Kind: resilience.KindBreakerTransition, From: resilience.StateClosed, To: resilience.StateOpen, Reason: resilience.ReasonNone})
		}
		for _, e := range events {
			e.Time = at
			o.Observe(ctx, e)
		}
	}
	// Empty histograms, and histograms of the zero bucket alone.
	named{a, "idle"}.Observe(ctx, resilience.Event{Kind: resilience.KindRejected, Reason: resilience.ReasonBulkheadFull, Time: at})
	call(named{a, "instant"}, uint64(round), at, 0, resilience.OutcomeSuccess)
}

// expositionFormats are the Accept headers of the formats /metrics serves.
var expositionFormats = []struct{ name, accept string }{
	{"text", "text/plain;version=0.0.4"},
	{"OpenMetrics", "application/openmetrics-text;version=1.0.0"},
	{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"},
}

// scrape serves a GET /metrics accepting the given format from h.
func scrape(t testing.TB, h http.Handler, accept string) (body []byte, contentType string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", accept)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics (%s): status %d: %s", accept, rec.Code, rec.Body)
	}
	return rec.Body.Bytes(), rec.Header().Get("Content-Type")
}

// firstDifference describes where two expositions part.
func firstDifference(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	line := func(b []byte) string {
		start := bytes.LastIndexByte(b[:min(i, len(b))], '\n') + 1
		end := len(b)
		if j := bytes.IndexByte(b[min(i, len(b)):], '\n'); j >= 0 {
			end = min(i, len(b)) + j
		}
		return fmt.Sprintf("%q", b[start:end])
	}
	return fmt.Sprintf("at byte %d of %d (want %d): got line %s, want line %s", i, len(got), len(want), line(got), line(want))
}

func TestGathererExposesWhatTheFormerCollectorDid(t *testing.T) {
	configs := []struct {
		name string
		cfg  CollectorConfig
	}{
		{"default buckets", CollectorConfig{}},
		{"configured buckets", CollectorConfig{LatencyBuckets: []float64{0.001, 0.1, 1}, BackoffBuckets: []float64{1}}},
	}
	for _, tc := range configs {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newTestAggregator(t, telemetry.AggregatorConfig{Policies: fleetPolicies()})
			// Other collectors whose families sort before, among and after
			// the aggregator's.
			inflight := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fusebox_calls_inflight", Help: "Calls in flight."}, []string{"pipeline"})
			inflight.WithLabelValues("db").Set(3)
			inflight.WithLabelValues("a").Set(1)
			first := prometheus.NewCounter(prometheus.CounterOpts{Name: "app_requests_total", Help: "Requests served."})
			first.Add(7)
			last := prometheus.NewGauge(prometheus.GaugeOpts{Name: "zz_up", Help: "Whether the app is up."})
			last.Set(1)
			more := []prometheus.Collector{inflight, first, last}

			ref, err := newReferenceCollector(a, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			old := prometheus.NewPedanticRegistry()
			old.MustRegister(append([]prometheus.Collector{ref}, more...)...)
			withCollector := prometheus.NewPedanticRegistry()
			if _, err := register(withCollector, a, tc.cfg, more...); err != nil {
				t.Fatal(err)
			}
			g, err := registerGatherer(prometheus.NewPedanticRegistry(), a, tc.cfg, more...)
			if err != nil {
				t.Fatal(err)
			}
			opts := promhttp.HandlerOpts{EnableOpenMetrics: true}
			reference := promhttp.HandlerFor(old, opts)
			handlers := []struct {
				name string
				h    http.Handler
			}{
				{"gatherer", promhttp.HandlerForTransactional(g, opts)},
				{"registry with the collector", promhttp.HandlerFor(withCollector, opts)},
			}
			// Rounds reuse the gatherer's messages with more pipelines,
			// more series and changed values.
			for round := range 3 {
				observeFleet(t, a, round)
				for _, f := range expositionFormats {
					want, wantType := scrape(t, reference, f.accept)
					if !bytes.Contains(want, []byte("fusebox_breaker_transitions_total")) {
						t.Errorf("round %d, %s: the exposition has no transitions:\n%s", round, f.name, want)
					}
					for _, h := range handlers {
						got, gotType := scrape(t, h.h, f.accept)
						if gotType != wantType {
							t.Errorf("round %d, %s, %s: content type %q, want %q", round, f.name, h.name, gotType, wantType)
						}
						if !bytes.Equal(got, want) {
							t.Errorf("round %d, %s, %s: the exposition differs from the reference %s", round, f.name, h.name, firstDifference(got, want))
						}
					}
				}
			}
		})
	}
}

func TestCollectorGathersWhatItCollects(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{Policies: fleetPolicies()})
	observeFleet(t, a, 2)
	c, err := NewCollector(a, CollectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	opts := promhttp.HandlerOpts{EnableOpenMetrics: true}
	for _, f := range expositionFormats {
		want, _ := scrape(t, promhttp.HandlerFor(reg, opts), f.accept)
		got, _ := scrape(t, promhttp.HandlerFor(prometheus.GathererFunc(c.gather), opts), f.accept)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the expositions differ %s", f.name, firstDifference(got, want))
		}
	}
}

func TestGathererRejectsBadInput(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{})
	clash := prometheus.NewCounter(prometheus.CounterOpts{Name: "fusebox_calls_total", Help: "Calls that went through a pipeline, by how they ended."})
	tests := []struct {
		name string
		reg  *prometheus.Registry
		agg  *telemetry.Aggregator
		cfg  CollectorConfig
		more []prometheus.Collector
		want string
	}{
		{"a nil registry is refused", nil, a, CollectorConfig{}, nil, "the registry must not be nil"},
		{"a nil aggregator is refused", prometheus.NewRegistry(), nil, CollectorConfig{}, nil, "the aggregator must not be nil"},
		{"bad buckets are named", prometheus.NewRegistry(), a, CollectorConfig{BackoffBuckets: []float64{1, -1}}, nil, "BackoffBuckets[1] = -1"},
		{"a collector of the aggregator's names is refused", prometheus.NewRegistry(), a, CollectorConfig{}, []prometheus.Collector{clash}, "registering collector"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := registerGatherer(tc.reg, tc.agg, tc.cfg, tc.more...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("registerGatherer: %v, %v; want an error containing %q", g, err, tc.want)
			}
		})
	}
}

// unchecked is a collector that describes nothing, which a registry
// does not check at registration.
type unchecked struct{ m prometheus.Metric }

func (unchecked) Describe(chan<- *prometheus.Desc)      {}
func (u unchecked) Collect(ch chan<- prometheus.Metric) { ch <- u.m }

func TestGathererReportsAFamilyGatheredTwice(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{})
	observeSample(mustBind(t, a, "db"))
	desc := prometheus.NewDesc("fusebox_retries_total", "Retries scheduled after a failed attempt.", []string{"pipeline"}, nil)
	g := newTestGatherer(t, a, unchecked{prometheus.MustNewConstMetric(desc, prometheus.CounterValue, 5, "other")})
	mfs, done, err := g.Gather()
	defer done()
	if err == nil || !strings.Contains(err.Error(), "fusebox_retries_total is gathered both") {
		t.Errorf("err = %v, want one naming fusebox_retries_total", err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		if seen[mf.GetName()] {
			t.Errorf("%s is exposed twice", mf.GetName())
		}
		seen[mf.GetName()] = true
	}
}

func TestScrapesLeaveOutPipelinesNamedInInvalidUTF8(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{})
	observeSample(mustBind(t, a, "db"))
	observeSample(mustBind(t, a, "bad\xff"))
	c, err := NewCollector(a, CollectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g := newTestGatherer(t, a)
	mfs, done, gErr := g.Gather()
	defer done()
	cmfs, cErr := c.gather()
	for name, res := range map[string]struct {
		mfs []*dto.MetricFamily
		err error
	}{"gatherer": {mfs, gErr}, "collector": {cmfs, cErr}} {
		if res.err == nil || !strings.Contains(res.err.Error(), `"bad\xff"`) {
			t.Errorf("%s: err = %v, want one naming the pipeline \"bad\\xff\"", name, res.err)
		}
		var pipelines []string
		for _, mf := range res.mfs {
			if mf.GetName() == "fusebox_retries_total" {
				for _, m := range mf.GetMetric() {
					pipelines = append(pipelines, m.GetLabel()[0].GetValue())
				}
			}
		}
		if len(pipelines) != 1 || pipelines[0] != "db" {
			t.Errorf("%s: fusebox_retries_total has pipelines %q, want only db", name, pipelines)
		}
	}
}

func TestBuildReusesItsMessages(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{Policies: fleetPolicies()})
	for round := range 3 {
		observeFleet(t, a, round)
	}
	c, err := NewCollector(a, CollectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	x := &exposition{}
	for range 2 {
		if err := c.build(x); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(20, func() { _ = c.build(x) }); n != 0 {
		t.Errorf("a scrape after the first allocates %v times, want 0", n)
	}
}

func TestGathererUnderConcurrentScrapes(t *testing.T) {
	a, clock := newTestAggregator(t, telemetry.AggregatorConfig{})
	g := newTestGatherer(t, a)
	const writers, calls, scrapers = 4, 1000, 3
	obs := []resilience.Observer{mustBind(t, a, "a"), mustBind(t, a, "b")}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range calls {
				at := epoch.Add(time.Duration(i) * time.Millisecond)
				call(obs[w%2], uint64(w*calls+i+1), at, time.Duration(i)*time.Microsecond, resilience.OutcomeFailure, resilience.OutcomeSuccess)
				if i%100 == 0 {
					obs[w%2].Observe(context.Background(), resilience.Event{Kind: resilience.KindBreakerTransition, To: resilience.StateOpen, Reason: resilience.ReasonAuto, Time: at})
				}
			}
		})
	}
	var readers sync.WaitGroup
	stop := make(chan struct{})
	for range scrapers {
		readers.Go(func() {
			var last float64
			for i := 0; ; i++ {
				select {
				case <-stop:
					if i >= 10 {
						return
					}
				default:
				}
				calls := scrapeCalls(t, g)
				if calls < last {
					t.Errorf("a scrape counts %v calls after one counting %v", calls, last)
				}
				last = calls
				clock.Advance(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if got, want := scrapeCalls(t, g), float64(writers*calls); got != want {
		t.Errorf("fusebox_calls_total adds up to %v, want %v", got, want)
	}
}

// scrapeCalls gathers g, encodes the result as text and protobuf and
// returns the sum of fusebox_calls_total.
func scrapeCalls(t *testing.T, g *gatherer) float64 {
	mfs, done, err := g.Gather()
	defer done()
	if err != nil {
		t.Error(err)
		return 0
	}
	var sum float64
	var buf bytes.Buffer
	proto := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Error(err)
		}
		if err := proto.Encode(mf); err != nil {
			t.Error(err)
		}
		if mf.GetName() == "fusebox_calls_total" {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// discard is a ResponseWriter that keeps nothing of the body.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}

// BenchmarkScrape scrapes 1,000 pipelines that each saw traffic and breaker
// transitions, beside the Go and process collectors as on the app's
// /metrics. path=former is the collector as it was before scrapes were
// built in place, path=registry the collector registered on a registry
// (Register, promhttp.HandlerFor), path=gatherer is registerGatherer
// (promhttp.HandlerForTransactional), path=collector the collector's own
// Gather, which builds afresh every time, and path=handler the gatherer
// served by Handler rather than promhttp. op=gather gathers,
// op=serve answers GET /metrics in the format, gzipped with
// encoding=gzip.
func BenchmarkScrape(b *testing.B) {
	a, _ := newTestAggregator(b, telemetry.AggregatorConfig{})
	for i := range 1000 {
		o := mustBind(b, a, fmt.Sprintf("pipeline-%04d", i))
		for j := range 50 {
			call(o, uint64(j), epoch.Add(time.Duration(j)*100*time.Millisecond), time.Duration(j+1)*time.Millisecond,
				resilience.OutcomeFailure, resilience.OutcomeSuccess)
		}
		for _, tr := range [][2]resilience.State{{resilience.StateClosed, resilience.StateOpen}, {resilience.StateOpen, resilience.StateHalfOpen}, {resilience.StateHalfOpen, resilience.StateClosed}} {
			o.Observe(context.Background(), resilience.Event{Kind: resilience.KindBreakerTransition, From: tr[0], To: tr[1], Reason: resilience.ReasonAuto, Time: epoch})
		}
	}
	runtimeCollectors := func() []prometheus.Collector {
		return []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	}
	reg := prometheus.NewRegistry()
	c, err := register(reg, a, CollectorConfig{}, runtimeCollectors()...)
	if err != nil {
		b.Fatal(err)
	}
	g, err := registerGatherer(prometheus.NewRegistry(), a, CollectorConfig{}, runtimeCollectors()...)
	if err != nil {
		b.Fatal(err)
	}
	// The collector as it was before scrapes were built in place, for
	// comparison.
	former := prometheus.NewRegistry()
	ref, err := newReferenceCollector(a, CollectorConfig{})
	if err != nil {
		b.Fatal(err)
	}
	former.MustRegister(append(runtimeCollectors(), ref)...)
	gathers := []struct {
		name   string
		gather func() error
	}{
		{"former", func() error { _, err := former.Gather(); return err }},
		{"registry", func() error { _, err := reg.Gather(); return err }},
		{"gatherer", func() error { _, done, err := g.Gather(); done(); return err }},
		{"collector", func() error { _, err := c.gather(); return err }},
	}
	for _, gt := range gathers {
		b.Run("pipelines=1000/path="+gt.name+"/op=gather", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := gt.gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("pipelines=1000/path=gatherer/op=gather/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, done, err := g.Gather(); err != nil {
					b.Error(err)
				} else {
					done()
				}
			}
		})
	})
	opts := promhttp.HandlerOpts{EnableOpenMetrics: true}
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"former", promhttp.HandlerFor(former, opts)},
		{"registry", promhttp.HandlerFor(reg, opts)},
		{"gatherer", promhttp.HandlerForTransactional(g, opts)},
	}
	for _, h := range handlers {
		for _, f := range expositionFormats[:2] {
			b.Run("pipelines=1000/path="+h.name+"/op=serve/format="+f.name, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept", f.accept)
				b.ReportAllocs()
				for b.Loop() {
					h.h.ServeHTTP(discard{http.Header{}}, req)
				}
			})
		}
	}
	// The gatherer served by Handler beside promhttp, in every
	// format, and gzipped.
	mh, err := newMetricsHandler(g, nil, HandlerOpts{EnableOpenMetrics: true})
	if err != nil {
		b.Fatal(err)
	}
	serves := []struct {
		name string
		h    http.Handler
	}{{"gatherer", handlers[2].h}, {"handler", mh}}
	for _, f := range expositionFormats {
		for _, encoding := range []string{"", "gzip"} {
			for _, sv := range serves {
				if sv.name == "gatherer" && encoding == "" && f.name != "protobuf" {
					continue // run above
				}
				name := "pipelines=1000/path=" + sv.name + "/op=serve/format=" + f.name
				if encoding != "" {
					name += "/encoding=" + encoding
				}
				b.Run(name, func(b *testing.B) {
					req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
					req.Header.Set("Accept", f.accept)
					req.Header.Set("Accept-Encoding", encoding)
					b.ReportAllocs()
					for b.Loop() {
						sv.h.ServeHTTP(discard{http.Header{}}, req)
					}
				})
			}
		}
	}
	b.Run("pipelines=1000/path=handler/op=serve/format=text/parallel", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept", expositionFormats[0].accept)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mh.ServeHTTP(discard{http.Header{}}, req)
			}
		})
	})
	b.Run("pipelines=1000/snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.Snapshot()
		}
	})
}

func TestAForgottenPipelineLeavesTheScrapeAndTheLabelCache(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{})
	for i, name := range []string{"billing", "orders"} {
		call(mustBind(t, a, name), uint64(i+1), epoch, time.Millisecond, resilience.OutcomeSuccess)
	}
	c, err := NewCollector(a, CollectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pipelines := func() []string {
		t.Helper()
		mfs, err := c.gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			if mf.GetName() != "fusebox_retries_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				out = append(out, m.GetLabel()[0].GetValue())
			}
		}
		return out
	}
	if got := pipelines(); !slices.Equal(got, []string{"billing", "orders"}) {
		t.Fatalf("pipelines scraped = %v", got)
	}
	if !a.Forget("billing") {
		t.Fatal("Forget(billing) = false")
	}
	if got := pipelines(); !slices.Equal(got, []string{"orders"}) {
		t.Errorf("pipelines scraped after Forget = %v, want [orders]", got)
	}
	c.labelsMu.Lock()
	defer c.labelsMu.Unlock()
	if _, ok := c.labels["billing"]; ok || len(c.labels) != 1 {
		t.Errorf("label cache holds %d pipelines after Forget, billing among them: %v", len(c.labels), ok)
	}
}
