package telemetry

import (
	"math"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// The rolling windows of a pipeline. Counts are kept per second for the
// last 5 minutes and per 10 seconds for the last hour; latency histograms
// per 10 seconds for the last minute and per minute for the last 5.
const (
	secondSlots  = 300 // per-second counts: 5 minutes
	sparkSeconds = 120 // the per-second series of a snapshot: 2 minutes
	coarseStep   = 10  // seconds per coarse slot
	coarseSlots  = 360 // per-10-second counts: 1 hour
	tenSlots     = 8   // per-10-second latency histograms: the 1 m window and the slot in progress
	minuteSlots  = 6   // per-minute latency histograms: the 5 m window and the minute in progress

	noSlot = math.MinInt64 // the tag of a slot that holds nothing
)

// counts32 are the counts of one slot of time. 32 bits are plenty for a
// second or ten of one pipeline and halve the memory of the windows.
type counts32 struct {
	calls, attempts [resilience.NumOutcomes]uint32
	retries         uint32
	rejections      [NumRejections]uint32
	timeouts        [NumScopes]uint32
	fallbacks       uint32
}

func (c *counts32) add(o *counts32) {
	for i := range c.calls {
		c.calls[i] += o.calls[i]
		c.attempts[i] += o.attempts[i]
	}
	c.retries += o.retries
	for i := range c.rejections {
		c.rejections[i] += o.rejections[i]
	}
	for i := range c.timeouts {
		c.timeouts[i] += o.timeouts[i]
	}
	c.fallbacks += o.fallbacks
}

func (c *counts32) addTo(t *Counts) {
	for i := range c.calls {
		t.Calls[i] += uint64(c.calls[i])
		t.Attempts[i] += uint64(c.attempts[i])
	}
	t.Retries += uint64(c.retries)
	for i := range c.rejections {
		t.Rejections[i] += uint64(c.rejections[i])
	}
	for i := range c.timeouts {
		t.Timeouts[i] += uint64(c.timeouts[i])
	}
	t.Fallbacks += uint64(c.fallbacks)
}

func (c *counts32) point() Point {
	var p Point
	for i := range c.calls {
		p.Calls += uint64(c.calls[i])
		p.Attempts += uint64(c.attempts[i])
	}
	p.Successes = uint64(c.calls[resilience.OutcomeSuccess])
	p.Retries = uint64(c.retries)
	for _, v := range c.rejections {
		p.Rejections += uint64(v)
	}
	for _, v := range c.timeouts {
		p.Timeouts += uint64(v)
	}
	p.Fallbacks = uint64(c.fallbacks)
	return p
}

// total32 are the counts of one slot of the hour series: what its Point
// shows, without the breakdowns by outcome, reason and scope that only the
// windows need (they come from the per-second slots). A third of the size
// of counts32, over 360 slots.
type total32 struct {
	calls, successes, attempts, retries, rejections, timeouts, fallbacks uint32
}

func (t *total32) add(c *counts32) {
	p := c.point()
	t.calls += uint32(p.Calls)
	t.successes += uint32(p.Successes)
	t.attempts += uint32(p.Attempts)
	t.retries += uint32(p.Retries)
	t.rejections += uint32(p.Rejections)
	t.timeouts += uint32(p.Timeouts)
	t.fallbacks += uint32(p.Fallbacks)
}

func (t *total32) point() Point {
	return Point{Calls: uint64(t.calls), Successes: uint64(t.successes), Attempts: uint64(t.attempts),
		Retries: uint64(t.retries), Rejections: uint64(t.rejections), Timeouts: uint64(t.timeouts), Fallbacks: uint64(t.fallbacks)}
}

type secSlot struct {
	sec int64
	c   counts32
}

type coarseSlot struct {
	slot     int64
	c        total32
	hasP     bool
	p50, p99 time.Duration
}

type histSlot struct {
	slot int64
	h    [latencyBuckets]uint32
}

// history holds the folded, read-mostly figures of a pipeline. Writers fold
// their shard into it once per second of event time; readers fold every
// shard first, so history alone answers a snapshot.
type history struct {
	secs   [secondSlots]secSlot
	coarse [coarseSlots]coarseSlot
	tens   [tenSlots]histSlot
	mins   [minuteSlots]histSlot
	cumLat [latencyBuckets]uint64
	// cumLo and cumHi bound the buckets of cumLat that may be non-zero.
	cumLo, cumHi int

	totals             Counts
	latSum, backoffSum time.Duration
	breaker            breakerTrack
}

func (h *history) init(bound time.Time) {
	h.cumLo, h.cumHi = latencyBuckets, -1
	for i := range h.secs {
		h.secs[i].sec = noSlot
	}
	for i := range h.coarse {
		h.coarse[i].slot = noSlot
	}
	for i := range h.tens {
		h.tens[i].slot = noSlot
	}
	for i := range h.mins {
		h.mins[i].slot = noSlot
	}
	h.breaker.since = bound
}

func divFloor(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ringPos(v int64, n int) int {
	m := v % int64(n)
	if m < 0 {
		m += int64(n)
	}
	return int(m)
}

// fold adds the counts and latencies of second sec to the history.
// lat[lo..hi] are the latency buckets the shard touched.
func (h *history) fold(sec int64, c *counts32, lat *[latencyBuckets]uint32, lo, hi int, latSum, backoffSum time.Duration) {
	c.addTo(&h.totals)
	h.latSum += latSum
	h.backoffSum += backoffSum
	if s := &h.secs[ringPos(sec, secondSlots)]; s.sec <= sec {
		if s.sec != sec {
			*s = secSlot{sec: sec}
		}
		s.c.add(c)
	}
	t := divFloor(sec, coarseStep)
	if s := &h.coarse[ringPos(t, coarseSlots)]; s.slot <= t {
		if s.slot != t {
			*s = coarseSlot{slot: t}
		}
		s.c.add(c)
	}
	if lo > hi {
		return
	}
	ten := h.histAt(h.tens[:], t, true)
	minute := h.histAt(h.mins[:], divFloor(sec, 60), false)
	h.cumLo, h.cumHi = min(h.cumLo, lo), max(h.cumHi, hi)
	for i := lo; i <= hi; i++ {
		v := lat[i]
		if v == 0 {
			continue
		}
		h.cumLat[i] += uint64(v)
		if ten != nil {
			ten.h[i] += v
		}
		if minute != nil {
			minute.h[i] += v
		}
	}
}

// histAt returns the slot of ring for slot t, recycling an older one, or nil
// when t is older than what the ring holds. A recycled 10-second slot
// leaves its percentiles to the hour series.
func (h *history) histAt(ring []histSlot, t int64, tens bool) *histSlot {
	s := &ring[ringPos(t, len(ring))]
	switch {
	case s.slot == t:
		return s
	case s.slot > t:
		return nil
	}
	if tens && s.slot != noSlot {
		if cs := h.coarseAt(s.slot); cs != nil {
			p := percentilesOf(s.h[:])
			cs.hasP, cs.p50, cs.p99 = true, p.P50, p.P99
		}
	}
	s.slot = t
	clear(s.h[:])
	return s
}

func (h *history) coarseAt(t int64) *coarseSlot {
	if s := &h.coarse[ringPos(t, coarseSlots)]; s.slot == t {
		return s
	}
	return nil
}

// countsOver sums the per-second counts of seconds (now-n, now].
func (h *history) countsOver(now int64, n int) Counts {
	var c Counts
	for sec := now - int64(n) + 1; sec <= now; sec++ {
		if s := &h.secs[ringPos(sec, secondSlots)]; s.sec == sec {
			s.c.addTo(&c)
		}
	}
	return c
}

// latencyOver returns the percentiles of the slots [from, to] of ring.
func latencyOver(ring []histSlot, from, to int64) Percentiles {
	var merged [latencyBuckets]uint64
	for t := from; t <= to; t++ {
		s := &ring[ringPos(t, len(ring))]
		if s.slot != t {
			continue
		}
		for i, v := range s.h {
			merged[i] += uint64(v)
		}
	}
	return percentilesOf(merged[:])
}

// windows returns the rolling windows ending at now.
func (h *history) windows(now time.Time) [NumWindows]WindowStats {
	sec := divFloor(now.UnixNano(), int64(time.Second))
	ten := divFloor(sec, coarseStep)
	minute := divFloor(sec, 60)
	var out [NumWindows]WindowStats
	for w := range NumWindows {
		span := w.Duration()
		c := h.countsOver(sec, int(span/time.Second))
		ws := WindowStats{
			Window:               w,
			Span:                 span,
			Counts:               c,
			EffectiveSuccessRate: c.EffectiveSuccessRate(),
			ActualSuccessRate:    c.ActualSuccessRate(),
			Amplification:        c.Amplification(),
		}
		secs := span.Seconds()
		ws.CallsPerSecond = float64(c.CallCount()) / secs
		ws.RetriesPerSecond = float64(c.Retries) / secs
		ws.FallbacksPerSecond = float64(c.Fallbacks) / secs
		for i, v := range c.Rejections {
			ws.RejectionsPerSecond[i] = float64(v) / secs
		}
		for i, v := range c.Timeouts {
			ws.TimeoutsPerSecond[i] = float64(v) / secs
		}
		switch w {
		case Window10s:
			ws.Latency = latencyOver(h.tens[:], ten-1, ten)
		case Window1m:
			ws.Latency = latencyOver(h.tens[:], ten-6, ten)
		case Window5m:
			ws.Latency = latencyOver(h.mins[:], minute-5, minute)
		}
		out[w] = ws
	}
	return out
}

// seconds returns the per-second series of the last sparkSeconds seconds.
func (h *history) seconds(now time.Time) Series {
	sec := divFloor(now.UnixNano(), int64(time.Second))
	first := sec - sparkSeconds + 1
	s := Series{Start: time.Unix(first, 0), Step: time.Second, Points: make([]Point, sparkSeconds)}
	for i := range s.Points {
		if slot := &h.secs[ringPos(first+int64(i), secondSlots)]; slot.sec == first+int64(i) {
			s.Points[i] = slot.c.point()
		}
	}
	return s
}

// hour returns the per-10-second series of the last hour.
func (h *history) hour(now time.Time) Series {
	t := divFloor(divFloor(now.UnixNano(), int64(time.Second)), coarseStep)
	first := t - coarseSlots + 1
	s := Series{Start: time.Unix(first*coarseStep, 0), Step: coarseStep * time.Second, Points: make([]Point, coarseSlots)}
	for i := range s.Points {
		slot := &h.coarse[ringPos(first+int64(i), coarseSlots)]
		if slot.slot != first+int64(i) {
			continue
		}
		p := slot.c.point()
		if slot.hasP {
			p.P50, p.P99 = slot.p50, slot.p99
		} else if hs := &h.tens[ringPos(slot.slot, tenSlots)]; hs.slot == slot.slot {
			lat := percentilesOf(hs.h[:])
			p.P50, p.P99 = lat.P50, lat.P99
		}
		s.Points[i] = p
	}
	return s
}
