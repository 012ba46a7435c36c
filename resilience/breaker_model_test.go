package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/fusebox-dev/fusebox/resilience"
)

// brModel is a plain reference breaker for sequential calls: it keeps the
// outcomes themselves instead of counters and decides with integer math.
type brModel struct {
	timeWindow     bool
	size           int   // calls of a count window
	seconds        int64 // seconds of a time window
	minCalls       int
	failQ, slowQ   int // thresholds in quarters
	slowDur        time.Duration
	probes         int
	openDur        time.Duration
	backNum, backD int64 // OpenBackoff as a fraction
	maxOpen        time.Duration

	state     resilience.State
	window    []brRec // closed: oldest first
	trial     []brRec // half-open: the probes so far
	last      []brRec // open: what tripped
	curOpen   time.Duration
	openUntil time.Time
	ovUntil   time.Time
	moves     []brMove
}

type brRec struct {
	sec        int64
	fail, slow bool
}

func (m *brModel) config() resilience.BreakerConfig {
	cfg := resilience.BreakerConfig{
		WindowSize: m.size, MinimumCalls: m.minCalls,
		FailureRateThreshold: float64(m.failQ) / 4, SlowCallDuration: m.slowDur,
		HalfOpenProbes: m.probes, OpenDuration: m.openDur,
		OpenBackoff: float64(m.backNum) / float64(m.backD), MaxOpenDuration: m.maxOpen,
	}
	if m.slowDur > 0 {
		cfg.SlowCallRateThreshold = float64(m.slowQ) / 4
	}
	if m.timeWindow {
		cfg.Window, cfg.WindowSize = resilience.WindowTime, 0
		cfg.WindowDuration = time.Duration(m.seconds) * time.Second
	}
	return cfg
}

func (m *brModel) move(to resilience.State, r resilience.Reason) {
	m.moves = append(m.moves, brMove{m.state, to, r})
	m.state = to
}

func (m *brModel) close(r resilience.Reason) {
	m.move(stClosed, r)
	m.window, m.ovUntil = nil, time.Time{}
}

func (m *brModel) open(now time.Time, d time.Duration, why []brRec) {
	m.move(stOpen, resilience.ReasonAuto)
	m.curOpen, m.openUntil, m.last = d, now.Add(d), why
}

// settle makes the transitions that are due at now.
func (m *brModel) settle(now time.Time) {
	switch {
	case m.state == stOpen && !now.Before(m.openUntil):
		m.move(stHalfOpen, resilience.ReasonAuto)
		m.trial = nil
	case m.state.Forced() && !m.ovUntil.IsZero() && !now.Before(m.ovUntil):
		m.close(resilience.ReasonExpired)
	}
}

// live returns the outcomes of the closed window as of second sec.
func (m *brModel) live(sec int64) []brRec {
	if !m.timeWindow {
		return m.window
	}
	var out []brRec
	for _, r := range m.window {
		if r.sec > sec-m.seconds {
			out = append(out, r)
		}
	}
	return out
}

func (m *brModel) failing(recs []brRec) bool {
	calls, fails, slow := tally(recs)
	if calls == 0 {
		return false
	}
	return fails > 0 && 4*fails >= m.failQ*calls || m.slowDur > 0 && slow > 0 && 4*slow >= m.slowQ*calls
}

func tally(recs []brRec) (calls, fails, slow int) {
	for _, r := range recs {
		calls++
		if r.fail {
			fails++
		}
		if r.slow {
			slow++
		}
	}
	return calls, fails, slow
}

// call is a call starting at start that takes d and fails or not; it
// reports whether the breaker lets it through.
func (m *brModel) call(start time.Time, d time.Duration, fail bool) bool {
	m.settle(start)
	end := start.Add(d)
	rec := brRec{sec: end.Unix(), fail: fail, slow: m.slowDur > 0 && d >= m.slowDur}
	switch m.state {
	case stClosed:
		m.window = append(m.live(rec.sec), rec)
		if !m.timeWindow && len(m.window) > m.size {
			m.window = m.window[1:]
		}
		if len(m.window) >= m.minCalls && m.failing(m.window) {
			m.open(end, m.openDur, m.window)
		}
		return true
	case stHalfOpen:
		m.trial = append(m.trial, rec)
		if len(m.trial) < m.probes {
			return true
		}
		if m.failing(m.trial) {
			m.open(end, min(m.curOpen*time.Duration(m.backNum)/time.Duration(m.backD), m.maxOpen), m.trial)
		} else {
			m.close(resilience.ReasonAuto)
		}
		return true
	case stForcedClosed:
		return true
	}
	return false
}

// counts returns what Metrics should report at now.
func (m *brModel) counts(now time.Time) (calls, fails, slow int) {
	switch m.state {
	case stClosed:
		return tally(m.live(now.Unix()))
	case stHalfOpen:
		return tally(m.trial)
	case stOpen:
		return tally(m.last)
	}
	return 0, 0, 0
}

