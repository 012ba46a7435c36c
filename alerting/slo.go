package alerting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// DefaultSLOPeriod is the period of an SLO that does not set one.
const DefaultSLOPeriod = 30 * 24 * time.Hour

// MinSLOPeriod is the shortest period an SLO may have.
const MinSLOPeriod = time.Hour

// DefaultSLOSnapshotInterval is how often SLOEngine.Run saves the history:
// a crash (kill -9) loses at most that much of it.
const DefaultSLOSnapshotInterval = 10 * time.Second

// SLOConfig defines a service-level objective on a pipeline, as read from
// the config file.
type SLOConfig struct {
	// Name identifies the SLO in metrics, alerts and the store: letters,
	// digits and "-_.:/", at most 128 bytes. Required.
	Name string `yaml:"name" json:"name"`
	// Pipeline is the name of the pipeline whose calls are measured. Required.
	Pipeline string `yaml:"pipeline" json:"pipeline"`
	// SLI is what makes a call good. Empty means SLIAvailability.
	SLI SLI `yaml:"sli" json:"sli"`
	// Objective is the target share of good calls in percent, in (0, 100),
	// such as 99.9. Required.
	Objective float64 `yaml:"objective" json:"objective"`
	// Period is the span the error budget covers, at least one hour. Zero
	// means DefaultSLOPeriod (30 days). In YAML: "720h".
	Period time.Duration `yaml:"period" json:"period"`
	// LatencyThreshold is the duration a good call stays within; required
	// for SLILatency, not allowed otherwise.
	LatencyThreshold time.Duration `yaml:"latency_threshold" json:"latency_threshold,omitempty"`
	// RejectedCalls is RejectedBad or RejectedIgnored. Empty means
	// RejectedBad.
	RejectedCalls RejectedCalls `yaml:"rejected_calls" json:"rejected_calls,omitempty"`
}

// FieldError is an invalid configuration value. Field is the path of the
// field within the struct that was validated ("objective",
// "receivers[2].url"), so that a config loader can prefix it ("slos[0].").
type FieldError struct {
	Field string
	Value any
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s (got %v)", e.Field, e.Msg, e.Value)
}

func newFieldError(field string, value any, msg string) *FieldError {
	return &FieldError{Field: field, Value: value, Msg: msg}
}

// withDefaults returns c with its zero fields resolved.
func (c SLOConfig) withDefaults() SLOConfig {
	if c.SLI == SLIUnset {
		c.SLI = SLIAvailability
	}
	if c.Period == 0 {
		c.Period = DefaultSLOPeriod
	}
	if c.RejectedCalls == RejectedUnset {
		c.RejectedCalls = RejectedBad
	}
	return c
}

// Validate checks c. knownPipelines lists the pipelines an SLO may name;
// nil skips that check. The error is nil or an errors.Join of *FieldError,
// one per problem, each naming its field ("objective", "period",
// "pipeline", "sli", "latency_threshold", "name"); errors.As or the
// Unwrap() []error method reach them.
func (c SLOConfig) Validate(knownPipelines []string) error {
	var errs []error
	if err := checkConfigName(c.Name); err != "" {
		errs = append(errs, newFieldError("name", strconv.Quote(c.Name), err))
	}
	switch {
	case c.Pipeline == "":
		errs = append(errs, newFieldError("pipeline", `""`, "is required"))
	case knownPipelines != nil && !slices.Contains(knownPipelines, c.Pipeline):
		errs = append(errs, newFieldError("pipeline", strconv.Quote(c.Pipeline), "is not a configured pipeline"))
	}
	switch c.SLI {
	case SLIUnset, SLIAvailability:
		if c.LatencyThreshold != 0 {
			errs = append(errs, newFieldError("latency_threshold", c.LatencyThreshold, `is only allowed with sli "latency"`))
		}
	case SLILatency:
		if c.LatencyThreshold <= 0 {
			errs = append(errs, newFieldError("latency_threshold", c.LatencyThreshold, `must be positive for sli "latency"`))
		}
	default:
		errs = append(errs, newFieldError("sli", c.SLI.String(), `must be "availability" or "latency"`))
	}
	if !(c.Objective > 0 && c.Objective < 100) { // also catches NaN
		errs = append(errs, newFieldError("objective", c.Objective, "must be a percentage between 0 and 100, both excluded"))
	}
	if c.Period != 0 && c.Period < MinSLOPeriod {
		errs = append(errs, newFieldError("period", c.Period, "must be at least 1h"))
	}
	switch c.RejectedCalls {
	case RejectedUnset, RejectedBad, RejectedIgnored:
	default:
		errs = append(errs, newFieldError("rejected_calls", c.RejectedCalls.String(), `must be "bad" or "ignored"`))
	}
	return errors.Join(errs...)
}

