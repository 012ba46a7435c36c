package telemetry

import (
	"time"

	"github.com/fusebox-dev/fusebox/internal/fold"
	"github.com/fusebox-dev/fusebox/resilience"
)

// RecentEventsKept is how many recent events a pipeline keeps.
const RecentEventsKept = 1000

// TransitionsKept is how many breaker transitions a pipeline's timeline keeps.
const TransitionsKept = 200

// maxMessage bounds the length of a transition message kept in the timeline.
const maxMessage = 256

// record is an event of the recent-events ring, packed. Attempt-start
// events are not kept: an attempt's end gives its start (Time - Duration).
//
// A call end that carries its last attempt, neither with an error, is kept
// as one record with last set, and read back as the two events.
type record struct {
	time    int64 // Unix nanoseconds
	dur     int64 // Duration, or Delay for KindRetryScheduled
	lastDur int64 // the Duration of a folded last attempt
	call    uint64
	err     error
	attempt uint16 // up to 65,535
	kind    resilience.Kind
	outcome resilience.Outcome
	states  uint8 // From<<4 | To
	reason  resilience.Reason
	scope   resilience.Scope
	last    uint8 // 0, or 1 + the Outcome of a folded last attempt
}

// foldable reports whether call end e and last, the end of its last
// attempt, can be kept in one record: last is set and neither has an
// error.
func foldable(e *resilience.Event, last *fold.Attempt) bool {
	return last != nil && last.Err == nil && e.Err == nil
}

// set records e; last is the end of the call's last attempt that call end
// e carries, or nil.
func (r *record) set(e *resilience.Event, last *fold.Attempt) {
	r.time = e.Time.UnixNano()
	r.call = e.Call
	r.dur = int64(e.Duration)
	if e.Kind == resilience.KindRetryScheduled {
		r.dur = int64(e.Delay)
	}
	r.err = e.Err
	r.attempt = clampAttempt(e.Attempt)
	r.kind, r.outcome, r.states, r.reason, r.scope = e.Kind, e.Outcome, uint8(e.From)<<4|uint8(e.To)&15, e.Reason, e.Scope
	r.last, r.lastDur = 0, 0
	if e.Kind == resilience.KindCallEnd && foldable(e, last) {
		r.last, r.lastDur = 1+last.Outcome, int64(last.Duration)
	}
}

func clampAttempt(n int) uint16 { return uint16(min(max(n, 0), 1<<16-1)) }

// setLastAttempt records last, the end of the last attempt that call end
// e carries, when it cannot be kept in the call's record.
func (r *record) setLastAttempt(e *resilience.Event, last *fold.Attempt) {
	*r = record{
		time: e.Time.UnixNano(), call: e.Call, dur: int64(last.Duration), err: last.Err,
		attempt: clampAttempt(e.Attempt), kind: resilience.KindAttemptEnd, outcome: resilience.Outcome(last.Outcome),
	}
}

// appendEvents appends the events of r to dst: one, or two for a call end
// with its last attempt folded in.
func (r *record) appendEvents(dst []RecentEvent) []RecentEvent {
	if r.last > 0 {
		dst = append(dst, RecentEvent{
			Kind: resilience.KindAttemptEnd, Time: time.Unix(0, r.time), Call: r.call, Attempt: int(r.attempt),
			Outcome: resilience.Outcome(r.last - 1), Duration: time.Duration(r.lastDur),
		})
	}
	return append(dst, r.event())
}

func (r *record) event() RecentEvent {
	e := RecentEvent{
		Kind: r.kind, Time: time.Unix(0, r.time), Call: r.call, Attempt: int(r.attempt),
		Outcome: r.outcome, From: resilience.State(r.states >> 4), To: resilience.State(r.states & 15), Reason: r.reason, Scope: r.scope, Err: r.err,
	}
	if r.kind == resilience.KindRetryScheduled {
		e.Delay = time.Duration(r.dur)
	} else {
		e.Duration = time.Duration(r.dur)
	}
	return e
}

// breakerTrack follows a pipeline's breaker through its transition events.
type breakerTrack struct {
	state  resilience.State
	since  time.Time
	timeIn [resilience.NumStates]time.Duration
	// timeline is a ring of the last TransitionsKept transitions; n counts
	// all of them.
	timeline [TransitionsKept]Transition
	n        uint64
	counts   [resilience.NumStates][resilience.NumStates][resilience.NumReasons]uint64
}

func (b *breakerTrack) transition(e *resilience.Event) {
	if e.From >= resilience.NumStates || e.To >= resilience.NumStates || e.Reason >= resilience.NumReasons {
		return
	}
	if e.Time.After(b.since) {
		b.timeIn[b.state] += e.Time.Sub(b.since)
		b.since = e.Time
	}
	b.state = e.To
	b.counts[e.From][e.To][e.Reason]++
	msg := e.Message
	if len(msg) > maxMessage {
		msg = msg[:maxMessage]
	}
	b.timeline[b.n%TransitionsKept] = Transition{
		Time: e.Time, From: e.From, To: e.To, Reason: e.Reason,
		Actor: cloneBounded(e.Actor), Message: cloneBounded(msg),
	}
	b.n++
}

// cloneBounded copies s so that the timeline does not keep a larger string
// alive, up to maxMessage bytes.
func cloneBounded(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > maxMessage {
		s = s[:maxMessage]
	}
	return string([]byte(s))
}

// appendCounts appends to dst the transitions counted, by from, to and
// reason, those never seen left out.
func (b *breakerTrack) appendCounts(dst []TransitionCount) []TransitionCount {
	for from := range b.counts {
		for to := range b.counts[from] {
			for r, n := range b.counts[from][to] {
				if n != 0 {
					dst = append(dst, TransitionCount{
						From: resilience.State(from), To: resilience.State(to), Reason: resilience.Reason(r), Count: n,
					})
				}
			}
		}
	}
	return dst
}

// snapshot copies the breaker's state as of now; withTimeline adds the
// timeline.
func (b *breakerTrack) snapshot(now time.Time, withTimeline bool) BreakerSnapshot {
	s := BreakerSnapshot{State: b.state, Since: b.since, TimeInState: b.timeIn}
	if now.After(b.since) {
		s.TimeInState[b.state] += now.Sub(b.since)
	}
	s.TransitionCounts = b.appendCounts(nil)
	if withTimeline && b.n > 0 {
		k := min(b.n, TransitionsKept)
		s.Transitions = make([]Transition, 0, k)
		for i := b.n - k; i < b.n; i++ {
			s.Transitions = append(s.Transitions, b.timeline[i%TransitionsKept])
		}
	}
	return s
}

// add writes recs to the ring, overwriting the oldest.
func (r *ring) add(recs []record) {
	for len(recs) > 0 {
		n := copy(r.recs[r.next%uint64(len(r.recs)):], recs)
		r.next += uint64(n)
		recs = recs[n:]
	}
}

// appendTo appends the ring's records to dst, oldest first.
func (r *ring) appendTo(dst []record) []record {
	n := uint64(len(r.recs))
	for k := r.next - min(r.next, n); k < r.next; k++ {
		dst = append(dst, r.recs[k%n])
	}
	return dst
}
