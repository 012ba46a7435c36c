package ui

import (
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
	"github.com/fusebox-dev/fusebox/ui/templates"
)

// The viewBox sizes of the charts (see charts.templ).
const (
	sparkW, sparkH   = 120.0, 24.0
	chartW, chartH   = 600.0, 160.0
	barH             = 150.0
	timelineW        = 1000.0
	timelineSpan     = 15 * time.Minute
	minLabelFraction = 0.07
)

// spark draws values as a sparkline.
func spark(values []float64, label string) templates.Spark {
	sp := templates.Spark{Width: fmtNum(sparkW), Height: fmtNum(sparkH)}
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	sp.Peak = fmtRate(peak)
	sp.Label = label + ", peak " + sp.Peak + "/s"
	if len(values) < 2 {
		return sp
	}
	step := sparkW / float64(len(values)-1)
	line := make([]byte, 0, len(values)*10)
	for i, v := range values {
		y := sparkH - 1
		if peak > 0 {
			y = sparkH - 1 - v/peak*(sparkH-2)
		}
		if i > 0 {
			line = append(line, ' ')
		}
		line = appendNum(line, float64(i)*step)
		line = append(line, ',')
		line = appendNum(line, y)
	}
	sp.Points = string(line)
	return sp
}

// timeline draws the breaker's states over the last 15 minutes, or since
// bound (when the pipeline was bound, at the process start) when that is
// later, from its transitions (oldest first) and its current state. Nothing
// is drawn for the time before bound: the breaker did not exist.
func (s *Server) timeline(b telemetry.BreakerSnapshot, bound, now time.Time) templates.Timeline {
	from := now.Add(-timelineSpan)
	if bound.After(from) && !bound.After(now) {
		from = bound
	}
	span := now.Sub(from)
	tl := templates.Timeline{From: s.clockTime(from), To: s.clockTime(now)}
	if span <= 0 {
		return tl
	}
	// The state at from is the From of the first transition after it, or
	// the current state when none happened since.
	state := b.State
	start := from
	var ts []telemetry.Transition
	for _, t := range b.Transitions {
		if t.Time.After(from) {
			ts = append(ts, t)
		}
	}
	if len(ts) > 0 {
		state = ts[0].From
	}
	if !b.Since.IsZero() && b.Since.After(from) && len(b.Transitions) == 0 {
		start = b.Since
	}
	seen := map[resilience.State]bool{}
	add := func(st resilience.State, a, z time.Time) {
		if !z.After(a) {
			return
		}
		x := float64(a.Sub(from)) / float64(span) * timelineW
		w := float64(z.Sub(a)) / float64(span) * timelineW
		seg := templates.Segment{
			X: fmtNum(x), W: fmtNum(w), TextX: fmtNum(x + w/2),
			Class: stateClass(st),
			Title: strings.ToLower(stateWord(st)) + " " + s.clockTime(a) + " – " + s.clockTime(z) + " (" + fmtDur(z.Sub(a).Round(time.Second)) + ")",
		}
		if w/timelineW >= minLabelFraction {
			seg.Label = strings.ToLower(stateWord(st))
		}
		tl.Segments = append(tl.Segments, seg)
		if !seen[st] {
			seen[st] = true
			tl.Legend = append(tl.Legend, templates.LegendItem{Class: stateClass(st), Label: strings.ToLower(stateWord(st))})
		}
	}
	for _, t := range ts {
		add(state, start, t.Time)
		state, start = t.To, t.Time
	}
	add(state, start, now)
	return tl
}

// sinceBound drops the points of the hour series that ended before bound
// (when the pipeline was bound, at the process start): the pipeline did not
// exist then, and zero calls would read as an idle hour. The title's span
// says what is left ("last hour", "since 12:04").
func (s *Server) sinceBound(h telemetry.Series, bound time.Time) (telemetry.Series, string) {
	if bound.IsZero() || h.Step <= 0 || !bound.After(h.Start) {
		return h, "last hour"
	}
	skip := int(bound.Sub(h.Start) / h.Step)
	if skip >= len(h.Points) {
		skip = max(len(h.Points)-1, 0)
	}
	h.Start = h.Start.Add(time.Duration(skip) * h.Step)
	h.Points = h.Points[skip:]
	return h, "since " + bound.In(s.loc).Format("15:04")
}