// checkName returns why name cannot name an SLO or a receiver, or "".
func checkConfigName(name string) string {
	if name == "" {
		return "is required"
	}
	if len(name) > 128 {
		return "must be at most 128 bytes"
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':' || r == '/'
		if !ok {
			return `may hold only letters, digits and "-_.:/"`
		}
	}
	return ""
}

// BurnWindow is a window over which a burn rate is computed.
type BurnWindow struct {
	// Name is the window as a Prometheus duration ("5m", "1d"), the value
	// of the window label of fusebox_slo_burn_rate.
	Name     string
	Duration time.Duration
}

// BurnWindows returns the windows of SLOStatus.BurnRates, shortest first:
// 5m, 30m, 1h, 2h, 6h, 1d and 3d.
func BurnWindows() []BurnWindow {
	return []BurnWindow{
		{"5m", 5 * time.Minute}, {"30m", 30 * time.Minute}, {"1h", time.Hour}, {"2h", 2 * time.Hour},
		{"6h", 6 * time.Hour}, {"1d", 24 * time.Hour}, {"3d", 72 * time.Hour},
	}
}

// numBurnWindows is len(BurnWindows()).
const numBurnWindows = 7

// SLOEngineConfig configures an SLOEngine.
type SLOEngineConfig struct {
	// SLOs are the objectives to track; each must pass Validate(nil) and
	// names must be unique. None is allowed (the engine then does nothing).
	SLOs []SLOConfig
	// Clock places events without a Time and tells when a status is
	// computed. Nil means resilience.SystemClock(). Give it the clock of the
	// pipelines.
	Clock resilience.Clock
	// History saves and restores each SLO's counts so that a restart does
	// not reset the budget. Nil keeps them in memory only.
	History SLOHistoryStore
	// SnapshotInterval is how often Run saves the history. Zero means
	// DefaultSLOSnapshotInterval.
	SnapshotInterval time.Duration
	// Logger reports failed saves in Run and discarded snapshots. Nil
	// discards.
	Logger *slog.Logger
}

// SLOHistoryStore persists the opaque history of each SLO. *store.Store
// implements it as is.
type SLOHistoryStore interface {
	// PutSLOSnapshot replaces the snapshot of SLO name.
	PutSLOSnapshot(name string, data []byte) error
	// SLOSnapshot returns the snapshot of SLO name and whether one exists.
	SLOSnapshot(name string) ([]byte, bool, error)
}

// SLOEngine measures SLOs on the calls of pipelines. It is a
// resilience.Observer and resilience.Binder: give it to the pipelines in
// resilience.Config.Observers. It counts the good and the total calls of
// each SLO (KindCallEnd events) in one-minute buckets over the last three
// days and one-hour buckets beyond, up to the SLO's period, so its memory
// is bounded (about 100 KiB per SLO, plus 24 bytes per hour of period
// beyond three days). Counting a call takes one atomic add and no lock or
// allocation.
//
// From the counts it computes error budgets and burn rates (Status,
// Statuses). A window that reaches back before the engine's history began
// (a fresh engine, without a snapshot) is taken to have been clean at the
// call rate observed since: the burn rate over a window w with only o < w
// of history is (bad/total)·(o/w)/(1−objective). That is the assumption
// behind the SRE Workbook's detection time, ((1−SLO)/error ratio)·w·factor,
// which therefore holds from the first second; with a full window the value
// is the plain ratio that Prometheus computes from fusebox_calls_total. The
// same rule applies to the period's budget.
//
// It is safe for concurrent use. Run saves snapshots periodically; Close
// saves a last one.
type SLOEngine struct {
	clock    resilience.Clock
	history  SLOHistoryStore
	interval time.Duration
	log      *slog.Logger

	slos       []*sloState // by name
	byPipeline map[string][]*sloState

	mu    sync.Mutex
	bound map[string]bool
}

