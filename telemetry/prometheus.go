package telemetry

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/fusebox-dev/fusebox/resilience"
)

// DefaultLatencyBuckets are the classic bucket bounds of
// fusebox_call_duration_seconds, in seconds: 5 ms to 10 s.
var DefaultLatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// DefaultBackoffBuckets are the classic bucket bounds of
// fusebox_retry_backoff_seconds, in seconds: 10 ms to 1 min.
var DefaultBackoffBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// nativeSchema is the schema of the native histograms: 8 buckets per power
// of two, each 9 % wide, as client_golang's NativeHistogramBucketFactor 1.1.
const nativeSchema = 3

// CollectorConfig configures a Collector. The zero value works.
type CollectorConfig struct {
	// LatencyBuckets are the classic bucket bounds of the call duration
	// histogram, in seconds, increasing. Nil means DefaultLatencyBuckets.
	LatencyBuckets []float64
	// BackoffBuckets are the classic bucket bounds of the retry delay
	// histogram, in seconds, increasing. Nil means DefaultBackoffBuckets.
	BackoffBuckets []float64
}

// Collector is a prometheus.Collector that reads an Aggregator at scrape
// time, as client_golang's dbstats collector reads a database: nothing is
// pushed on the hot path. The metric names and labels are those of
// ARCHITECTURE.md; label values are pipeline names (from configuration)
// and fixed enumerations. Histograms carry classic buckets, derived from
// the aggregator's fine histograms, and native buckets (schema 3) for
// scrapers that ask for the protobuf format. It is safe for concurrent use.
type Collector struct {
	agg              *Aggregator
	latency, backoff histogramMap

	calls, duration, attempts, retries, backoffDesc,
	timeouts, rejections, fallbacks, state, transitions, failureRate *prometheus.Desc
}

// histogramMap maps the buckets of a fine histogram to classic and native
// buckets, computed once: a fine bucket goes where its midpoint lies.
type histogramMap struct {
	bits    uint
	bounds  []float64 // classic upper bounds, seconds
	classic []int     // fine bucket -> first classic bound >= its midpoint (len(bounds): +Inf only)
	native  []int     // fine bucket -> native bucket index; math.MinInt for the zero bucket
}

func newHistogramMap(b uint, bounds []float64, field string) (histogramMap, error) {
	for i, v := range bounds {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || (i > 0 && v <= bounds[i-1]) {
			return histogramMap{}, fmt.Errorf("telemetry: invalid CollectorConfig.%s[%d] = %v: bounds must be finite, positive and increasing", field, i, v)
		}
	}
	n := bucketCount(b)
	m := histogramMap{bits: b, bounds: slices.Clone(bounds), classic: make([]int, n), native: make([]int, n)}
	for i := range n {
		mid := bucketMid(i, b).Seconds()
		m.classic[i], _ = slices.BinarySearch(m.bounds, mid)
		if mid <= 0 {
			m.native[i] = math.MinInt
			continue
		}
		// Native bucket k of schema s holds (2^((k-1)/2^s), 2^(k/2^s)].
		m.native[i] = int(math.Ceil(math.Log2(mid) * (1 << nativeSchema)))
	}
	return m, nil
}

// metric returns the histogram counts (indexed by fine bucket) as a const
// metric with classic and native buckets.
func (m *histogramMap) metric(desc *prometheus.Desc, counts []uint64, sum time.Duration, created time.Time, pipeline string) (prometheus.Metric, error) {
	var count, zero uint64
	classic := make([]uint64, len(m.bounds)+1)
	native := map[int]int64{}
	for i, c := range counts {
		if c == 0 {
			continue
		}
		count += c
		classic[m.classic[i]] += c
		if k := m.native[i]; k == math.MinInt {
			zero += c
		} else {
			native[k] += int64(c)
		}
	}
	nh, err := prometheus.NewConstNativeHistogram(desc, count, sum.Seconds(), native, nil, zero, nativeSchema, 0, created, pipeline)
	if err != nil {
		return nil, err
	}
	buckets := make([]*dto.Bucket, len(m.bounds))
	var cum uint64
	for i, ub := range m.bounds {
		cum += classic[i]
		buckets[i] = &dto.Bucket{CumulativeCount: proto.Uint64(cum), UpperBound: proto.Float64(ub)}
	}
	return classicAndNative{Metric: nh, buckets: buckets}, nil
}

// classicAndNative is a const native histogram that also carries classic
// buckets, as a client_golang Histogram with both kinds of buckets does.
type classicAndNative struct {
	prometheus.Metric
	buckets []*dto.Bucket
}

// Write writes the native histogram and adds the classic buckets.
func (h classicAndNative) Write(m *dto.Metric) error {
	if err := h.Metric.Write(m); err != nil {
		return err
	}
	m.Histogram.Bucket = h.buckets
	return nil
}

