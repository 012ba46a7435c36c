package promexport

import (
	"cmp"
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// exposition holds the metric families of one scrape, built in place: the
// protobuf messages come from a few slabs rather than one allocation each,
// and a gatherer reuses them from one scrape to the next.
type exposition struct {
	fams [numFamilies]dto.MetricFamily
	out  []*dto.MetricFamily // the non-empty families, in name order

	// Scratch space of a build.
	cum       []telemetry.Cumulative  // the figures of every pipeline, in name order
	cumLabels []*seriesLabels         // their label pairs
	pipes     []*telemetry.Cumulative // those exposed
	labels    []*seriesLabels
	trans     []transitionSample
	spans     []nativeSpan // of the histogram being built
	deltas    []int64

	metricPtrs slab[*dto.Metric]
	metrics    slab[dto.Metric]
	counters   slab[dto.Counter]
	gauges     slab[dto.Gauge]
	values     slab[float64]
	hists      slab[dto.Histogram]
	histVals   slab[histValues]
	buckets    slab[dto.Bucket]
	bucketPtrs slab[*dto.Bucket]
	cumulative slab[uint64]
	spanMsgs   slab[dto.BucketSpan]
	spanPtrs   slab[*dto.BucketSpan]
	spanVals   slab[nativeSpan]
	deltaVals  slab[int64]
	labelPtrs  slab[*dto.LabelPair]

	// Used by a gatherer: the families of the registry and the
	// aggregator merged, and the done function handing x back.
	merged []*dto.MetricFamily
	done   func()
}

// histValues are the scalars of a histogram message.
type histValues struct {
	count, zero uint64
	sum         float64
}

// nativeSpan is a span of native buckets.
type nativeSpan struct {
	offset int32
	length uint32
}

// transitionSample is a count of breaker transitions of a pipeline; key
// orders the series as their label values do (from, pipeline, reason, to).
type transitionSample struct {
	key    uint64
	value  uint64
	pipe   int
	from   resilience.State
	to     resilience.State
	reason resilience.Reason
}

// slab hands out slices of one backing array, so that a scrape makes a
// handful of allocations rather than several per metric. A slice handed
// out stays valid when the slab grows: growing starts a new array, and
// the next reset makes one array large enough for a whole scrape.
type slab[T any] struct {
	buf  []T
	used int // elements of buf handed out
	want int // elements handed out since the last reset
}

// take returns n zero elements.
func (s *slab[T]) take(n int) []T {
	s.want += n
	if s.used+n > len(s.buf) {
		s.buf = make([]T, max(n, 2*len(s.buf), 64))
		s.used = 0
	}
	r := s.buf[s.used : s.used+n : s.used+n]
	s.used += n
	return r
}

// one returns a pointer to a zero element.
func (s *slab[T]) one() *T { return &s.take(1)[0] }

// reserve makes room for n more elements in the current array.
func (s *slab[T]) reserve(n int) {
	if s.used+n > len(s.buf) {
		s.buf, s.used = make([]T, n), 0
	}
}

// reset readies the slab for another scrape, once the last one is no
// longer read: it zeroes what was handed out, or makes one array large
// enough for all of it.
func (s *slab[T]) reset() {
	if s.want > len(s.buf) {
		s.buf = make([]T, s.want)
	} else {
		clear(s.buf[:s.used])
	}
	s.used, s.want = 0, 0
}

func (x *exposition) reset() {
	x.fams = [numFamilies]dto.MetricFamily{}
	x.metricPtrs.reset()
	x.metrics.reset()
	x.counters.reset()
	x.gauges.reset()
	x.values.reset()
	x.hists.reset()
	x.histVals.reset()
	x.buckets.reset()
	x.bucketPtrs.reset()
	x.cumulative.reset()
	x.spanMsgs.reset()
	x.spanPtrs.reset()
	x.spanVals.reset()
	x.deltaVals.reset()
	x.labelPtrs.reset()
	clear(x.pipes)
	clear(x.labels)
	clear(x.cumLabels)
	x.pipes, x.labels, x.trans = x.pipes[:0], x.labels[:0], x.trans[:0]
}

// Series of a pipeline, by kind.
const (
	countersPerPipeline = 2*int(resilience.NumOutcomes) + telemetry.NumScopes + int(telemetry.NumRejections) + 2 // + retries and fallbacks
	gaugesPerPipeline   = int(resilience.NumStates) + 1
	metricsPerPipeline  = countersPerPipeline + gaugesPerPipeline + 2 // + two histograms
)

// build fills x with the families of the aggregator's figures, as a
// prometheus.Registry holding only c would gather them: empty families
// left out, families sorted by name and series by label values. It
// returns an error naming the pipelines left out, if any.
func (c *Collector) build(x *exposition) error {
	x.reset()
	var errs prometheus.MultiError
	x.cum = c.agg.ReadCumulative(x.cum)
	x.cumLabels = c.seriesLabels(x.cum, x.cumLabels[:0])
	for i := range x.cum {
		p, l := &x.cum[i], x.cumLabels[i]
		if l.err != nil {
			errs = append(errs, l.err)
			continue
		}
		x.pipes = append(x.pipes, p)
		x.labels = append(x.labels, l)
	}
	n := len(x.pipes)
	nb := len(c.latency.bounds) + len(c.backoff.bounds)
	x.metricPtrs.reserve(n * metricsPerPipeline)
	x.metrics.reserve(n * metricsPerPipeline)
	x.counters.reserve(n * countersPerPipeline)
	x.gauges.reserve(n * gaugesPerPipeline)
	x.values.reserve(n * (countersPerPipeline + gaugesPerPipeline))
	x.hists.reserve(2 * n)
	x.histVals.reserve(2 * n)
	x.buckets.reserve(n * nb)
	x.bucketPtrs.reserve(n * nb)
	x.cumulative.reserve(n * nb)
	// Histograms have a span or two of native buckets.
	x.spanVals.reserve(4 * n)
	x.spanMsgs.reserve(4 * n)
	x.spanPtrs.reserve(4 * n)
	x.deltaVals.reserve(8 * n)

	// The outcome label sorts before the pipeline label: series of the
	// same outcome come together.
	no := len(c.outcomes)
	calls, attempts := x.metricPtrs.take(no*n), x.metricPtrs.take(no*n)
	x.fams[famCalls].Metric, x.fams[famAttempts].Metric = calls, attempts
	for _, fc := range []struct {
		f family
		n int
	}{
		{famRetries, n}, {famFallbacks, n}, {famTimeouts, telemetry.NumScopes * n}, {famRejections, int(telemetry.NumRejections) * n},
		{famDuration, n}, {famBackoff, n}, {famState, int(resilience.NumStates) * n}, {famFailureRate, n},
	} {
		x.fams[fc.f].Metric = x.metricPtrs.take(fc.n)[:0]
	}
	add := func(f family, m *dto.Metric) { x.fams[f].Metric = append(x.fams[f].Metric, m) }

	for i, p := range x.pipes {
		l := x.labels[i]
		t, state := &p.Counts, p.State
		duration := x.histogram(c, &c.latency, l.pipeline, &p.Latency)
		backoff := x.histogram(c, &c.backoff, l.pipeline, &p.Backoff)
		for _, tc := range p.Transitions {
			x.trans = append(x.trans, c.transition(i, tc.From, tc.To, tc.Reason, tc.Count))
		}

		for r, o := range c.outcomes {
			calls[r*n+i] = x.counter(l.calls[o], t.Calls[o])
			attempts[r*n+i] = x.counter(l.attempts[o], t.Attempts[o])
		}
		add(famRetries, x.counter(l.pipeline, t.Retries))
		for _, sc := range c.scopes {
			add(famTimeouts, x.counter(l.timeouts[sc], t.Timeouts[sc]))
		}
		for _, r := range c.rejects {
			add(famRejections, x.counter(l.rejections[r], t.Rejections[r]))
		}
		add(famFallbacks, x.counter(l.pipeline, t.Fallbacks))
		add(famDuration, duration)
		add(famBackoff, backoff)

		hasBreaker := true
		if p.PoliciesKnown {
			ps := &p.Policies
			hasBreaker = ps.Breaker != nil
			if hasBreaker {
				state = ps.Breaker.State
				add(famFailureRate, x.gauge(l.pipeline, ps.Breaker.FailureRate))
			}
		}
		if hasBreaker {
			for _, s := range c.states {
				v := 0.0
				if s == state {
					v = 1
				}
				add(famState, x.gauge(l.states[s], v))
			}
		}
	}

	slices.SortFunc(x.trans, func(a, b transitionSample) int { return cmp.Compare(a.key, b.key) })
	nt := len(x.trans)
	x.metricPtrs.reserve(nt)
	x.metrics.reserve(nt)
	x.counters.reserve(nt)
	x.values.reserve(nt)
	x.labelPtrs.reserve(4 * nt)
	trans := x.metricPtrs.take(nt)
	for j, t := range x.trans {
		labels := x.labelPtrs.take(4)
		labels[0], labels[1], labels[2], labels[3] = c.fromPairs[t.from], x.labels[t.pipe].pipeline[0], c.reasonPairs[t.reason], c.toPairs[t.to]
		trans[j] = x.counter(labels, t.value)
	}
	x.fams[famTransitions].Metric = trans

	x.out = x.out[:0]
	for _, f := range c.byName {
		mf := &x.fams[f]
		mf.Name, mf.Help, mf.Type = &c.specs[f].name, &c.specs[f].help, &c.types[f]
		if len(mf.Metric) > 0 {
			x.out = append(x.out, mf)
		}
	}
	return errs.MaybeUnwrap()
}

// transition returns the sample of v transitions of pipeline i.
func (c *Collector) transition(i int, from, to resilience.State, r resilience.Reason, v uint64) transitionSample {
	key := uint64(c.stateRank[from])<<56 | uint64(i)<<16 | uint64(c.reasonRank[r])<<8 | uint64(c.stateRank[to])
	return transitionSample{key: key, value: v, pipe: i, from: from, to: to, reason: r}
}

func (x *exposition) counter(labels []*dto.LabelPair, v uint64) *dto.Metric {
	val := x.values.one()
	*val = float64(v)
	ctr := x.counters.one()
	ctr.Value = val
	m := x.metrics.one()
	m.Label, m.Counter = labels, ctr
	return m
}

func (x *exposition) gauge(labels []*dto.LabelPair, v float64) *dto.Metric {
	val := x.values.one()
	*val = v
	g := x.gauges.one()
	g.Value = val
	m := x.metrics.one()
	m.Label, m.Gauge = labels, g
	return m
}

// histogram returns the fine histogram fh as a metric with classic and
// native buckets: buckets map in order, so the native spans come out
// sorted.
func (x *exposition) histogram(c *Collector, hm *histogramMap, labels []*dto.LabelPair, fh *telemetry.FineHistogram) *dto.Metric {
	cum := x.cumulative.take(len(hm.bounds))
	spans, deltas := x.spans[:0], x.deltas[:0]
	var count, zero uint64
	prevK, prevN := 0, int64(0)
	var run int64 // count of the native bucket prevK being summed
	started := false
	for j, n := range fh.Counts {
		i := fh.Lo + j
		if n == 0 {
			continue
		}
		count += n
		if j := hm.classic[i]; j < len(cum) {
			cum[j] += n
		}
		k := hm.native[i]
		if k == math.MinInt {
			zero += n
			continue
		}
		switch {
		case !started:
			spans = append(spans, nativeSpan{offset: int32(k), length: 1})
			started, prevK, run = true, k, int64(n)
		case k == prevK:
			run += int64(n)
		default:
			deltas = append(deltas, run-prevN)
			prevN = run
			if k == prevK+1 {
				spans[len(spans)-1].length++
			} else {
				spans = append(spans, nativeSpan{offset: int32(k - prevK - 1), length: 1})
			}
			prevK, run = k, int64(n)
		}
	}
	if started {
		deltas = append(deltas, run-prevN)
	}
	x.spans, x.deltas = spans, deltas

	var total uint64
	buckets, ptrs := x.buckets.take(len(cum)), x.bucketPtrs.take(len(cum))
	for j := range cum {
		total += cum[j]
		cum[j] = total
		b := &buckets[j]
		b.CumulativeCount, b.UpperBound = &cum[j], &hm.bounds[j]
		ptrs[j] = b
	}
	vals := x.histVals.one()
	*vals = histValues{count: count, zero: zero, sum: fh.Sum.Seconds()}
	h := x.hists.one()
	h.SampleCount, h.SampleSum, h.Bucket = &vals.count, &vals.sum, ptrs
	h.Schema, h.ZeroThreshold, h.ZeroCount = &c.schema, &c.zeroThreshold, &vals.zero
	switch {
	case len(spans) > 0:
		sv, msgs, sp := x.spanVals.take(len(spans)), x.spanMsgs.take(len(spans)), x.spanPtrs.take(len(spans))
		copy(sv, spans)
		for j := range sv {
			msgs[j].Offset, msgs[j].Length = &sv[j].offset, &sv[j].length
			sp[j] = &msgs[j]
		}
		d := x.deltaVals.take(len(deltas))
		copy(d, deltas)
		h.PositiveSpan, h.PositiveDelta = sp, d
	case zero == 0:
		// An empty native histogram still needs a span to be told apart
		// from a classic one.
		h.PositiveSpan = c.emptySpans
	}
	m := x.metrics.one()
	m.Label, m.Histogram = labels, h
	return m
}
