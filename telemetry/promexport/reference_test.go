package promexport

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// referenceCollector is the Collector as it was before scrapes were built
// in place: a metric per series sent to a prometheus.Registry, which
// checks and sorts them. Tests compare its exposition with the gatherer's.
type referenceCollector struct {
	agg              *telemetry.Aggregator
	latency, backoff histogramMap

	calls, duration, attempts, retries, backoffDesc,
	timeouts, rejections, fallbacks, state, transitions, failureRate *prometheus.Desc
}

func newReferenceCollector(a *telemetry.Aggregator, cfg CollectorConfig) (*referenceCollector, error) {
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

func (c *referenceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.agg.ReadCumulative(nil) {
		c.collect(ch, &p)
	}
}

func (c *referenceCollector) collect(ch chan<- prometheus.Metric, p *telemetry.Cumulative) {
	l := newSeriesLabels(p.Name)
	// One allocation for the pipeline's counters and gauges.
	batch := make([]refSample, 0, 2*int(resilience.NumOutcomes)+telemetry.NumScopes+int(telemetry.NumRejections)+int(resilience.NumStates)+3)
	emit := func(d *prometheus.Desc, labels []*dto.LabelPair, v uint64) {
		batch = append(batch, refSample{desc: d, labels: labels, value: float64(v)})
		ch <- &batch[len(batch)-1]
	}
	for o := range resilience.NumOutcomes {
		emit(c.calls, l.calls[o], p.Counts.Calls[o])
	}
	for o := range resilience.NumOutcomes {
		emit(c.attempts, l.attempts[o], p.Counts.Attempts[o])
	}
	emit(c.retries, l.pipeline, p.Counts.Retries)
	for sc := range telemetry.NumScopes {
		emit(c.timeouts, l.timeouts[sc], p.Counts.Timeouts[sc])
	}
	for r := range telemetry.NumRejections {
		emit(c.rejections, l.rejections[r], p.Counts.Rejections[r])
	}
	emit(c.fallbacks, l.pipeline, p.Counts.Fallbacks)
	for _, tc := range p.Transitions {
		ch <- prometheus.MustNewConstMetric(c.transitions, prometheus.CounterValue, float64(tc.Count),
			p.Name, tc.From.String(), tc.To.String(), tc.Reason.String())
	}
	ch <- referenceHistogram(&c.latency, c.duration, l.pipeline, fineCounts(p.Latency, telemetry.LatencyBuckets), p.Latency.Sum)
	ch <- referenceHistogram(&c.backoff, c.backoffDesc, l.pipeline, fineCounts(p.Backoff, telemetry.BackoffBuckets), p.Backoff.Sum)

	state, hasBreaker := p.State, true
	if p.PoliciesKnown {
		hasBreaker = p.Policies.Breaker != nil
		if hasBreaker {
			state = p.Policies.Breaker.State
			batch = append(batch, refSample{desc: c.failureRate, labels: l.pipeline, value: p.Policies.Breaker.FailureRate, gauge: true})
			ch <- &batch[len(batch)-1]
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

// fineCounts returns the counts of h's n buckets, by bucket.
func fineCounts(h telemetry.FineHistogram, n int) []uint64 {
	out := make([]uint64, n)
	copy(out[h.Lo:], h.Counts)
	return out
}
