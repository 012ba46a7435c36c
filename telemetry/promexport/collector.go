package promexport

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// DefaultBackoffBuckets are the classic bucket bounds of
// fusebox_retry_backoff_seconds, in seconds: 10 ms to 1 min.
var DefaultBackoffBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// nativeSchema is the schema of the native histograms: 8 buckets per power
// of two, each 9 % wide, as client_golang's NativeHistogramBucketFactor 1.1.
const nativeSchema = 3

// CollectorConfig configures a Collector. The zero value works.
type CollectorConfig struct {
	// LatencyBuckets are the classic bucket bounds of the call duration
	// histogram, in seconds, increasing. Nil means
	// telemetry.DefaultLatencyBuckets.
	LatencyBuckets []float64
	// BackoffBuckets are the classic bucket bounds of the retry delay
	// histogram, in seconds, increasing. Nil means DefaultBackoffBuckets.
	BackoffBuckets []float64
}

// family is one of the metric families a Collector exposes.
type family uint8

const (
	famCalls family = iota
	famDuration
	famAttempts
	famRetries
	famBackoff
	famTimeouts
	famRejections
	famFallbacks
	famState
	famTransitions
	famFailureRate
	numFamilies
)

// familySpec is the name, help, type and label names of a family.
type familySpec struct {
	name, help string
	typ        dto.MetricType
	labels     []string
}

func familySpecs() [numFamilies]familySpec {
	counter, gauge, histogram := dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_HISTOGRAM
	return [numFamilies]familySpec{
		famCalls: {"fusebox_calls_total",
			"Calls that went through a pipeline, by how they ended.", counter, []string{"pipeline", "outcome"}},
		famDuration: {"fusebox_call_duration_seconds",
			"Time calls took from entering a pipeline to returning, retries and waits included.", histogram, []string{"pipeline"}},
		famAttempts: {"fusebox_attempts_total",
			"Attempts made to call the protected function, by how they ended.", counter, []string{"pipeline", "outcome"}},
		famRetries: {"fusebox_retries_total",
			"Retries scheduled after a failed attempt.", counter, []string{"pipeline"}},
		famBackoff: {"fusebox_retry_backoff_seconds",
			"Delays waited before retries.", histogram, []string{"pipeline"}},
		famTimeouts: {"fusebox_timeouts_total",
			"Timeouts that fired, by whether they bounded an attempt or the whole call.", counter, []string{"pipeline", "scope"}},
		famRejections: {"fusebox_rejections_total",
			"Calls or retries refused without calling the function, by reason.", counter, []string{"pipeline", "reason"}},
		famFallbacks: {"fusebox_fallbacks_total",
			"Calls whose error a fallback replaced.", counter, []string{"pipeline"}},
		famState: {"fusebox_breaker_state",
			"Circuit breaker state: 1 for the current state, 0 for the others.", gauge, []string{"pipeline", "state"}},
		famTransitions: {"fusebox_breaker_transitions_total",
			"Circuit breaker transitions, by states and reason.", counter, []string{"pipeline", "from", "to", "reason"}},
		famFailureRate: {"fusebox_breaker_failure_rate",
			"Share of failed calls in the circuit breaker's current window, from 0 to 1.", gauge, []string{"pipeline"}},
	}
}

