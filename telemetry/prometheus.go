package telemetry

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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

// metric returns the histogram counts (indexed by fine bucket) as a metric
// with classic and native buckets, writing the protobuf message directly:
// buckets map in order, so the native spans come out sorted.
func (m *histogramMap) metric(desc *prometheus.Desc, labels []*dto.LabelPair, counts []uint64, sum time.Duration) prometheus.Metric {
	h := &histogramSample{desc: desc, labels: labels}
	h.cum = make([]uint64, len(m.bounds))
	h.classic = make([]dto.Bucket, len(m.bounds))
	var count, zero uint64
	prevK, prevN := 0, int64(0)
	var run int64 // count of the native bucket prevK being summed
	started := false
	flush := func() {
		if !started {
			return
		}
		h.deltas = append(h.deltas, run-prevN)
		prevN = run
	}
	for i, c := range counts {
		if c == 0 {
			continue
		}
		count += c
		if j := m.classic[i]; j < len(h.cum) {
			h.cum[j] += c
		}
		k := m.native[i]
		if k == math.MinInt {
			zero += c
			continue
		}
		switch {
		case !started:
			h.spans = append(h.spans, span(int32(k), 1))
			started, prevK, run = true, k, int64(c)
		case k == prevK:
			run += int64(c)
		default:
			flush()
			if k == prevK+1 {
				*h.spans[len(h.spans)-1].Length++
			} else {
				h.spans = append(h.spans, span(int32(k-prevK-1), 1))
			}
			prevK, run = k, int64(c)
		}
	}
	flush()
	var cum uint64
	for i := range h.cum {
		cum += h.cum[i]
		h.cum[i] = cum
	}
	h.count, h.zero, h.sum = count, zero, sum.Seconds()
	h.bounds = m.bounds
	return h
}

func span(offset int32, length uint32) *dto.BucketSpan {
	return &dto.BucketSpan{Offset: &offset, Length: &length}
}

// histogramSample is a histogram with classic and native (schema 3)
// buckets, as a client_golang Histogram configured with both exposes.
type histogramSample struct {
	desc       *prometheus.Desc
	labels     []*dto.LabelPair
	count      uint64
	zero       uint64
	sum        float64
	bounds     []float64
	cum        []uint64
	classic    []dto.Bucket
	spans      []*dto.BucketSpan
	deltas     []int64
	schema     int32
	zeroThresh float64
}

func (h *histogramSample) Desc() *prometheus.Desc { return h.desc }

func (h *histogramSample) Write(m *dto.Metric) error {
	m.Label = h.labels
	buckets := make([]*dto.Bucket, len(h.bounds))
	for i := range h.bounds {
		b := &h.classic[i]
		b.CumulativeCount, b.UpperBound = &h.cum[i], &h.bounds[i]
		buckets[i] = b
	}
	h.schema = nativeSchema
	m.Histogram = &dto.Histogram{
		SampleCount: &h.count, SampleSum: &h.sum, Bucket: buckets,
		Schema: &h.schema, ZeroThreshold: &h.zeroThresh, ZeroCount: &h.zero,
		PositiveSpan: h.spans, PositiveDelta: h.deltas,
	}
	if len(h.spans) == 0 && h.zero == 0 {
		// An empty native histogram still needs a span to be told apart
		// from a classic one.
		m.Histogram.PositiveSpan = []*dto.BucketSpan{span(0, 0)}
	}
	return nil
}

// sample is a counter or gauge value of a scrape.
type sample struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  float64
	gauge  bool
}

func (s *sample) Desc() *prometheus.Desc { return s.desc }

func (s *sample) Write(m *dto.Metric) error {
	m.Label = s.labels
	if s.gauge {
		m.Gauge = &dto.Gauge{Value: &s.value}
	} else {
		m.Counter = &dto.Counter{Value: &s.value}
	}
	return nil
}

