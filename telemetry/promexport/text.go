package promexport

import (
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// textWriter writes metric families in the Prometheus text format 0.0.4
// or in OpenMetrics 1.0.0 into a buffer it reuses, and from there to out.
// Its output is byte for byte that of expfmt (MetricFamilyToText, or
// MetricFamilyToOpenMetrics then FinalizeOpenMetrics, after
// model.EscapeMetricFamily with the negotiated escaping scheme, as
// expfmt.NewEncoder writes them), built without expfmt's per-line name
// checks, writer calls and escaping.
//
// It writes the families it recognises itself: counters, gauges, untyped
// metrics, summaries and classic histograms (the classic part of native
// ones) whose metric and label names need neither quoting nor escaping.
// It hands any other family to expfmt (names outside the legacy character
// set, a __name__ label, gauge histograms, float histograms, exemplars
// in OpenMetrics, a message missing its value, an unknown type), so an
// unusual family comes out as expfmt writes it, errors included.
//
// A textWriter is not safe for concurrent use.
type textWriter struct {
	// buf is the output not yet written to out. textWriter implements
	// expfmt's enhanced writer, so a family handed to expfmt is written
	// to buf directly.
	buf []byte
	// out, if not nil, receives buf whenever it holds flushAt bytes
	// at the end of a metric, and when flushed.
	out     io.Writer
	flushAt int
	// openMetrics selects OpenMetrics 1.0.0 over text 0.0.4.
	openMetrics bool
	// scheme is the escaping scheme expfmt applies to the families it
	// writes.
	scheme model.EscapingScheme

	// labels is the current metric's label pairs, rendered: a slice
	// of labelText, which holds those of the family's metrics, the
	// i-th ending at labelEnds[i].
	labels    []byte
	labelText []byte
	labelEnds []int
	// names are label names found valid, by position.
	names []string
	// bounds caches, by position, the rendered bucket bounds or
	// quantiles of the current family: those of a family's metrics
	// are the same as a rule.
	bounds    []renderedFloat
	boundText []byte

	// touched keeps touchLabels's reads from being optimised away.
	touched int

	// fallbacks counts the families handed to expfmt.
	fallbacks int
}

// renderedFloat is a float rendered in boundText[start:end].
type renderedFloat struct {
	bits       uint64
	start, end int
}

// errNilFamily reports a nil family or metric, on which expfmt panics.
var errNilFamily = errors.New("promexport: a metric family or one of its metrics is nil")

// reset prepares w to write a new exposition in a format to out, which
// may be nil to keep it all in buf.
func (w *textWriter) reset(out io.Writer, openMetrics bool, scheme model.EscapingScheme) {
	w.buf = w.buf[:0]
	w.out = out
	if w.flushAt == 0 {
		w.flushAt = flushSize
	}
	w.openMetrics = openMetrics
	w.scheme = scheme
}

// flush writes the buffer to out.
func (w *textWriter) flush() error {
	if w.out == nil || len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Write, WriteString, WriteByte and WriteRune append to the buffer, for
// expfmt; they never fail.
func (w *textWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *textWriter) WriteString(s string) (int, error) {
	w.buf = append(w.buf, s...)
	return len(s), nil
}

func (w *textWriter) WriteByte(c byte) error {
	w.buf = append(w.buf, c)
	return nil
}

func (w *textWriter) WriteRune(r rune) (int, error) {
	n := len(w.buf)
	w.buf = utf8.AppendRune(w.buf, r)
	return len(w.buf) - n, nil
}

// encode writes mf. The error is out's, or expfmt's for a family it
// refuses, after what expfmt wrote of it.
func (w *textWriter) encode(mf *dto.MetricFamily) error {
	if mf == nil {
		return errNilFamily
	}
	for _, m := range mf.Metric {
		if m == nil {
			return errNilFamily
		}
	}
	if w.prepare(mf) {
		if w.openMetrics {
			return w.appendOpenMetrics(mf)
		}
		return w.appendText(mf)
	}
	w.fallbacks++
	escaped := model.EscapeMetricFamily(mf, w.scheme)
	var err error
	if w.openMetrics {
		_, err = expfmt.MetricFamilyToOpenMetrics(w, escaped)
	} else {
		_, err = expfmt.MetricFamilyToText(w, escaped)
	}
	return err
}

// finish appends what ends an exposition: OpenMetrics's "# EOF" line.
func (w *textWriter) finish() {
	if w.openMetrics {
		w.buf = append(w.buf, "# EOF\n"...)
	}
}

// prepare reports whether w writes mf itself, having checked all of it,
// and renders the labels of its metrics.
func (w *textWriter) prepare(mf *dto.MetricFamily) bool {
	name := mf.GetName()
	if !isLegacyName(name) {
		return false
	}
	typ := mf.GetType()
	switch typ {
	case dto.MetricType_COUNTER:
		// OpenMetrics names a counter without its _total in HELP,
		// TYPE and UNIT lines.
		if w.openMetrics && name == "_total" {
			return false
		}
	case dto.MetricType_GAUGE, dto.MetricType_UNTYPED, dto.MetricType_SUMMARY, dto.MetricType_HISTOGRAM:
	default:
		return false
	}
	if !w.openMetrics && len(mf.Metric) == 0 {
		return false
	}
	for _, m := range mf.Metric {
		switch typ {
		case dto.MetricType_COUNTER:
			// Exemplars are written in OpenMetrics only.
			if m.Counter == nil || w.openMetrics && m.Counter.Exemplar != nil {
				return false
			}
		case dto.MetricType_GAUGE:
			if m.Gauge == nil {
				return false
			}
		case dto.MetricType_UNTYPED:
			if m.Untyped == nil {
				return false
			}
		case dto.MetricType_SUMMARY:
			if m.Summary == nil {
				return false
			}
		case dto.MetricType_HISTOGRAM:
			h := m.Histogram
			if h == nil {
				return false
			}
			if w.openMetrics {
				// OpenMetrics 1.0 has no float histograms: expfmt
				// refuses them.
				if h.GetSampleCountFloat() > 0 {
					return false
				}
				for _, bk := range h.Bucket {
					if bk.GetCumulativeCountFloat() > 0 || bk.Exemplar != nil {
						return false
					}
				}
			}
		}
	}
	return w.renderLabels(mf.Metric)
}

// endMetric writes the buffer b to out if it holds flushAt bytes.
func (w *textWriter) endMetric(b []byte) ([]byte, error) {
	if w.out == nil || len(b) < w.flushAt {
		return b, nil
	}
	w.buf = b
	err := w.flush()
	return w.buf, err
}

// appendText writes a prepared family in the text format 0.0.4.
func (w *textWriter) appendText(mf *dto.MetricFamily) error {
	name := mf.GetName()
	typ := mf.GetType()
	var typeLine string
	switch typ {
	case dto.MetricType_COUNTER:
		typeLine = " counter\n"
	case dto.MetricType_GAUGE:
		typeLine = " gauge\n"
	case dto.MetricType_UNTYPED:
		typeLine = " untyped\n"
	case dto.MetricType_SUMMARY:
		typeLine = " summary\n"
	case dto.MetricType_HISTOGRAM:
		typeLine = " histogram\n"
	}
	b := w.buf
	if mf.Help != nil {
		b = appendComment(b, "HELP", name, *mf.Help, false)
	}
	b = appendType(b, name, typeLine)
	w.bounds, w.boundText = w.bounds[:0], w.boundText[:0]
	for i, m := range mf.Metric {
		w.labels = w.labelText[w.labelStart(i):w.labelEnds[i]]
		ts := m.TimestampMs
		switch typ {
		case dto.MetricType_COUNTER:
			b = w.textLine(b, name, "", nil, m.Counter.GetValue(), ts)
		case dto.MetricType_GAUGE:
			b = w.textLine(b, name, "", nil, m.Gauge.GetValue(), ts)
		case dto.MetricType_UNTYPED:
			b = w.textLine(b, name, "", nil, m.Untyped.GetValue(), ts)
		case dto.MetricType_SUMMARY:
			s := m.Summary
			for i, q := range s.Quantile {
				b = w.textLine(b, name, "", w.bound(i, q.GetQuantile(), model.QuantileLabel), q.GetValue(), ts)
			}
			b = w.textLine(b, name, "_sum", nil, s.GetSampleSum(), ts)
			b = w.textLine(b, name, "_count", nil, float64(s.GetSampleCount()), ts)
		case dto.MetricType_HISTOGRAM:
			h := m.Histogram
			infSeen := false
			for i, bk := range h.Bucket {
				v := bk.GetCumulativeCountFloat()
				if v == 0 {
					v = float64(bk.GetCumulativeCount())
				}
				le := bk.GetUpperBound()
				b = w.textLine(b, name, "_bucket", w.bound(i, le, model.BucketLabel), v, ts)
				if math.IsInf(le, +1) {
					infSeen = true
				}
			}
			count := h.GetSampleCountFloat()
			if count == 0 {
				count = float64(h.GetSampleCount())
			}
			if !infSeen {
				b = w.textLine(b, name, "_bucket", w.bound(len(h.Bucket), math.Inf(+1), model.BucketLabel), count, ts)
			}
			b = w.textLine(b, name, "_sum", nil, h.GetSampleSum(), ts)
			b = w.textLine(b, name, "_count", nil, count, ts)
		}
		var err error
		if b, err = w.endMetric(b); err != nil {
			return err
		}
	}
	w.buf = b
	return nil
}

// appendComment appends the line "# kind name text", text escaped as
// appendEscaped does (quotes too when quote is set, as OpenMetrics wants).
func appendComment(b []byte, kind, name, text string, quote bool) []byte {
	b = append(b, "# "...)
	b = append(b, kind...)
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, ' ')
	b = appendEscaped(b, text, quote)
	return append(b, '\n')
}

// appendType appends the line "# TYPE name" and typeLine, which holds the
// space, the type and the newline.
func appendType(b []byte, name, typeLine string) []byte {
	b = append(b, "# TYPE "...)
	b = append(b, name...)
	return append(b, typeLine...)
}

// textLine appends a sample line of the text format: the name and
// suffix, the current metric's labels and the extra label (rendered up to
// its closing quote), the value and the timestamp.
func (w *textWriter) textLine(b []byte, name, suffix string, extra []byte, v float64, ts *int64) []byte {
	b = w.appendSeries(b, name, suffix, extra)
	b = append(b, ' ')
	b = appendTextFloat(b, v)
	if ts != nil {
		b = append(b, ' ')
		b = strconv.AppendInt(b, *ts, 10)
	}
	return append(b, '\n')
}

// appendOpenMetrics writes a prepared family in OpenMetrics 1.0.0.
func (w *textWriter) appendOpenMetrics(mf *dto.MetricFamily) error {
	name := mf.GetName()
	typ := mf.GetType()
	// A counter's HELP, TYPE and UNIT name it without _total; one
	// without the suffix is of unknown type.
	short, typeLine := name, ""
	switch typ {
	case dto.MetricType_COUNTER:
		if strings.HasSuffix(name, "_total") {
			short, typeLine = name[:len(name)-len("_total")], " counter\n"
		} else {
			typeLine = " unknown\n"
		}
	case dto.MetricType_GAUGE:
		typeLine = " gauge\n"
	case dto.MetricType_UNTYPED:
		typeLine = " unknown\n"
	case dto.MetricType_SUMMARY:
		typeLine = " summary\n"
	case dto.MetricType_HISTOGRAM:
		typeLine = " histogram\n"
	}
	b := w.buf
	if mf.Help != nil {
		b = appendComment(b, "HELP", short, *mf.Help, true)
	}
	b = appendType(b, short, typeLine)
	if mf.Unit != nil {
		b = appendComment(b, "UNIT", short, *mf.Unit, true)
	}
	w.bounds, w.boundText = w.bounds[:0], w.boundText[:0]
	for i, m := range mf.Metric {
		w.labels = w.labelText[w.labelStart(i):w.labelEnds[i]]
		ts := m.TimestampMs
		switch typ {
		case dto.MetricType_COUNTER:
			b = w.openMetricsLine(b, name, "", nil, m.Counter.GetValue(), 0, false, ts)
		case dto.MetricType_GAUGE:
			b = w.openMetricsLine(b, name, "", nil, m.Gauge.GetValue(), 0, false, ts)
		case dto.MetricType_UNTYPED:
			b = w.openMetricsLine(b, name, "", nil, m.Untyped.GetValue(), 0, false, ts)
		case dto.MetricType_SUMMARY:
			s := m.Summary
			for i, q := range s.Quantile {
				b = w.openMetricsLine(b, name, "", w.bound(i, q.GetQuantile(), model.QuantileLabel), q.GetValue(), 0, false, ts)
			}
			b = w.openMetricsLine(b, name, "_sum", nil, s.GetSampleSum(), 0, false, ts)
			b = w.openMetricsLine(b, name, "_count", nil, 0, s.GetSampleCount(), true, ts)
		case dto.MetricType_HISTOGRAM:
			h := m.Histogram
			infSeen := false
			for i, bk := range h.Bucket {
				le := bk.GetUpperBound()
				b = w.openMetricsLine(b, name, "_bucket", w.bound(i, le, model.BucketLabel), 0, bk.GetCumulativeCount(), true, ts)
				if math.IsInf(le, +1) {
					infSeen = true
				}
			}
			if !infSeen {
				b = w.openMetricsLine(b, name, "_bucket", w.bound(len(h.Bucket), math.Inf(+1), model.BucketLabel), 0, h.GetSampleCount(), true, ts)
			}
			b = w.openMetricsLine(b, name, "_sum", nil, h.GetSampleSum(), 0, false, ts)
			b = w.openMetricsLine(b, name, "_count", nil, 0, h.GetSampleCount(), true, ts)
		}
		var err error
		if b, err = w.endMetric(b); err != nil {
			return err
		}
	}
	w.buf = b
	return nil
}

// openMetricsLine appends a sample line of OpenMetrics: the name and
// suffix, the current metric's labels and the extra label, the value (an
// integer if isInt) and the timestamp, in seconds.
func (w *textWriter) openMetricsLine(b []byte, name, suffix string, extra []byte, v float64, n uint64, isInt bool, ts *int64) []byte {
	b = w.appendSeries(b, name, suffix, extra)
	b = append(b, ' ')
	if isInt {
		b = strconv.AppendUint(b, n, 10)
	} else {
		b = appendOpenMetricsFloat(b, v)
	}
	if ts != nil {
		b = append(b, ' ')
		b = appendOpenMetricsFloat(b, float64(*ts)/1000)
	}
	return append(b, '\n')
}

// appendSeries appends name and suffix, then the current metric's labels
// and the extra label pair, if any, in braces.
func (w *textWriter) appendSeries(b []byte, name, suffix string, extra []byte) []byte {
	b = append(b, name...)
	b = append(b, suffix...)
	if len(w.labels) == 0 && extra == nil {
		return b
	}
	b = append(b, '{')
	b = append(b, w.labels...)
	if extra != nil {
		if len(w.labels) > 0 {
			b = append(b, ',')
		}
		b = append(b, extra...)
	}
	return append(b, '}')
}

// renderLabels renders the label pairs of a family's metrics into
// w.labelText, or reports false if a label's name is not written as is,
// or is __name__, which escaping may change. The labels of all the
// metrics are rendered before any line is written: the label messages
// are read in a short loop, whose memory loads overlap.
func (w *textWriter) renderLabels(ms []*dto.Metric) bool {
	l, ends := w.labelText[:0], w.labelEnds[:0]
	for j, m := range ms {
		if j%prefetchBlock == 0 {
			w.touchLabels(ms[j:min(j+prefetchBlock, len(ms))])
		}
		for i, lp := range m.Label {
			if lp == nil || lp.Name == nil {
				return false
			}
			name := *lp.Name
			if i >= len(w.names) || name != w.names[i] {
				if !isLegacyName(name) || name == model.MetricNameLabel {
					return false
				}
				if i < len(w.names) {
					w.names[i] = name
				} else {
					w.names = append(w.names, name)
				}
			}
			if i > 0 {
				l = append(l, ',')
			}
			l = append(l, name...)
			l = append(l, '=', '"')
			l = appendEscaped(l, lp.GetValue(), true)
			l = append(l, '"')
		}
		ends = append(ends, len(l))
	}
	w.labelText, w.labelEnds = l, ends
	return true
}

// prefetchBlock is how many metrics touchLabels reads ahead of their
// rendering.
const prefetchBlock = 128

// touchLabels reads the label messages of metrics and the strings they
// point to in a loop so short that the processor has many of these
// loads, most of them cache misses, in flight at once: rendering the
// labels then finds them in the cache. Without it the loads of one
// metric's labels mostly wait for those of the last.
func (w *textWriter) touchLabels(ms []*dto.Metric) {
	var sum int
	for _, m := range ms {
		for _, lp := range m.Label {
			if lp != nil && lp.Name != nil && lp.Value != nil {
				sum += len(*lp.Name) + len(*lp.Value)
			}
		}
	}
	w.touched += sum
}

// labelStart returns where the i-th metric's labels start in labelText.
func (w *textWriter) labelStart(i int) int {
	if i == 0 {
		return 0
	}
	return w.labelEnds[i-1]
}

// bound returns the extra label pair of the i-th bucket or quantile of a
// metric, rendered up to its closing quote; those of a family's metrics
// are rendered once.
func (w *textWriter) bound(i int, f float64, label string) []byte {
	bits := math.Float64bits(f)
	if i < len(w.bounds) && w.bounds[i].bits == bits {
		r := w.bounds[i]
		return w.boundText[r.start:r.end]
	}
	start := len(w.boundText)
	t := append(w.boundText, label...)
	t = append(t, '=', '"')
	if w.openMetrics {
		t = appendOpenMetricsFloat(t, f)
	} else {
		t = appendTextFloat(t, f)
	}
	t = append(t, '"')
	w.boundText = t
	r := renderedFloat{bits: bits, start: start, end: len(t)}
	if i < len(w.bounds) {
		w.bounds[i] = r
	} else {
		w.bounds = append(w.bounds, r)
	}
	return t[start:]
}

// isLegacyName reports whether name passes
// model.LegacyValidation.IsValidMetricName, which expfmt asks of metric
// and label names before writing them unquoted, and which
// model.EscapeMetricFamily asks before leaving them unescaped.
func isLegacyName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == ':' || '0' <= c && c <= '9' && i > 0) {
			return false
		}
	}
	return true
}

