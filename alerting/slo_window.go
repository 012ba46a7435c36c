package alerting

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// sloMinuteSlots is how many one-minute buckets an SLO keeps: three
	// days, the longest burn window, plus two so that the oldest minute a
	// three-day window touches is still held.
	sloMinuteSlots = 3*24*60 + 2
	// noMinute marks an empty minute bucket.
	noMinute = math.MinInt64
	// goodMask selects the good calls of a packed bucket; the total is in
	// the upper 32 bits.
	goodMask = 1<<32 - 1
)

// minuteBucket counts the calls of one minute. counts packs total<<32 |
// good so that one atomic add records a call and a reader never sees more
// good calls than calls.
type minuteBucket struct {
	minute atomic.Int64
	counts atomic.Uint64
}

// hourBucket counts the calls of the minutes of one hour that left the
// minute ring.
type hourBucket struct {
	hour        int64
	good, total uint64
}

// sloCounts holds the good and total calls of an SLO: a ring of minute
// buckets written without locks, and a ring of hour buckets for the older
// part of the period, written under mu when a minute leaves the ring.
type sloCounts struct {
	minutes []minuteBucket

	mu    sync.Mutex
	hours []hourBucket // nil when the period fits in the minute ring
	start time.Time    // when the history began
	swept int64        // the minute up to which stale buckets were folded
}

func newSLOCounts(period time.Duration, now time.Time) *sloCounts {
	c := &sloCounts{minutes: make([]minuteBucket, sloMinuteSlots), start: now, swept: noMinute}
	for i := range c.minutes {
		c.minutes[i].minute.Store(noMinute)
	}
	if period > (sloMinuteSlots-2)*time.Minute {
		c.hours = make([]hourBucket, int((period+time.Hour-1)/time.Hour)+2)
		for i := range c.hours {
			c.hours[i].hour = noMinute
		}
	}
	return c
}

func sloFloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func minuteOf(t time.Time) int64 { return sloFloorDiv(t.UnixNano(), int64(time.Minute)) }

func slotOf(m int64, n int) int { return int(m - sloFloorDiv(m, int64(n))*int64(n)) }

// record counts one call at t.
func (c *sloCounts) record(t time.Time, good bool) {
	var g uint64
	if good {
		g = 1
	}
	c.recordN(t, g, 1)
}

// recordN counts total calls at t, good of them good.
func (c *sloCounts) recordN(t time.Time, good, total uint64) {
	m := minuteOf(t)
	b := &c.minutes[slotOf(m, len(c.minutes))]
	if b.minute.Load() != m && !c.claim(b, m) {
		return
	}
	b.counts.Add(total<<32 + good)
}

// claim makes b the bucket of minute m, folding what it held into the hour
// buckets. It reports false for an event older than what b holds.
func (c *sloCounts) claim(b *minuteBucket, m int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := b.minute.Load()
	if cur == m {
		return true
	}
	if cur > m {
		return false
	}
	if cur != noMinute {
		v := b.counts.Load()
		c.foldLocked(cur, v&goodMask, v>>32)
	}
	b.counts.Store(0)
	b.minute.Store(m)
	return true
}

// foldLocked adds the counts of minute m to its hour bucket.
func (c *sloCounts) foldLocked(m int64, good, total uint64) {
	if c.hours == nil || total == 0 {
		return
	}
	h := sloFloorDiv(m, 60)
	hb := &c.hours[slotOf(h, len(c.hours))]
	if hb.hour > h {
		return
	}
	if hb.hour != h {
		*hb = hourBucket{hour: h}
	}
	hb.good += good
	hb.total += total
}

// sweepLocked folds the minute buckets that left the ring by now into the
// hour buckets, so that sums see them.
func (c *sloCounts) sweepLocked(now time.Time) {
	cur := minuteOf(now)
	if cur == c.swept {
		return
	}
	c.swept = cur
	oldest := cur - int64(len(c.minutes)) // minutes ≤ oldest have left
	for i := range c.minutes {
		b := &c.minutes[i]
		if m := b.minute.Load(); m != noMinute && m <= oldest {
			v := b.counts.Load()
			c.foldLocked(m, v&goodMask, v>>32)
			b.counts.Store(0)
			b.minute.Store(noMinute)
		}
	}
}

