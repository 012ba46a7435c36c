package telemetry

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fusebox-dev/fusebox/resilience"
)

// referenceCollector is the Collector as it was before scrapes were built
// in place: a metric per series sent to a prometheus.Registry, which
// checks and sorts them. Tests compare its exposition with the Gatherer's.
type referenceCollector struct {
	agg              *Aggregator
	latency, backoff histogramMap

	calls, duration, attempts, retries, backoffDesc,
	timeouts, rejections, fallbacks, state, transitions, failureRate *prometheus.Desc
}

func newReferenceCollector(a *Aggregator, cfg CollectorConfig) (*referenceCollector, error) {
	c, err := NewCollector(a, cfg)
	if err != nil {
		return nil, err
	}
	d := func(f family) *prometheus.Desc {
		s := familySpecs()[f]
		return prometheus.NewDesc(s.name, s.help, s.labels, nil)
	}
	return &referenceCollector{
		agg: a, latency: c.latency, backoff: c.backoff,
		calls: d(famCalls), duration: d(famDuration), attempts: d(famAttempts), retries: d(famRetries),
		backoffDesc: d(famBackoff), timeouts: d(famTimeouts), rejections: d(famRejections), fallbacks: d(famFallbacks),
		state: d(famState), transitions: d(famTransitions), failureRate: d(famFailureRate),
	}, nil
}

func (c *referenceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.calls, c.duration, c.attempts, c.retries, c.backoffDesc,
		c.timeouts, c.rejections, c.fallbacks, c.state, c.transitions, c.failureRate} {
		ch <- d
	}
}

// metric returns the histogram counts (indexed by fine bucket) as a metric
// with classic and native buckets, writing the protobuf message directly:
// buckets map in order, so the native spans come out sorted.
func referenceHistogram(m *histogramMap, desc *prometheus.Desc, labels []*dto.LabelPair, counts []uint64, sum time.Duration) prometheus.Metric {
	h := &refHistogram{desc: desc, labels: labels}
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
			h.spans = append(h.spans, refSpan(int32(k), 1))
			started, prevK, run = true, k, int64(c)
		case k == prevK:
			run += int64(c)
		default:
			flush()
			if k == prevK+1 {
				*h.spans[len(h.spans)-1].Length++
			} else {
				h.spans = append(h.spans, refSpan(int32(k-prevK-1), 1))
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

func refSpan(offset int32, length uint32) *dto.BucketSpan {
	return &dto.BucketSpan{Offset: &offset, Length: &length}
}

// refHistogram is a histogram with classic and native (schema 3)
// buckets, as a client_golang Histogram configured with both exposes.
type refHistogram struct {
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

func (h *refHistogram) Desc() *prometheus.Desc { return h.desc }

func (h *refHistogram) Write(m *dto.Metric) error {
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
		m.Histogram.PositiveSpan = []*dto.BucketSpan{refSpan(0, 0)}
	}
	return nil
}

// refSample is a counter or gauge value of a scrape.
type refSample struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  float64
	gauge  bool
}

func (s *refSample) Desc() *prometheus.Desc { return s.desc }

func (s *refSample) Write(m *dto.Metric) error {
	m.Label = s.labels
	if s.gauge {
		m.Gauge = &dto.Gauge{Value: &s.value}
	} else {
		m.Counter = &dto.Counter{Value: &s.value}
	}
	return nil
}

// refScrape are the figures of a pipeline the collector exposes.
type refScrape struct {
	totals     Counts
	latency    [latencyBuckets]uint64
	latSum     time.Duration
	backoff    [backoffBuckets]uint64
	backoffSum time.Duration
	state      resilience.State
	counts     [resilience.NumStates][resilience.NumStates][resilience.NumReasons]uint64
}

// refScrape copies the figures the collector exposes into s.
func (p *pipeline) refScrape(s *refScrape) {
	st, _ := p.flush(false)
	s.backoff = st.backoff
	p.mu.Lock()
	h := &p.hist
	s.totals, s.latency, s.latSum, s.backoffSum = h.totals, h.cumLat, h.latSum, h.backoffSum
	s.state, s.counts = h.breaker.state, h.breaker.counts
	p.mu.Unlock()
}

func (c *referenceCollector) Collect(ch chan<- prometheus.Metric) {
	var s refScrape
	for _, p := range c.agg.list() {
		p.refScrape(&s)
		c.collect(ch, p, &s)
	}
}

func (c *referenceCollector) collect(ch chan<- prometheus.Metric, p *pipeline, s *refScrape) {
	l := newSeriesLabels(p.name)
	// One allocation for the pipeline's counters and gauges.
	batch := make([]refSample, 0, 2*int(resilience.NumOutcomes)+NumScopes+int(NumRejections)+int(resilience.NumStates)+3)
	emit := func(d *prometheus.Desc, labels []*dto.LabelPair, v uint64) {
		batch = append(batch, refSample{desc: d, labels: labels, value: float64(v)})
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
	ch <- referenceHistogram(&c.latency, c.duration, l.pipeline, s.latency[:], s.latSum)
	ch <- referenceHistogram(&c.backoff, c.backoffDesc, l.pipeline, s.backoff[:], s.backoffSum)

	state, hasBreaker := s.state, true
	if c.agg.policies != nil {
		if ps, ok := c.agg.policies.ReadPolicies(p.name); ok {
			hasBreaker = ps.Breaker != nil
			if hasBreaker {
				state = ps.Breaker.State
				batch = append(batch, refSample{desc: c.failureRate, labels: l.pipeline, value: ps.Breaker.FailureRate, gauge: true})
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
			batch = append(batch, refSample{desc: c.state, labels: l.states[st], value: v, gauge: true})
			ch <- &batch[len(batch)-1]
		}
	}
}
