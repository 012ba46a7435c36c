package promexport

import (
	"bytes"
	"math"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"pgregory.net/rapid"

	"github.com/fusebox-dev/fusebox/telemetry"
)

// textFormats are the formats the text writer writes, with each escaping
// scheme a client may ask for.
func textFormats() []expfmt.Format {
	var formats []expfmt.Format
	for _, f := range []expfmt.Format{expfmt.FmtText, expfmt.FmtOpenMetrics_1_0_0, expfmt.FmtOpenMetrics_0_0_1} {
		for _, s := range []model.EscapingScheme{model.UnderscoreEscaping, model.NoEscaping, model.DotsEscaping, model.ValueEncodingEscaping} {
			formats = append(formats, f.WithEscapingScheme(s))
		}
	}
	return formats
}

// resetFor prepares w to write the format f into its buffer.
func resetFor(w *textWriter, f expfmt.Format) {
	w.reset(nil, f.FormatType() == expfmt.TypeOpenMetrics, f.ToEscapingScheme())
}

// expfmtEncode encodes one family as expfmt.NewEncoder does.
func expfmtEncode(mf *dto.MetricFamily, f expfmt.Format) ([]byte, error) {
	var buf bytes.Buffer
	err := expfmt.NewEncoder(&buf, f).Encode(mf)
	return buf.Bytes(), err
}

// expfmtExposition encodes families as promhttp does: up to the first
// error, then, without one, the closing lines.
func expfmtExposition(mfs []*dto.MetricFamily, f expfmt.Format) ([]byte, error) {
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, f)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return buf.Bytes(), err
		}
	}
	err := enc.(expfmt.Closer).Close()
	return buf.Bytes(), err
}

// textWriterExposition encodes families with w as the handler does.
func textWriterExposition(w *textWriter, mfs []*dto.MetricFamily, f expfmt.Format) ([]byte, error) {
	resetFor(w, f)
	for _, mf := range mfs {
		if err := w.encode(mf); err != nil {
			return w.buf, err
		}
	}
	w.finish()
	return w.buf, nil
}