// walkLocked calls fn for every bucket with calls in the window (now−w,
// now], oldest first, with its counts weighted by the share of its span
// (since the history began) that lies in the window, and the end of that
// span. It returns how much of the window the history covers.
func (c *sloCounts) walkLocked(now time.Time, w time.Duration, fn func(end time.Time, good, total float64)) time.Duration {
	from := now.Add(-w)
	if c.start.After(from) {
		from = c.start
	}
	cov := now.Sub(from)
	if cov <= 0 {
		return 0
	}
	curM := minuteOf(now)
	ringStart := time.Unix(0, (curM-int64(len(c.minutes))+1)*int64(time.Minute))
	weigh := func(bs, be time.Time, good, total uint64) {
		lo := bs
		if c.start.After(lo) {
			lo = c.start
		}
		if be.After(now) {
			be = now
		}
		olo := lo
		if from.After(olo) {
			olo = from
		}
		span, in := be.Sub(lo), be.Sub(olo)
		switch {
		case in <= 0 && span > 0:
			return
		case span <= 0 || in >= span:
			fn(be, float64(good), float64(total))
		default:
			f := float64(in) / float64(span)
			fn(be, float64(good)*f, float64(total)*f)
		}
	}
	if c.hours != nil && from.Before(ringStart) {
		for h := sloFloorDiv(from.UnixNano(), int64(time.Hour)); ; h++ {
			hs := time.Unix(0, h*int64(time.Hour))
			if !hs.Before(ringStart) {
				break
			}
			hb := &c.hours[slotOf(h, len(c.hours))]
			if hb.hour != h || hb.total == 0 {
				continue
			}
			he := hs.Add(time.Hour)
			if he.After(ringStart) {
				he = ringStart
			}
			weigh(hs, he, hb.good, hb.total)
		}
	}
	first := max(minuteOf(from), curM-int64(len(c.minutes))+1)
	for m := first; m <= curM; m++ {
		b := &c.minutes[slotOf(m, len(c.minutes))]
		if b.minute.Load() != m {
			continue
		}
		v := b.counts.Load()
		if v == 0 {
			continue
		}
		bs := time.Unix(0, m*int64(time.Minute))
		weigh(bs, bs.Add(time.Minute), v&goodMask, v>>32)
	}
	return cov
}

// sumLocked returns the weighted good and total calls of the window (now−w,
// now] and how much of it the history covers.
func (c *sloCounts) sumLocked(now time.Time, w time.Duration) (good, total float64, cov time.Duration) {
	cov = c.walkLocked(now, w, func(_ time.Time, g, t float64) { good += g; total += t })
	return good, total, cov
}

// budgetHistoryLocked returns the budget remaining over the period at
// budgetHistoryPoints times, counting bad calls from the period's start.
func (c *sloCounts) budgetHistoryLocked(now time.Time, period time.Duration, budget float64) []BudgetPoint {
	from := now.Add(-period)
	step := period / budgetHistoryPoints
	out := make([]BudgetPoint, budgetHistoryPoints)
	for i := range out {
		out[i] = BudgetPoint{Time: from.Add(step * time.Duration(i+1)), Remaining: 1}
	}
	out[len(out)-1].Time = now
	if budget <= 0 {
		return out
	}
	var bad float64
	i := 0
	c.walkLocked(now, period, func(end time.Time, g, t float64) {
		for i < len(out) && out[i].Time.Before(end) {
			out[i].Remaining = 1 - bad/budget
			i++
		}
		bad += t - g
	})
	for ; i < len(out); i++ {
		out[i].Remaining = 1 - bad/budget
	}
	return out
}

