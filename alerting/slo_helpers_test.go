package alerting

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// sloStart is where the fake clocks of the SLO and alert tests begin.
var sloStart = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// memHistory is an in-memory SLOHistoryStore.
type memHistory struct {
	mu   sync.Mutex
	data map[string][]byte
	err  error
}

func (h *memHistory) PutSLOSnapshot(name string, data []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return h.err
	}
	if h.data == nil {
		h.data = map[string][]byte{}
	}
	h.data[name] = slices.Clone(data)
	return nil
}

func (h *memHistory) SLOSnapshot(name string) ([]byte, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return nil, false, h.err
	}
	d, ok := h.data[name]
	return slices.Clone(d), ok, nil
}

// memAlertStore is an in-memory AlertStore.
type memAlertStore struct {
	mu   sync.Mutex
	recs map[string]AlertRecord
	puts int
}

func (s *memAlertStore) PutAlert(r AlertRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs == nil {
		s.recs = map[string]AlertRecord{}
	}
	s.recs[r.Fingerprint] = cloneRecord(&r)
	s.puts++
	return nil
}

func (s *memAlertStore) Alerts() ([]AlertRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AlertRecord
	for _, k := range slices.Sorted(maps.Keys(s.recs)) {
		r := s.recs[k]
		out = append(out, cloneRecord(&r))
	}
	return out, nil
}

func (s *memAlertStore) DeleteAlert(fp string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recs, fp)
	return nil
}

// sloHarness drives an SLO engine and an alert manager with a fake clock.
type sloHarness struct {
	t      *testing.T
	clock  *resiliencetest.Clock
	engine *SLOEngine
	obs    resilience.Observer
	alerts *AlertManager
	start  time.Time
	// lastEval is when the alerts were last evaluated.
	lastEval time.Time
}

func newSLOHarness(t *testing.T, slo SLOConfig, amc AlertManagerConfig) *sloHarness {
	t.Helper()
	clock := resiliencetest.NewClock(sloStart)
	eng, err := NewSLOEngine(SLOEngineConfig{SLOs: []SLOConfig{slo}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	obs, err := eng.Bind(slo.Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	amc.SLOs, amc.Clock = eng, clock
	am, err := NewAlertManager(amc)
	if err != nil {
		t.Fatal(err)
	}
	return &sloHarness{t: t, clock: clock, engine: eng, obs: obs, alerts: am, start: sloStart, lastEval: sloStart}
}

// call records one call ending now.
func (h *sloHarness) call(ok bool, d time.Duration) {
	out := resilience.OutcomeSuccess
	if !ok {
		out = resilience.OutcomeFailure
	}
	h.obs.Observe(context.Background(), resilience.Event{Kind: resilience.KindCallEnd, Outcome: out, Duration: d, Time: h.clock.Now()})
}

// drive advances the clock by d, making perSec calls a second (fail says
// which fail, by their index from 0) and evaluating the alerts every
// interval of the fake clock; after each evaluation it calls check, if
// set, with the time since the harness started.
func (h *sloHarness) drive(d time.Duration, perSec int, fail func(i int) bool, check func(since time.Duration)) {
	h.t.Helper()
	step := time.Second / time.Duration(perSec)
	end := h.clock.Now().Add(d)
	for i := 0; h.clock.Now().Before(end); i++ {
		h.clock.Advance(step)
		h.call(!fail(i), time.Millisecond)
		if now := h.clock.Now(); now.Sub(h.lastEval) >= DefaultEvaluationInterval {
			h.lastEval = now
			if err := h.alerts.Evaluate(now); err != nil {
				h.t.Fatal(err)
			}
			if check != nil {
				check(now.Sub(h.start))
			}
		}
	}
}

// fill adds calls to the counts directly, minute by minute, from the
// clock's time for d, and moves the clock to the end: bad out of total
// calls per minute.
func (h *sloHarness) fill(d time.Duration, total, bad uint64) {
	h.t.Helper()
	c := h.engine.slos[0].counts
	end := h.clock.Now().Add(d)
	for t := h.clock.Now(); t.Before(end); t = t.Add(time.Minute) {
		fillMinute(c, t, total-bad, total)
	}
	h.clock.Set(end)
}

// fillMinute adds good of total calls to the minute of t.
func fillMinute(c *sloCounts, t time.Time, good, total uint64) {
	m := minuteOf(t)
	b := &c.minutes[slotOf(m, len(c.minutes))]
	if b.minute.Load() != m && !c.claim(b, m) {
		panic("stale minute")
	}
	b.counts.Add(total<<32 | good)
}

// evaluate evaluates the alerts now.
func (h *sloHarness) evaluate() {
	h.t.Helper()
	now := h.clock.Now()
	h.lastEval = now
	if err := h.alerts.Evaluate(now); err != nil {
		h.t.Fatal(err)
	}
}

// state returns the state of the alert whose labels include want, or
// AlertInactive.
func (h *sloHarness) state(want map[string]string) AlertState {
	a, ok := findAlert(h.alerts.Alerts(), want)
	if !ok {
		return AlertInactive
	}
	return a.State
}

func findAlert(as []Alert, want map[string]string) (Alert, bool) {
	for _, a := range as {
		match := true
		for k, v := range want {
			if a.Labels[k] != v {
				match = false
				break
			}
		}
		if match {
			return a, true
		}
	}
	return Alert{}, false
}

func rowLabels(row BurnRateAlert) map[string]string {
	return map[string]string{"alertname": AlertErrorBudgetBurn, "severity": row.Severity, "long_window": row.Long.Name, "short_window": row.Short.Name}
}