// NewCollector returns a collector of a's figures, or an error naming an
// invalid field of cfg. Register it on the registry the /metrics handler
// serves (never the default one); see Register.
func NewCollector(a *Aggregator, cfg CollectorConfig) (*Collector, error) {
	if a == nil {
		return nil, fmt.Errorf("telemetry: NewCollector: the aggregator must not be nil")
	}
	if cfg.LatencyBuckets == nil {
		cfg.LatencyBuckets = DefaultLatencyBuckets
	}
	if cfg.BackoffBuckets == nil {
		cfg.BackoffBuckets = DefaultBackoffBuckets
	}
	lat, err := newHistogramMap(latencyBits, cfg.LatencyBuckets, "LatencyBuckets")
	if err != nil {
		return nil, err
	}
	bo, err := newHistogramMap(backoffBits, cfg.BackoffBuckets, "BackoffBuckets")
	if err != nil {
		return nil, err
	}
	p := []string{"pipeline"}
	return &Collector{
		agg: a, latency: lat, backoff: bo,
		calls: prometheus.NewDesc("fusebox_calls_total",
			"Calls that went through a pipeline, by how they ended.", append(p, "outcome"), nil),
		duration: prometheus.NewDesc("fusebox_call_duration_seconds",
			"Time calls took from entering a pipeline to returning, retries and waits included.", p, nil),
		attempts: prometheus.NewDesc("fusebox_attempts_total",
			"Attempts made to call the protected function, by how they ended.", append(p, "outcome"), nil),
		retries: prometheus.NewDesc("fusebox_retries_total",
			"Retries scheduled after a failed attempt.", p, nil),
		backoffDesc: prometheus.NewDesc("fusebox_retry_backoff_seconds",
			"Delays waited before retries.", p, nil),
		timeouts: prometheus.NewDesc("fusebox_timeouts_total",
			"Timeouts that fired, by whether they bounded an attempt or the whole call.", append(p, "scope"), nil),
		rejections: prometheus.NewDesc("fusebox_rejections_total",
			"Calls or retries refused without calling the function, by reason.", append(p, "reason"), nil),
		fallbacks: prometheus.NewDesc("fusebox_fallbacks_total",
			"Calls whose error a fallback replaced.", p, nil),
		state: prometheus.NewDesc("fusebox_breaker_state",
			"Circuit breaker state: 1 for the current state, 0 for the others.", append(p, "state"), nil),
		transitions: prometheus.NewDesc("fusebox_breaker_transitions_total",
			"Circuit breaker transitions, by states and reason.", append(p, "from", "to", "reason"), nil),
		failureRate: prometheus.NewDesc("fusebox_breaker_failure_rate",
			"Share of failed calls in the circuit breaker's current window, from 0 to 1.", p, nil),
	}, nil
}

// Register registers a collector of a's figures on reg, followed by more
// collectors (those of other components exposed on the same /metrics).
func Register(reg prometheus.Registerer, a *Aggregator, cfg CollectorConfig, more ...prometheus.Collector) (*Collector, error) {
	if reg == nil {
		return nil, fmt.Errorf("telemetry: Register: the registerer must not be nil")
	}
	c, err := NewCollector(a, cfg)
	if err != nil {
		return nil, err
	}
	for _, col := range append([]prometheus.Collector{c}, more...) {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("telemetry: registering collector: %w", err)
		}
	}
	return c, nil
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.calls, c.duration, c.attempts, c.retries, c.backoffDesc,
		c.timeouts, c.rejections, c.fallbacks, c.state, c.transitions, c.failureRate} {
		ch <- d
	}
}

// scrape are the figures of a pipeline the collector exposes.
type scrape struct {
	totals     Counts
	latency    [latencyBuckets]uint64
	latSum     time.Duration
	backoff    [backoffBuckets]uint64
	backoffSum time.Duration
	state      resilience.State
	counts     [resilience.NumStates][resilience.NumStates][resilience.NumReasons]uint64
}

// scrape copies the figures the collector exposes into s.
func (p *pipeline) scrape(s *scrape) {
	st, _ := p.flush(false)
	s.backoff = st.backoff
	p.mu.Lock()
	h := &p.hist
	s.totals, s.latency, s.latSum, s.backoffSum = h.totals, h.cumLat, h.latSum, h.backoffSum
	s.state, s.counts = h.breaker.state, h.breaker.counts
	p.mu.Unlock()
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	var s scrape
	for _, p := range c.agg.list() {
		p.scrape(&s)
		c.collect(ch, p, &s)
	}
}

func (c *Collector) collect(ch chan<- prometheus.Metric, p *pipeline, s *scrape) {
	name := p.name
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(d, prometheus.CounterValue, float64(v), p.start, labels...)
	}
	for o := range resilience.NumOutcomes {
		counter(c.calls, s.totals.Calls[o], name, o.String())
	}
	for o := range resilience.NumOutcomes {
		counter(c.attempts, s.totals.Attempts[o], name, o.String())
	}
	counter(c.retries, s.totals.Retries, name)
	for sc := range resilience.Scope(NumScopes) {
		counter(c.timeouts, s.totals.Timeouts[sc], name, sc.String())
	}
	for r := range NumRejections {
		counter(c.rejections, s.totals.Rejections[r], name, r.String())
	}
	counter(c.fallbacks, s.totals.Fallbacks, name)
	for from := range resilience.NumStates {
		for to := range resilience.NumStates {
			for r, n := range s.counts[from][to] {
				if n != 0 {
					counter(c.transitions, n, name, from.String(), to.String(), resilience.Reason(r).String())
				}
			}
		}
	}
	if m, err := c.latency.metric(c.duration, s.latency[:], s.latSum, p.start, name); err == nil {
		ch <- m
	} else {
		ch <- prometheus.NewInvalidMetric(c.duration, err)
	}
	if m, err := c.backoff.metric(c.backoffDesc, s.backoff[:], s.backoffSum, p.start, name); err == nil {
		ch <- m
	} else {
		ch <- prometheus.NewInvalidMetric(c.backoffDesc, err)
	}

	state, hasBreaker := s.state, true
	if c.agg.policies != nil {
		if ps, ok := c.agg.policies.ReadPolicies(name); ok {
			hasBreaker = ps.Breaker != nil
			if hasBreaker {
				state = ps.Breaker.State
				ch <- prometheus.MustNewConstMetric(c.failureRate, prometheus.GaugeValue, ps.Breaker.FailureRate, name)
			}
		}
	}
	if hasBreaker {
		for st := range resilience.NumStates {
			v := 0.0
			if st == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, name, st.String())
		}
	}
}