// The snapshot layout, all integers varint-encoded:
//
//	"FBSLO" 1
//	len(definition) definition
//	start (Unix ns)
//	n, then n × (minute, good, total)
//	n, then n × (hour, good, total)
const sloSnapshotMagic = "FBSLO\x01"

// snapshot encodes the history for the store.
func (c *sloCounts) snapshot(def string, now time.Time) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
	buf := []byte(sloSnapshotMagic)
	buf = binary.AppendUvarint(buf, uint64(len(def)))
	buf = append(buf, def...)
	buf = binary.AppendVarint(buf, c.start.UnixNano())
	type entry struct {
		at          int64
		good, total uint64
	}
	var mins []entry
	for i := range c.minutes {
		b := &c.minutes[i]
		m := b.minute.Load()
		if v := b.counts.Load(); m != noMinute && v != 0 {
			mins = append(mins, entry{m, v & goodMask, v >> 32})
		}
	}
	buf = binary.AppendUvarint(buf, uint64(len(mins)))
	for _, e := range mins {
		buf = binary.AppendVarint(buf, e.at)
		buf = binary.AppendUvarint(buf, e.good)
		buf = binary.AppendUvarint(buf, e.total)
	}
	var hrs []hourBucket
	for _, h := range c.hours {
		if h.hour != noMinute && h.total != 0 {
			hrs = append(hrs, h)
		}
	}
	buf = binary.AppendUvarint(buf, uint64(len(hrs)))
	for _, h := range hrs {
		buf = binary.AppendVarint(buf, h.hour)
		buf = binary.AppendUvarint(buf, h.good)
		buf = binary.AppendUvarint(buf, h.total)
	}
	return buf
}

var errSnapshotTruncated = errors.New("snapshot is truncated")

// restore loads a snapshot into empty counts. It reports false, loading
// nothing, when the snapshot has another definition; malformed data is an
// error and loads nothing.
func (c *sloCounts) restore(data []byte, def string, now time.Time) (bool, error) {
	if len(data) < len(sloSnapshotMagic) || string(data[:len(sloSnapshotMagic)]) != sloSnapshotMagic {
		return false, errors.New("snapshot has an unknown format")
	}
	r := snapReader{b: data[len(sloSnapshotMagic):]}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errSnapshotTruncated
	}
	var got string
	if r.err == nil {
		got = string(r.b[:n])
		r.b = r.b[n:]
	}
	start := r.varint()
	type entry struct {
		at          int64
		good, total uint64
	}
	read := func() []entry {
		n := r.uvarint()
		if r.err != nil {
			return nil
		}
		if n > uint64(len(r.b))/3 {
			r.err = errSnapshotTruncated
			return nil
		}
		es := make([]entry, n)
		for i := range es {
			es[i] = entry{r.varint(), r.uvarint(), r.uvarint()}
			if r.err == nil && es[i].good > es[i].total {
				r.err = fmt.Errorf("snapshot holds %d good of %d calls", es[i].good, es[i].total)
			}
		}
		return es
	}
	mins, hrs := read(), read()
	for _, e := range mins {
		if r.err == nil && e.total > goodMask {
			r.err = fmt.Errorf("snapshot holds %d calls in a minute", e.total)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("snapshot has %d bytes of trailing data", len(r.b))
	}
	if r.err != nil {
		return false, r.err
	}
	if got != def {
		return false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := time.Unix(0, start); st.Before(c.start) {
		c.start = st
	}
	curM := minuteOf(now)
	for _, h := range hrs {
		c.foldLocked(h.at*60, h.good, h.total)
	}
	for _, e := range mins {
		switch {
		case e.at > curM:
			// From a clock that has since gone back: dropped.
		case e.at <= curM-int64(len(c.minutes)):
			c.foldLocked(e.at, e.good, e.total)
		default:
			b := &c.minutes[slotOf(e.at, len(c.minutes))]
			b.minute.Store(e.at)
			b.counts.Store(e.total<<32 | e.good)
		}
	}
	return true, nil
}

type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errSnapshotTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errSnapshotTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}