// latencyChart draws p50 and p99 of the hour series.
func (s *Server) latencyChart(h telemetry.Series, bound time.Time) templates.LineChart {
	h, span := s.sinceBound(h, bound)
	c := templates.LineChart{Title: "latency p50 / p99, " + span}
	var top time.Duration
	n := 0
	for _, p := range h.Points {
		if p.Calls > 0 && p.P99 > 0 {
			top = max(top, p.P99, p.P50)
			n++
		}
	}
	if n == 0 || len(h.Points) < 2 {
		c.Empty = true
		return c
	}
	c.Max = fmtDur(top)
	c.From, c.To = s.seriesEnds(h)
	step := chartW / float64(len(h.Points)-1)
	line := func(pick func(telemetry.Point) time.Duration) string {
		var b strings.Builder
		for i, p := range h.Points {
			if p.Calls == 0 || p.P99 == 0 {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			y := chartH - 1 - float64(pick(p))/float64(top)*(chartH-10)
			b.WriteString(fmtNum(float64(i)*step) + "," + fmtNum(y))
		}
		return b.String()
	}
	c.Lines = []templates.Line{
		{Label: "p50", Class: "line-p50", Points: line(func(p telemetry.Point) time.Duration { return p.P50 })},
		{Label: "p99", Class: "line-p99", Points: line(func(p telemetry.Point) time.Duration { return p.P99 })},
	}
	return c
}

// outcomeChart stacks the successful and the failed calls of each step of
// the hour series.
func (s *Server) outcomeChart(h telemetry.Series, bound time.Time) templates.StackChart {
	h, span := s.sinceBound(h, bound)
	c := templates.StackChart{
		Title: "calls per 10 s by outcome, " + span,
		Legend: []templates.LegendItem{
			{Class: "fill-ok", Label: "succeeded"}, {Class: "fill-fail", Label: "failed, timed out or rejected"},
		},
	}
	var top uint64
	for _, p := range h.Points {
		top = max(top, p.Calls)
	}
	if top == 0 {
		c.Empty = true
		return c
	}
	c.Max = strconv.FormatUint(top, 10)
	c.From, c.To = s.seriesEnds(h)
	w := chartW / float64(len(h.Points))
	for i, p := range h.Points {
		if p.Calls == 0 {
			continue
		}
		ok := float64(p.Successes) / float64(top) * (chartH - 2)
		bad := float64(p.Calls-min(p.Successes, p.Calls)) / float64(top) * (chartH - 2)
		x := fmtNum(float64(i) * w)
		bw := fmtNum(max(w-0.5, 0.5))
		at := h.Start.Add(time.Duration(i) * h.Step)
		c.Bars = append(c.Bars, templates.StackBar{
			Title: s.clockTime(at) + ": " + strconv.FormatUint(p.Calls, 10) + " calls, " +
				strconv.FormatUint(p.Successes, 10) + " succeeded, " +
				strconv.FormatUint(p.Rejections, 10) + " rejected, " +
				strconv.FormatUint(p.Timeouts, 10) + " timeouts, " +
				strconv.FormatUint(p.Retries, 10) + " retries",
			Parts: []templates.Rect{
				{X: x, Y: fmtNum(chartH - ok), W: bw, H: fmtNum(ok), Class: "fill-ok"},
				{X: x, Y: fmtNum(chartH - ok - bad), W: bw, H: fmtNum(bad), Class: "fill-fail"},
			},
		})
	}
	return c
}

func (s *Server) seriesEnds(h telemetry.Series) (from, to string) {
	return s.clockTime(h.Start), s.clockTime(h.Start.Add(time.Duration(len(h.Points)) * h.Step))
}

// bar is one bar of a histogram before layout.
type bar struct {
	label, title string
	count        uint64
}

// barChart lays bars out side by side, scaled to the largest.
func barChart(title string, bars []bar) templates.BarChart {
	c := templates.BarChart{Title: title}
	var top uint64
	for _, b := range bars {
		top = max(top, b.count)
	}
	if top == 0 {
		c.Empty = true
		return c
	}
	c.Max = strconv.FormatUint(top, 10)
	w := chartW / float64(len(bars))
	for i, b := range bars {
		h := float64(b.count) / float64(top) * (barH - 14)
		x := float64(i) * w
		c.Bars = append(c.Bars, templates.Bar{
			Rect:   templates.Rect{X: fmtNum(x + 2), Y: fmtNum(barH - h), W: fmtNum(max(w-4, 1)), H: fmtNum(h)},
			Label:  b.label,
			Count:  strconv.FormatUint(b.count, 10),
			Title:  b.title,
			LabelX: fmtNum(x + w/2),
			CountY: fmtNum(barH - h - 3),
		})
	}
	return c
}

// backoffChart groups the backoff histogram's buckets by power of two.
func backoffChart(h telemetry.Histogram) templates.BarChart {
	var bars []bar
	lastKey := -1
	for _, b := range h.Buckets {
		if b.Count == 0 {
			continue
		}
		key := bits.Len64(uint64(max(b.Lower, 0)))
		if key != lastKey {
			lo := time.Duration(0)
			if key > 0 {
				lo = time.Duration(uint64(1) << (key - 1))
			}
			hi := time.Duration(uint64(1) << key)
			bars = append(bars, bar{label: fmtDur(lo), title: fmtDur(lo) + " – " + fmtDur(hi)})
			lastKey = key
		}
		bars[len(bars)-1].count += b.Count
	}
	for i := range bars {
		bars[i].title += ": " + plural(int(bars[i].count), "wait", "waits")
	}
	return barChart("backoff delays ("+plural(int(h.Count), "retry", "retries")+")", bars)
}

// attemptsChart draws how many attempts the calls took: a bar for each
// number from 1 to allowed (the most the pipeline's retry allows; 0 when
// unknown), and beyond it only as far as some call went.
func attemptsChart(a [telemetry.MaxAttemptsTracked]uint64, allowed int) templates.BarChart {
	last := min(max(allowed, 1), len(a)) - 1
	for i, n := range a {
		if n > 0 {
			last = max(last, i)
		}
	}
	bars := make([]bar, 0, last+1)
	for i := 0; i <= last; i++ {
		label := strconv.Itoa(i + 1)
		if i == len(a)-1 {
			label += "+"
		}
		attempts := " attempts"
		if i == 0 {
			attempts = " attempt"
		}
		bars = append(bars, bar{label: label, count: a[i],
			title: plural(int(a[i]), "call", "calls") + " took " + label + attempts})
	}
	return barChart("attempts per call", bars)
}