func drawBrModel(t *rapid.T) *brModel {
	m := &brModel{
		timeWindow: rapid.Bool().Draw(t, "timeWindow"),
		failQ:      rapid.IntRange(1, 4).Draw(t, "failQuarters"),
		probes:     rapid.IntRange(1, 3).Draw(t, "probes"),
		openDur:    rapid.SampledFrom([]time.Duration{time.Second, 3 * time.Second}).Draw(t, "openDuration"),
	}
	if m.timeWindow {
		m.seconds = int64(rapid.IntRange(1, 4).Draw(t, "seconds"))
		m.minCalls = rapid.IntRange(1, 6).Draw(t, "minCalls")
	} else {
		m.size = rapid.IntRange(1, 6).Draw(t, "size")
		m.minCalls = rapid.IntRange(1, m.size).Draw(t, "minCalls")
	}
	if rapid.Bool().Draw(t, "slowCalls") {
		m.slowDur = time.Second
		m.slowQ = rapid.IntRange(1, 4).Draw(t, "slowQuarters")
	}
	back := rapid.SampledFrom([][2]int64{{1, 1}, {2, 1}, {3, 2}}).Draw(t, "backoff")
	m.backNum, m.backD = back[0], back[1]
	m.maxOpen = m.openDur * time.Duration(rapid.SampledFrom([]int{1, 2, 5}).Draw(t, "maxOpenFactor"))
	m.state, m.curOpen = stClosed, m.openDur
	return m
}

// TestBreakerMatchesItsModel drives a breaker and the reference model with
// the same random calls, clock moves and overrides, and compares their
// admissions, states, windows and transitions after every step.
func TestBreakerMatchesItsModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := drawBrModel(t)
		observe := rapid.Bool().Draw(t, "observe")
		f := newBrFixture(t, m.config(), observe)
		ctx := resilience.WithActor(context.Background(), "model")
		durations := []time.Duration{0, 300 * time.Millisecond, 999 * time.Millisecond, time.Second, 2 * time.Second}

		t.Repeat(map[string]func(*rapid.T){
			"call": func(t *rapid.T) {
				failed := rapid.Bool().Draw(t, "fails")
				d := rapid.SampledFrom(durations).Draw(t, "takes")
				var result error
				if failed {
					result = errBrDown
				}
				want := m.call(f.clk.Now(), d, failed)
				ran, err := f.call(context.Background(), d, result)
				if ran != want {
					t.Fatalf("call ran = %v, model says %v", ran, want)
				}
				if !ran && !errors.Is(err, resilience.ErrOpen) {
					t.Fatalf("rejected call returned %v, want ErrOpen", err)
				}
				if ran && err != result {
					t.Fatalf("call returned %v, want %v", err, result)
				}
			},
			"advance": func(t *rapid.T) {
				f.clk.Advance(rapid.SampledFrom([]time.Duration{time.Millisecond, 250 * time.Millisecond, time.Second,
					1500 * time.Millisecond, 3 * time.Second, 10 * time.Second}).Draw(t, "by"))
			},
			"override": func(t *rapid.T) {
				s := rapid.SampledFrom([]resilience.State{stForcedOpen, stForcedClosed}).Draw(t, "state")
				var until time.Time
				if d := rapid.SampledFrom([]time.Duration{0, time.Second, 5 * time.Second}).Draw(t, "for"); d > 0 {
					until = f.clk.Now().Add(d)
				}
				if err := f.b.Override(ctx, s, "model", until); err != nil {
					t.Fatal(err)
				}
				m.move(s, resilience.ReasonManual)
				m.ovUntil = until
			},
			"auto": func(t *rapid.T) {
				if err := f.b.Auto(ctx, "model"); err != nil {
					t.Fatal(err)
				}
				if m.state.Forced() {
					m.close(resilience.ReasonManual)
				}
			},
			// check looks at the breaker, which makes the transitions
			// that are due; between checks, calls have to make them.
			"check": func(t *rapid.T) {
				now := f.clk.Now()
				m.settle(now)
				if got := f.b.State(); got != m.state {
					t.Fatalf("state %s, model says %s", got, m.state)
				}
				met := f.b.Metrics()
				calls, fails, slow := m.counts(now)
				if met.Calls != int64(calls) || met.Failures != int64(fails) || met.Slow != int64(slow) {
					t.Fatalf("%s: metrics count %d calls, %d failed, %d slow; model says %d, %d, %d",
						m.state, met.Calls, met.Failures, met.Slow, calls, fails, slow)
				}
				if met.Generation != uint64(len(m.moves)) {
					t.Fatalf("generation %d after %d transitions", met.Generation, len(m.moves))
				}
				if m.state == stOpen && (met.OpenDuration != m.curOpen || !met.OpenUntil.Equal(m.openUntil)) {
					t.Fatalf("open for %v until %v, model says %v until %v", met.OpenDuration, met.OpenUntil, m.curOpen, m.openUntil)
				}
			},
			"": func(t *rapid.T) {
				if observe {
					if got := f.log.moves(); fmt.Sprint(got) != fmt.Sprint(m.moves) {
						t.Fatalf("transitions\n got %v\nwant %v", got, m.moves)
					}
				}
			},
		})
	})
}