func TestTextWriterWritesAGatherersFamiliesAsExpfmt(t *testing.T) {
	a, _ := newTestAggregator(t, telemetry.AggregatorConfig{Policies: fleetPolicies()})
	g := newTestGatherer(t, a,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	w := &textWriter{}
	for round := range 3 {
		observeFleet(t, a, round)
		mfs, done, err := g.Gather()
		if err != nil {
			done()
			t.Fatal(err)
		}
		for _, f := range textFormats() {
			want, wantErr := expfmtExposition(mfs, f)
			fallbacks := w.fallbacks
			got, err := textWriterExposition(w, mfs, f)
			if err != nil || wantErr != nil {
				t.Errorf("round %d, %s: errors %v, want %v", round, f, err, wantErr)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("round %d, %s: the exposition differs from expfmt's %s", round, f, firstDifference(got, want))
			}
			if n := w.fallbacks - fallbacks; n != 0 {
				t.Errorf("round %d, %s: %d families were handed to expfmt, want none", round, f, n)
			}
			for _, name := range []string{"fusebox_breaker_transitions_total", "go_gc_duration_seconds", "process_cpu_seconds_total", "fusebox_call_duration_seconds_bucket"} {
				if !bytes.Contains(got, []byte(name)) {
					t.Errorf("round %d, %s: the exposition has no %s", round, f, name)
				}
			}
		}
		done()
	}
}

func TestTextWriterHandsUnusualFamiliesToExpfmt(t *testing.T) {
	counter := func(name string, labels ...*dto.LabelPair) *dto.MetricFamily {
		return &dto.MetricFamily{Name: &name, Type: dto.MetricType_COUNTER.Enum(),
			Metric: []*dto.Metric{{Label: labels, Counter: &dto.Counter{Value: ptr(2.0)}}}}
	}
	pair := func(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }
	tests := []struct {
		name string
		mf   *dto.MetricFamily
		// fallback is whether the text writer hands the family to
		// expfmt in the text format and OpenMetrics.
		text, openMetrics bool
	}{
		{"a plain counter is written directly", counter("calls_total", pair("pipeline", "db")), false, false},
		{"a metric name with a dot is escaped by expfmt", counter("http.calls_total"), true, true},
		{"a UTF-8 label name is escaped by expfmt", counter("calls_total", pair("café", "x")), true, true},
		{"a __name__ label is left to expfmt", counter("calls_total", pair("__name__", "x.y")), true, true},
		{"a counter named _total is left to expfmt in OpenMetrics", counter("_total"), false, true},
		{"a counter with an exemplar is left to expfmt in OpenMetrics", &dto.MetricFamily{Name: ptr("c_total"), Type: dto.MetricType_COUNTER.Enum(),
			Metric: []*dto.Metric{{Counter: &dto.Counter{Value: ptr(1.0), Exemplar: &dto.Exemplar{Label: []*dto.LabelPair{pair("trace_id", "abc")}, Value: ptr(0.5)}}}}}, false, true},
		{"a family without metrics is refused by expfmt in the text format", &dto.MetricFamily{Name: ptr("empty"), Type: dto.MetricType_GAUGE.Enum()}, true, false},
		{"a counter without its value is refused by expfmt", &dto.MetricFamily{Name: ptr("c_total"), Type: dto.MetricType_COUNTER.Enum(),
			Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: ptr(1.0)}}}}, true, true},
		{"a gauge histogram is left to expfmt", &dto.MetricFamily{Name: ptr("gh"), Type: dto.MetricType_GAUGE_HISTOGRAM.Enum(),
			Metric: []*dto.Metric{{Histogram: &dto.Histogram{SampleCount: ptr(uint64(1))}}}}, true, true},
		{"a float histogram is refused by expfmt in OpenMetrics", &dto.MetricFamily{Name: ptr("fh"), Type: dto.MetricType_HISTOGRAM.Enum(),
			Metric: []*dto.Metric{{Histogram: &dto.Histogram{SampleCountFloat: ptr(1.5)}}}}, false, true},
		{"an unknown type is refused by expfmt", &dto.MetricFamily{Name: ptr("u"), Type: dto.MetricType(42).Enum(),
			Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: ptr(1.0)}}}}, true, true},
	}
	w := &textWriter{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range textFormats() {
				want, wantErr := expfmtEncode(tc.mf, f)
				resetFor(w, f)
				fallbacks := w.fallbacks
				err := w.encode(tc.mf)
				if !bytes.Equal(w.buf, want) || errorText(err) != errorText(wantErr) {
					t.Errorf("%s: wrote %q, %v; expfmt wrote %q, %v", f, w.buf, err, want, wantErr)
				}
				fallback := tc.text
				if f.FormatType() == expfmt.TypeOpenMetrics {
					fallback = tc.openMetrics
				}
				if got := w.fallbacks > fallbacks; got != fallback {
					t.Errorf("%s: handed to expfmt: %v, want %v", f, got, fallback)
				}
			}
		})
	}
}