// sloState is the state of one SLO.
type sloState struct {
	cfg    SLOConfig // resolved
	counts *sloCounts
	// fresh is set by the first call counted since the engine started.
	fresh atomic.Bool
}

// NewSLOEngine returns an engine tracking cfg.SLOs, restored from
// cfg.History. It fails with an error naming the SLO and field of an
// invalid or duplicate SLO, or naming the SLO whose snapshot cannot be read
// or decoded (it never resets a history it cannot read). A snapshot taken
// with another SLI or latency threshold measured something else and is
// discarded, with a log line.
func NewSLOEngine(cfg SLOEngineConfig) (*SLOEngine, error) {
	e := &SLOEngine{
		clock: cfg.Clock, history: cfg.History, interval: cfg.SnapshotInterval, log: cfg.Logger,
		byPipeline: map[string][]*sloState{}, bound: map[string]bool{},
	}
	if e.clock == nil {
		e.clock = resilience.SystemClock()
	}
	if e.interval == 0 {
		e.interval = DefaultSLOSnapshotInterval
	}
	if e.interval < 0 {
		return nil, fmt.Errorf("alerting: invalid SLOEngineConfig.SnapshotInterval = %v: must not be negative", cfg.SnapshotInterval)
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	now := e.clock.Now()
	seen := map[string]bool{}
	for i, c := range cfg.SLOs {
		if err := c.Validate(nil); err != nil {
			return nil, fmt.Errorf("alerting: invalid SLOEngineConfig.SLOs[%d]: %w", i, err)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("alerting: invalid SLOEngineConfig.SLOs[%d].name = %q: duplicate SLO name", i, c.Name)
		}
		seen[c.Name] = true
		c = c.withDefaults()
		s := &sloState{cfg: c, counts: newSLOCounts(c.Period, now)}
		if err := e.restore(s, now); err != nil {
			return nil, err
		}
		e.slos = append(e.slos, s)
		e.byPipeline[c.Pipeline] = append(e.byPipeline[c.Pipeline], s)
	}
	slices.SortFunc(e.slos, func(a, b *sloState) int { return strings.Compare(a.cfg.Name, b.cfg.Name) })
	return e, nil
}

func (e *SLOEngine) restore(s *sloState, now time.Time) error {
	if e.history == nil {
		return nil
	}
	data, ok, err := e.history.SLOSnapshot(s.cfg.Name)
	if err != nil {
		return fmt.Errorf("alerting: reading the history of SLO %q: %w", s.cfg.Name, err)
	}
	if !ok || len(data) == 0 {
		return nil
	}
	match, err := s.counts.restore(data, s.cfg.definition(), now)
	if err != nil {
		return fmt.Errorf("alerting: decoding the history of SLO %q: %w", s.cfg.Name, err)
	}
	if !match {
		e.log.Warn("SLO history discarded: it was measured with another SLI or latency threshold", "slo", s.cfg.Name)
	}
	return nil
}

// definition says what the counts of an SLO measure; a snapshot taken
// with another definition is discarded.
func (c SLOConfig) definition() string {
	def := c.SLI.String()
	if c.SLI == SLILatency {
		def = "latency:" + strconv.FormatInt(int64(c.LatencyThreshold), 10)
	}
	if c.RejectedCalls == RejectedIgnored {
		def += ";rejected=ignored"
	}
	return def
}

// Fresh reports whether the engine has counted a call of the SLO named
// name since it started, beyond the history it restored (so its figures
// rest on fresh evidence), and whether it tracks that SLO.
func (e *SLOEngine) Fresh(name string) (fresh, ok bool) {
	for _, s := range e.slos {
		if s.cfg.Name == name {
			return s.fresh.Load(), true
		}
	}
	return false, false
}

// SLOs returns the resolved configurations of the tracked SLOs, by name.
func (e *SLOEngine) SLOs() []SLOConfig {
	out := make([]SLOConfig, len(e.slos))
	for i, s := range e.slos {
		out[i] = s.cfg
	}
	return out
}

// Bind returns the observer of the named pipeline's calls. A pipeline
// without an SLO gets an observer that ignores everything. Binding a name
// twice is an error wrapping ErrAlreadyBound.
func (e *SLOEngine) Bind(pipeline string) (resilience.Observer, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.bound[pipeline] {
		return nil, fmt.Errorf("%w: SLOs of %q", telemetry.ErrAlreadyBound, pipeline)
	}
	e.bound[pipeline] = true
	return &sloObserver{engine: e, slos: e.byPipeline[pipeline]}, nil
}

// Observe counts a KindCallEnd event of a pipeline that was not bound,
// looking its SLOs up by name. Bound pipelines do not come here.
func (e *SLOEngine) Observe(_ context.Context, ev resilience.Event) {
	if ev.Kind != resilience.KindCallEnd {
		return
	}
	e.record(e.byPipeline[ev.Pipeline], ev)
}

type sloObserver struct {
	engine *SLOEngine
	slos   []*sloState
}

// Kinds asks for call ends only, and for nothing on a pipeline without SLOs.
func (o *sloObserver) Kinds() resilience.KindSet {
	if len(o.slos) == 0 {
		return 0
	}
	return resilience.Kinds(resilience.KindCallEnd)
}

func (o *sloObserver) Observe(_ context.Context, ev resilience.Event) {
	if ev.Kind != resilience.KindCallEnd || len(o.slos) == 0 {
		return
	}
	o.engine.record(o.slos, ev)
}

func (e *SLOEngine) record(slos []*sloState, ev resilience.Event) {
	if len(slos) == 0 {
		return
	}
	t := ev.Time
	if t.IsZero() {
		t = e.clock.Now()
	}
	for _, s := range slos {
		var good bool
		switch {
		case ev.Outcome == resilience.OutcomeRejected:
			if s.cfg.RejectedCalls == RejectedIgnored {
				continue
			}
		case s.cfg.SLI == SLILatency:
			good = ev.Duration <= s.cfg.LatencyThreshold
		default:
			good = ev.Outcome == resilience.OutcomeSuccess
		}
		s.counts.record(t, good)
		if !s.fresh.Load() {
			s.fresh.Store(true)
		}
	}
}

// BurnRate is the burn rate of an error budget over a window: the error
// ratio divided by the allowed error ratio (1 − objective). 1 spends the
// budget exactly over the period.
type BurnRate struct {
	Window BurnWindow
	Rate   float64
}

// BudgetPoint is the budget remaining at a time of the period.
type BudgetPoint struct {
	Time time.Time
	// Remaining is the share of the period's budget left at Time, counting
	// the bad calls since the period began; 1 is untouched, below 0 overspent.
	Remaining float64
}

// SLOStatus is the state of an SLO at a time.
type SLOStatus struct {
	SLOConfig
	// Time is when the status was computed.
	Time time.Time
	// Coverage is how much of the period the history covers.
	Coverage time.Duration
	// Good and Total count the calls of the period that the history holds.
	Good, Total float64
	// Availability is Good/Total, the share of good calls over the period;
	// 1 without calls.
	Availability float64
	// BudgetTotal is the number of bad calls the period allows: (1 −
	// objective) × the calls of the period (extrapolated from the coverage
	// at the observed rate when the history is shorter than the period).
	BudgetTotal float64
	// BudgetRemaining is the share of the budget left, 1 − bad/BudgetTotal;
	// negative once overspent, 1 without calls.
	BudgetRemaining float64
	// BudgetRemainingCalls is BudgetTotal − bad calls.
	BudgetRemainingCalls float64
	// BurnRates are the burn rates over BurnWindows(), shortest first.
	BurnRates []BurnRate
	// TimeToExhaustion is how long the remaining budget lasts at the 1h
	// burn rate: 0 when it is spent; Exhausts is false (and
	// TimeToExhaustion 0) when nothing burns.
	TimeToExhaustion time.Duration
	Exhausts         bool
	// BudgetHistory is the budget remaining over the period, oldest first
	// (set by Status and Statuses with history).
	BudgetHistory []BudgetPoint
}

// Burn returns the burn rate over the window named name ("1h"), or 0.
func (s SLOStatus) Burn(name string) float64 {
	for _, b := range s.BurnRates {
		if b.Window.Name == name {
			return b.Rate
		}
	}
	return 0
}

// budgetHistoryPoints is the length of SLOStatus.BudgetHistory.
const budgetHistoryPoints = 60

// Status returns the status of the SLO named name now, with its budget
// history, and whether the engine tracks it.
func (e *SLOEngine) Status(name string) (SLOStatus, bool) {
	for _, s := range e.slos {
		if s.cfg.Name == name {
			return s.status(e.clock.Now(), true), true
		}
	}
	return SLOStatus{}, false
}

// Statuses returns the status of every SLO now, by name; history adds
// each one's BudgetHistory.
func (e *SLOEngine) Statuses(history bool) []SLOStatus {
	now := e.clock.Now()
	out := make([]SLOStatus, len(e.slos))
	for i, s := range e.slos {
		out[i] = s.status(now, history)
	}
	return out
}

// ForPipeline returns the status of the SLOs of pipeline now, with their
// budget history, by name.
func (e *SLOEngine) ForPipeline(pipeline string) []SLOStatus {
	now := e.clock.Now()
	var out []SLOStatus
	for _, s := range e.slos {
		if s.cfg.Pipeline == pipeline {
			out = append(out, s.status(now, true))
		}
	}
	return out
}

func (s *sloState) status(now time.Time, history bool) SLOStatus {
	c := s.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)

	st := SLOStatus{SLOConfig: s.cfg, Time: now, Availability: 1, BudgetRemaining: 1}
	allowed := 1 - s.cfg.Objective/100
	period := s.cfg.Period
	st.Good, st.Total, st.Coverage = c.sumLocked(now, period)
	bad := st.Total - st.Good
	if st.Total > 0 {
		st.Availability = st.Good / st.Total
		expected := st.Total * float64(period) / float64(st.Coverage)
		st.BudgetTotal = allowed * expected
		st.BudgetRemainingCalls = st.BudgetTotal - bad
		st.BudgetRemaining = 1 - bad/st.BudgetTotal
	}
	st.BurnRates = make([]BurnRate, 0, numBurnWindows)
	for _, w := range BurnWindows() {
		good, total, cov := c.sumLocked(now, w.Duration)
		st.BurnRates = append(st.BurnRates, BurnRate{Window: w, Rate: sloBurnRate(total-good, total, cov, w.Duration, allowed)})
	}
	if st.BudgetRemaining <= 0 {
		st.Exhausts = true
	} else if b := st.Burn("1h"); b > 0 {
		st.Exhausts = true
		st.TimeToExhaustion = sloDuration(st.BudgetRemaining * float64(period) / b)
	}
	if history {
		st.BudgetHistory = c.budgetHistoryLocked(now, period, st.BudgetTotal)
	}
	return st
}