// Collector is a prometheus.Collector that reads an Aggregator at scrape
// time, as client_golang's dbstats collector reads a database: nothing is
// pushed on the hot path. The metric names and labels are those of
// ARCHITECTURE.md; label values are pipeline names (from configuration)
// and fixed enumerations. Histograms carry classic buckets, derived from
// the aggregator's fine histograms, and native buckets (schema 3) for
// scrapers that ask for the protobuf format.
//
// Register it on a registry of your own and serve that with promhttp; or
// let NewHandler serve the same metrics, with those of a registry, at a
// fraction of the cost of a scrape. It is safe for concurrent use.
type Collector struct {
	agg              *telemetry.Aggregator
	latency, backoff histogramMap

	specs [numFamilies]familySpec
	descs [numFamilies]*prometheus.Desc
	types [numFamilies]dto.MetricType
	// byName lists the families in name order, as a scrape exposes them.
	byName [numFamilies]family

	// The enumerations in the order of their label values, which is the
	// order of the series of a family.
	outcomes []resilience.Outcome
	states   []resilience.State
	scopes   []resilience.Scope
	rejects  []telemetry.Rejection
	// Ranks of the states and reasons in that order, for the transitions.
	stateRank  [resilience.NumStates]uint8
	reasonRank [resilience.NumReasons]uint8
	reasons    []resilience.Reason

	// Label pairs and values shared, read-only, by every scrape.
	fromPairs, toPairs [resilience.NumStates]*dto.LabelPair
	reasonPairs        [resilience.NumReasons]*dto.LabelPair
	schema             int32
	zeroThreshold      float64
	emptySpans         []*dto.BucketSpan

	// labels holds the label pairs of each pipeline's series, made at its
	// first scrape.
	labelsMu sync.Mutex
	labels   map[string]*seriesLabels
}

// histogramMap maps the buckets of a fine histogram to classic and native
// buckets, computed once: a fine bucket goes where its midpoint lies.
type histogramMap struct {
	bounds  []float64 // classic upper bounds, seconds
	classic []int     // fine bucket -> first classic bound >= its midpoint (len(bounds): +Inf only)
	native  []int     // fine bucket -> native bucket index; math.MinInt for the zero bucket
}