// appendEscaped appends s with backslashes and newlines escaped, and
// double quotes if quote is set, as expfmt's escapers do.
func appendEscaped(b []byte, s string, quote bool) []byte {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '\n' || c == '"' && quote {
			break
		}
	}
	if i == len(s) {
		return append(b, s...)
	}
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quote:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendTextFloat appends f as expfmt's writeFloat writes it: Go's
// shortest 'g' form, with 1, 0, -1, NaN and ±Inf spelt out.
func appendTextFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, '1')
	case f == 0:
		return append(b, '0')
	case f == -1:
		return append(b, '-', '1')
	case f != f:
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	if i := int64(f); float64(i) == f && -1e6 < f && f < 1e6 {
		// 'g' writes integers below a million in full.
		return strconv.AppendInt(b, i, 10)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendOpenMetricsFloat appends f as expfmt's writeOpenMetricsFloat
// writes it: as appendTextFloat, with ".0" after a number that would
// have neither a point nor an exponent.
func appendOpenMetricsFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, "1.0"...)
	case f == 0:
		return append(b, "0.0"...)
	case f == -1:
		return append(b, "-1.0"...)
	case f != f:
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	if i := int64(f); float64(i) == f && -1e6 < f && f < 1e6 {
		return append(strconv.AppendInt(b, i, 10), '.', '0')
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	for _, c := range b[start:] {
		if c == '.' || c == 'e' {
			return b
		}
	}
	return append(b, '.', '0')
}