// burnRate is the burn rate of bad calls out of total over a window w of
// which cov holds history, the rest taken to have been clean.
func sloBurnRate(bad, total float64, cov, w time.Duration, allowed float64) float64 {
	if total <= 0 || cov <= 0 {
		return 0
	}
	return bad / total * (float64(cov) / float64(w)) / allowed
}

// durationOf converts nanoseconds to a Duration, saturating.
func sloDuration(ns float64) time.Duration {
	if ns >= math.MaxInt64 || math.IsInf(ns, 1) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ns)
}

// Save writes every SLO's history to the store. Without a store it does
// nothing. Errors name the SLO; the others are still saved.
func (e *SLOEngine) Save() error {
	if e.history == nil {
		return nil
	}
	now := e.clock.Now()
	var errs []error
	for _, s := range e.slos {
		data := s.counts.snapshot(s.cfg.definition(), now)
		if err := e.history.PutSLOSnapshot(s.cfg.Name, data); err != nil {
			errs = append(errs, fmt.Errorf("alerting: saving the history of SLO %q: %w", s.cfg.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Run saves the history every SnapshotInterval, on the engine's clock,
// until ctx ends; then it returns nil (Close saves the last state). Failed
// saves are logged and retried at the next tick.
func (e *SLOEngine) Run(ctx context.Context) error {
	for {
		t := e.clock.NewTimer(e.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
			if err := e.Save(); err != nil {
				e.log.Error("saving SLO history", "err", err)
			}
		}
	}
}

// Close saves the history a last time. Call it after the pipelines have
// stopped and Run has returned.
func (e *SLOEngine) Close() error { return e.Save() }