func newHistogramMap(n int, bucket func(int) (telemetry.HistogramBucket, bool), bounds []float64, field string) (histogramMap, error) {
	for i, v := range bounds {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || (i > 0 && v <= bounds[i-1]) {
			return histogramMap{}, fmt.Errorf("promexport: invalid CollectorConfig.%s[%d] = %v: bounds must be finite, positive and increasing", field, i, v)
		}
	}
	m := histogramMap{bounds: slices.Clone(bounds), classic: make([]int, n), native: make([]int, n)}
	for i := range n {
		b, _ := bucket(i) // i < n: in range
		mid := (b.Lower + (b.Upper-b.Lower)/2).Seconds()
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

// seriesLabels are the label pairs of a pipeline's series, made at its
// first scrape and shared, read-only, by the later ones.
type seriesLabels struct {
	pipeline        []*dto.LabelPair
	calls, attempts [resilience.NumOutcomes][]*dto.LabelPair
	timeouts        [telemetry.NumScopes][]*dto.LabelPair
	rejections      [telemetry.NumRejections][]*dto.LabelPair
	states          [resilience.NumStates][]*dto.LabelPair
	// err is set when the name cannot be a label value; the pipeline's
	// series are then left out of scrapes, which report err.
	err error
}

func labelPair(n, v string) *dto.LabelPair { return &dto.LabelPair{Name: &n, Value: &v} }

func newSeriesLabels(name string) *seriesLabels {
	if !utf8.ValidString(name) {
		return &seriesLabels{err: fmt.Errorf("promexport: pipeline %q is left out of the metrics: its name is not valid UTF-8", name)}
	}
	pl := labelPair("pipeline", name)
	// Pairs are sorted by name, as the registry expects.
	l := &seriesLabels{pipeline: []*dto.LabelPair{pl}}
	for o := range resilience.NumOutcomes {
		l.calls[o] = []*dto.LabelPair{labelPair("outcome", o.String()), pl}
		l.attempts[o] = l.calls[o]
	}
	for sc := range resilience.Scope(telemetry.NumScopes) {
		l.timeouts[sc] = []*dto.LabelPair{pl, labelPair("scope", sc.String())}
	}
	for r := range telemetry.NumRejections {
		l.rejections[r] = []*dto.LabelPair{pl, labelPair("reason", r.String())}
	}
	for st := range resilience.NumStates {
		l.states[st] = []*dto.LabelPair{pl, labelPair("state", st.String())}
	}
	return l
}

// seriesLabels appends to dst the label pairs of the series of each
// pipeline of cum, made at its first scrape, and forgets those of the
// pipelines no longer there.
func (c *Collector) seriesLabels(cum []telemetry.Cumulative, dst []*seriesLabels) []*seriesLabels {
	c.labelsMu.Lock()
	defer c.labelsMu.Unlock()
	for i := range cum {
		name := cum[i].Name
		l := c.labels[name]
		if l == nil {
			l = newSeriesLabels(name)
			c.labels[name] = l
		}
		dst = append(dst, l)
	}
	if len(c.labels) > len(cum) {
		keep := make(map[string]*seriesLabels, len(cum))
		for i := range cum {
			keep[cum[i].Name] = c.labels[cum[i].Name]
		}
		c.labels = keep
	}
	return dst
}

// byLabel returns the n values of an enumeration sorted by their label.
func byLabel[T interface {
	~uint8
	String() string
}](n T) []T {
	out := make([]T, 0, int(n))
	for v := range n {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b T) int { return cmp.Compare(a.String(), b.String()) })
	return out
}

// NewCollector returns a collector of a's figures, or an error naming an
// invalid field of cfg. Register it on the registry your /metrics handler
// serves (never the default one).
func NewCollector(a *telemetry.Aggregator, cfg CollectorConfig) (*Collector, error) {
	if a == nil {
		return nil, fmt.Errorf("promexport: NewCollector: the aggregator must not be nil")
	}
	if cfg.LatencyBuckets == nil {
		cfg.LatencyBuckets = telemetry.DefaultLatencyBuckets
	}
	if cfg.BackoffBuckets == nil {
		cfg.BackoffBuckets = DefaultBackoffBuckets
	}
	lat, err := newHistogramMap(telemetry.LatencyBuckets, telemetry.LatencyBucket, cfg.LatencyBuckets, "LatencyBuckets")
	if err != nil {
		return nil, err
	}
	bo, err := newHistogramMap(telemetry.BackoffBuckets, telemetry.BackoffBucket, cfg.BackoffBuckets, "BackoffBuckets")
	if err != nil {
		return nil, err
	}
	c := &Collector{agg: a, latency: lat, backoff: bo, specs: familySpecs(), schema: nativeSchema, labels: map[string]*seriesLabels{}}
	for f := range numFamilies {
		s := &c.specs[f]
		c.descs[f] = prometheus.NewDesc(s.name, s.help, s.labels, nil)
		c.types[f] = s.typ
		c.byName[f] = f
	}
	slices.SortFunc(c.byName[:], func(a, b family) int { return cmp.Compare(c.specs[a].name, c.specs[b].name) })
	c.outcomes = byLabel(resilience.NumOutcomes)
	c.states = byLabel(resilience.NumStates)
	c.scopes = byLabel(resilience.Scope(telemetry.NumScopes))
	c.rejects = byLabel(telemetry.NumRejections)
	c.reasons = byLabel(resilience.NumReasons)
	for i, st := range c.states {
		c.stateRank[st] = uint8(i)
		c.fromPairs[st] = labelPair("from", st.String())
		c.toPairs[st] = labelPair("to", st.String())
	}
	for i, r := range c.reasons {
		c.reasonRank[r] = uint8(i)
		c.reasonPairs[r] = labelPair("reason", r.String())
	}
	var offset int32
	var length uint32
	c.emptySpans = []*dto.BucketSpan{{Offset: &offset, Length: &length}}
	return c, nil
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It builds the metrics a
// Handler serves and hands them over one by one.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	x := &exposition{}
	err := c.build(x)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.descs[famCalls], err)
	}
	n := 0
	for f := range numFamilies {
		n += len(x.fams[f].Metric)
	}
	out := make([]builtMetric, 0, n)
	for f := range numFamilies {
		for _, m := range x.fams[f].Metric {
			out = append(out, builtMetric{desc: c.descs[f], m: m})
			ch <- &out[len(out)-1]
		}
	}
}

// builtMetric is a metric of a scrape built by Collect.
type builtMetric struct {
	desc *prometheus.Desc
	m    *dto.Metric
}

func (b *builtMetric) Desc() *prometheus.Desc { return b.desc }

func (b *builtMetric) Write(m *dto.Metric) error {
	m.Label, m.Counter, m.Gauge, m.Histogram = b.m.Label, b.m.Counter, b.m.Gauge, b.m.Histogram
	return nil
}