func TestTextWriterRefusesNilFamiliesAndMetrics(t *testing.T) {
	w := &textWriter{}
	for _, mf := range []*dto.MetricFamily{nil, {Name: ptr("g"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{nil}}} {
		if err := w.encode(mf); err != errNilFamily {
			t.Errorf("encode(%v) = %v, want %v", mf, err, errNilFamily)
		}
	}
}

func TestTextWriterWritesRandomFamiliesAsExpfmt(t *testing.T) {
	w := &textWriter{} // shared, as the handler reuses its writers
	rapid.Check(t, func(t *rapid.T) {
		mfs := rapid.SliceOfN(familyGen(), 1, 6).Draw(t, "families")
		f := rapid.SampledFrom(textFormats()).Draw(t, "format")
		for i, mf := range mfs {
			want, wantErr := expfmtEncode(mf, f)
			resetFor(w, f)
			err := w.encode(mf)
			if !bytes.Equal(w.buf, want) || errorText(err) != errorText(wantErr) {
				t.Fatalf("family %d in %s: wrote\n%q, %v\nexpfmt wrote\n%q, %v", i, f, w.buf, err, want, wantErr)
			}
		}
		want, wantErr := expfmtExposition(mfs, f)
		got, err := textWriterExposition(w, mfs, f)
		if !bytes.Equal(got, want) || errorText(err) != errorText(wantErr) {
			t.Fatalf("%s: the exposition differs from expfmt's %s; errors %v, want %v", f, firstDifference(got, want), err, wantErr)
		}
		// Written out every few bytes, at the end of metrics.
		var out bytes.Buffer
		w.flushAt = rapid.IntRange(1, 300).Draw(t, "flush at")
		w.reset(&out, f.FormatType() == expfmt.TypeOpenMetrics, f.ToEscapingScheme())
		err = nil
		for _, mf := range mfs {
			if err = w.encode(mf); err != nil {
				break
			}
		}
		if err == nil {
			w.finish()
		}
		if ferr := w.flush(); ferr != nil {
			t.Fatal(ferr)
		}
		w.flushAt = flushSize
		if !bytes.Equal(out.Bytes(), want) || errorText(err) != errorText(wantErr) {
			t.Fatalf("%s, written out: the exposition differs from expfmt's %s; errors %v, want %v", f, firstDifference(out.Bytes(), want), err, wantErr)
		}
	})
}

func TestFloatsAreWrittenAsExpfmtWritesThem(t *testing.T) {
	check := func(t interface{ Errorf(string, ...any) }, v float64) {
		for _, f := range []expfmt.Format{expfmt.FmtText, expfmt.FmtOpenMetrics_1_0_0} {
			mf := &dto.MetricFamily{Name: ptr("g"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}
			want, _ := expfmtEncode(mf, f)
			var got []byte
			if f.FormatType() == expfmt.TypeOpenMetrics {
				got = appendOpenMetricsFloat(nil, v)
			} else {
				got = appendTextFloat(nil, v)
			}
			line := "g " + string(got) + "\n"
			if !bytes.HasSuffix(want, []byte("\n"+line)) {
				t.Errorf("%v in %s: wrote %q, expfmt wrote %q", v, f, line, want)
			}
		}
	}
	for _, v := range interestingFloats {
		check(t, v)
	}
	rapid.Check(t, func(t *rapid.T) { check(t, floatGen().Draw(t, "v")) })
}

// errorText is err's text, or "" for nil.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func ptr[T any](v T) *T { return &v }

// interestingFloats are values whose formatting has a special case or an
// edge: integers around the point where 'g' turns to an exponent, signed
// zeros, extremes, NaN and infinities.
var interestingFloats = []float64{
	0, math.Copysign(0, -1), 1, -1, 2, -2, 0.5, 0.1, 1e-4, 1e-5, 0.005, 2.5, 10, 100000, 999999, -999999, 1e6, -1e6, 1000001,
	123456789, 1e15, 1e20, 1e21, 1e22, 9007199254740993, math.MaxInt64, math.MinInt64, -1.5e300,
	math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 2.2250738585072014e-308,
	math.NaN(), math.Float64frombits(0x7ff8000000000001), math.Inf(1), math.Inf(-1), 1.7e-7, 3.14159, 1741092000,
}

func floatGen() *rapid.Generator[float64] {
	return rapid.OneOf(
		rapid.SampledFrom(interestingFloats),
		rapid.Float64(),
		rapid.Map(rapid.Int64Range(-2_000_000, 2_000_000), func(i int64) float64 { return float64(i) }),
		rapid.Map(rapid.Uint64(), math.Float64frombits),
	)
}

// stringGen draws strings that need escaping or quoting, and others.
func stringGen() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.SampledFrom([]string{"", "db", `say "hi"`, `C:\dir`, "two\nlines", `\n`, "café", "日本", "bad\xff", "\\\"\n", "{a=\"b\"}", "# EOF"}),
		rapid.StringOf(rapid.SampledFrom([]rune{'a', 'Z', '0', '_', ':', '.', ' ', '"', '\\', '\n', '\t', 'é', '{', '}', ',', '='})),
		rapid.String(),
		rapid.Map(rapid.SliceOf(rapid.Byte()), func(b []byte) string { return string(b) }),
	)
}