// seriesLabels are the label pairs of a pipeline's series, made at its
// first scrape and shared, read-only, by the later ones.
type seriesLabels struct {
	pipeline        []*dto.LabelPair
	calls, attempts [resilience.NumOutcomes][]*dto.LabelPair
	timeouts        [NumScopes][]*dto.LabelPair
	rejections      [NumRejections][]*dto.LabelPair
	states          [resilience.NumStates][]*dto.LabelPair
}

func newSeriesLabels(name string) *seriesLabels {
	pair := func(n, v string) *dto.LabelPair { return &dto.LabelPair{Name: &n, Value: &v} }
	pl := pair("pipeline", name)
	// Pairs are sorted by name, as the registry expects.
	l := &seriesLabels{pipeline: []*dto.LabelPair{pl}}
	for o := range resilience.NumOutcomes {
		l.calls[o] = []*dto.LabelPair{pair("outcome", o.String()), pl}
		l.attempts[o] = l.calls[o]
	}
	for sc := range resilience.Scope(NumScopes) {
		l.timeouts[sc] = []*dto.LabelPair{pl, pair("scope", sc.String())}
	}
	for r := range NumRejections {
		l.rejections[r] = []*dto.LabelPair{pl, pair("reason", r.String())}
	}
	for st := range resilience.NumStates {
		l.states[st] = []*dto.LabelPair{pl, pair("state", st.String())}
	}
	return l
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
	l := p.labels.Load()
	if l == nil {
		l = newSeriesLabels(p.name)
		p.labels.Store(l)
	}
	// One allocation for the pipeline's counters and gauges.
	batch := make([]sample, 0, 2*int(resilience.NumOutcomes)+NumScopes+int(NumRejections)+int(resilience.NumStates)+3)
	emit := func(d *prometheus.Desc, labels []*dto.LabelPair, v uint64) {
		batch = append(batch, sample{desc: d, labels: labels, value: float64(v)})
		ch <- &batch[len(batch)-1]
	}
	for o := range resilience.NumOutcomes {
		emit(c.calls, l.calls[o], s.totals.Calls[o])
	}
	for o := range resilience.NumOutcomes {
		emit(c.attempts, l.attempts[o], s.totals.Attempts[o])
	}
	emit(c.retries, l.pipeline, s.totals.Retries)
	for sc := range NumScopes {
		emit(c.timeouts, l.timeouts[sc], s.totals.Timeouts[sc])
	}
	for r := range NumRejections {
		emit(c.rejections, l.rejections[r], s.totals.Rejections[r])
	}
	emit(c.fallbacks, l.pipeline, s.totals.Fallbacks)
	for from := range resilience.NumStates {
		for to := range resilience.NumStates {
			for r, n := range s.counts[from][to] {
				if n != 0 {
					ch <- prometheus.MustNewConstMetric(c.transitions, prometheus.CounterValue, float64(n),
						p.name, from.String(), to.String(), resilience.Reason(r).String())
				}
			}
		}
	}
	ch <- c.latency.metric(c.duration, l.pipeline, s.latency[:], s.latSum)
	ch <- c.backoff.metric(c.backoffDesc, l.pipeline, s.backoff[:], s.backoffSum)

	state, hasBreaker := s.state, true
	if c.agg.policies != nil {
		if ps, ok := c.agg.policies.ReadPolicies(p.name); ok {
			hasBreaker = ps.Breaker != nil
			if hasBreaker {
				state = ps.Breaker.State
				batch = append(batch, sample{desc: c.failureRate, labels: l.pipeline, value: ps.Breaker.FailureRate, gauge: true})
				ch <- &batch[len(batch)-1]
			}
		}
	}
	if hasBreaker {
		for st := range resilience.NumStates {
			v := 0.0
			if st == state {
				v = 1
			}
			batch = append(batch, sample{desc: c.state, labels: l.states[st], value: v, gauge: true})
			ch <- &batch[len(batch)-1]
		}
	}
}