// nameGen draws metric or label names: mostly ones written as they are,
// some that expfmt quotes or escapes.
func nameGen() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.SampledFrom([]string{"up", "calls_total", "_total", "x_total", "a:b", "go_gc_duration_seconds", "pipeline", "le", "quantile", "__name__", "_"}),
		rapid.StringMatching(`[a-zA-Z_:][a-zA-Z0-9_:]{0,10}`),
		rapid.StringMatching(`[a-zA-Z_][a-zA-Z0-9_]{0,6}(_total)?`),
		rapid.SampledFrom([]string{"0up", "http.requests", "café", "has space", "", "quo\"te", "back\\slash", "new\nline", "bad\xff"}),
		stringGen(),
	)
}

var metricTypes = []dto.MetricType{
	dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_SUMMARY, dto.MetricType_UNTYPED,
	dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM, dto.MetricType(9),
}

// familyGen draws metric families of every type, most well formed (a
// value of the family's type, label names shared by the metrics), some
// not, with timestamps, exemplars, float histograms, buckets with and
// without +Inf, and values of every kind.
func familyGen() *rapid.Generator[*dto.MetricFamily] {
	return rapid.Custom(func(t *rapid.T) *dto.MetricFamily {
		mf := &dto.MetricFamily{}
		if rapid.IntRange(0, 20).Draw(t, "has name") > 0 {
			mf.Name = ptr(nameGen().Draw(t, "name"))
		}
		typ := rapid.SampledFrom(metricTypes).Draw(t, "type")
		if rapid.IntRange(0, 20).Draw(t, "has type") > 0 {
			mf.Type = typ.Enum()
		}
		if rapid.Bool().Draw(t, "has help") {
			mf.Help = ptr(stringGen().Draw(t, "help"))
		}
		if rapid.IntRange(0, 5).Draw(t, "has unit") == 0 {
			mf.Unit = ptr(stringGen().Draw(t, "unit"))
		}
		labelNames := rapid.SliceOfN(nameGen(), 0, 3).Draw(t, "label names")
		for range rapid.IntRange(0, 4).Draw(t, "metrics") {
			m := &dto.Metric{}
			names := labelNames
			if rapid.IntRange(0, 5).Draw(t, "other label names") == 0 {
				names = rapid.SliceOfN(nameGen(), 0, 3).Draw(t, "metric label names")
			}
			for _, n := range names {
				lp := &dto.LabelPair{Name: ptr(n), Value: ptr(stringGen().Draw(t, "label value"))}
				if rapid.IntRange(0, 30).Draw(t, "nil label name") == 0 {
					lp.Name = nil
				}
				m.Label = append(m.Label, lp)
			}
			if rapid.IntRange(0, 3).Draw(t, "has timestamp") == 0 {
				m.TimestampMs = ptr(rapid.OneOf(rapid.Int64(), rapid.Int64Range(-1e13, 1e13), rapid.SampledFrom([]int64{0, 1, -1, 1000, 1741092000123})).Draw(t, "timestamp"))
			}
			valueType := typ
			if rapid.IntRange(0, 15).Draw(t, "other value type") == 0 {
				valueType = rapid.SampledFrom(metricTypes).Draw(t, "value type")
			}
			switch valueType {
			case dto.MetricType_COUNTER:
				m.Counter = &dto.Counter{Value: ptr(floatGen().Draw(t, "counter"))}
				if rapid.IntRange(0, 5).Draw(t, "has exemplar") == 0 {
					m.Counter.Exemplar = exemplarGen().Draw(t, "exemplar")
				}
			case dto.MetricType_GAUGE:
				m.Gauge = &dto.Gauge{Value: ptr(floatGen().Draw(t, "gauge"))}
			case dto.MetricType_UNTYPED:
				m.Untyped = &dto.Untyped{Value: ptr(floatGen().Draw(t, "untyped"))}
			case dto.MetricType_SUMMARY:
				s := &dto.Summary{SampleCount: ptr(rapid.Uint64().Draw(t, "count")), SampleSum: ptr(floatGen().Draw(t, "sum"))}
				for range rapid.IntRange(0, 4).Draw(t, "quantiles") {
					q := rapid.OneOf(rapid.SampledFrom([]float64{0, 0.5, 0.9, 0.99, 1}), floatGen()).Draw(t, "quantile")
					s.Quantile = append(s.Quantile, &dto.Quantile{Quantile: &q, Value: ptr(floatGen().Draw(t, "quantile value"))})
				}
				m.Summary = s
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := &dto.Histogram{SampleSum: ptr(floatGen().Draw(t, "sum"))}
				if rapid.IntRange(0, 5).Draw(t, "float count") == 0 {
					h.SampleCountFloat = ptr(floatGen().Draw(t, "count"))
				} else {
					h.SampleCount = ptr(rapid.OneOf(rapid.Uint64Range(0, 1000), rapid.Uint64()).Draw(t, "count"))
				}
				bounds := rapid.SampledFrom([][]float64{{0.005, 0.01, 0.1, 1, 10}, {1, 2.5, 5, math.Inf(1)}, {}, {math.Inf(1)}, {-1, 0, 1e6}}).Draw(t, "bounds")
				if rapid.IntRange(0, 3).Draw(t, "random bounds") == 0 {
					bounds = rapid.SliceOfN(floatGen(), 0, 4).Draw(t, "bucket bounds")
				}
				for _, le := range bounds {
					b := &dto.Bucket{UpperBound: ptr(le)}
					if rapid.IntRange(0, 10).Draw(t, "float bucket") == 0 {
						b.CumulativeCountFloat = ptr(floatGen().Draw(t, "bucket count"))
					} else {
						b.CumulativeCount = ptr(rapid.OneOf(rapid.Uint64Range(0, 1000), rapid.Uint64()).Draw(t, "bucket count"))
					}
					if rapid.IntRange(0, 10).Draw(t, "bucket exemplar") == 0 {
						b.Exemplar = exemplarGen().Draw(t, "exemplar")
					}
					h.Bucket = append(h.Bucket, b)
				}
				if rapid.IntRange(0, 4).Draw(t, "native") == 0 {
					h.Schema = ptr(int32(3))
					h.ZeroThreshold = ptr(1e-128)
					h.PositiveSpan = []*dto.BucketSpan{{Offset: ptr(int32(0)), Length: ptr(uint32(1))}}
					h.PositiveDelta = []int64{1}
				}
				m.Histogram = h
			}
			mf.Metric = append(mf.Metric, m)
		}
		return mf
	})
}

func exemplarGen() *rapid.Generator[*dto.Exemplar] {
	return rapid.Custom(func(t *rapid.T) *dto.Exemplar {
		e := &dto.Exemplar{Value: ptr(floatGen().Draw(t, "value"))}
		for range rapid.IntRange(0, 2).Draw(t, "labels") {
			e.Label = append(e.Label, &dto.LabelPair{Name: ptr(nameGen().Draw(t, "name")), Value: ptr(stringGen().Draw(t, "value"))})
		}
		return e
	})
}

// frozenGatherer serves the same families at every scrape and counts the
// calls of its done functions.
type frozenGatherer struct {
	mfs   []*dto.MetricFamily
	err   error
	dones atomic.Int32
}

func (g *frozenGatherer) Gather() ([]*dto.MetricFamily, func(), error) {
	return g.mfs, func() { g.dones.Add(1) }, g.err
}

var _ prometheus.TransactionalGatherer = (*frozenGatherer)(nil)
