package demo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// MaxDelayMS bounds Knobs.LatencyMS and Knobs.JitterMS: one minute.
const MaxDelayMS = 60_000

var (
	// ErrFailed is matched (errors.Is) by the failures a Downstream injects
	// at its configured error rate.
	ErrFailed = errors.New("demo: downstream failed")
	// ErrOutage is matched by the errors of a Downstream in an outage, set
	// by the Outage knob or by its outage schedule.
	ErrOutage = errors.New("demo: downstream is down")
	// ErrRateLimited is matched by the rate-limit answers of a Downstream
	// (an HTTP 429); the error carries a RetryAfter() time.Duration hint that
	// resilience.Retry honours.
	ErrRateLimited = errors.New("demo: downstream rate limited the call")
	// ErrUnknownDownstream is wrapped by Demo.Downstream for a name it does
	// not hold.
	ErrUnknownDownstream = errors.New("demo: unknown downstream")
)

// Knobs are the fault settings of a Downstream that an operator may change
// at run time. The zero value is a healthy, instant downstream. The JSON
// form is the body of PUT /api/v1/demo/downstreams/{name}.
type Knobs struct {
	// ErrorRate in [0, 1] is the share of calls that fail with ErrFailed.
	ErrorRate float64 `json:"error_rate"`
	// LatencyMS is the time a call takes, in milliseconds, from 0 to MaxDelayMS.
	LatencyMS int `json:"latency_ms"`
	// JitterMS spreads the latency uniformly over LatencyMS ± JitterMS
	// (never below zero), in milliseconds, from 0 to MaxDelayMS.
	JitterMS int `json:"jitter_ms"`
	// Outage makes every call fail at once with ErrOutage.
	Outage bool `json:"outage"`
}

// FieldError reports an invalid knob or setting. Field is the knob's JSON
// name ("error_rate") or the setting's path ("DownstreamConfig.SlowRate",
// "Config.Rate"). An HTTP handler answers it with 400.
type FieldError struct {
	Field string
	Value any
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("demo: invalid %s = %v: %s", e.Field, e.Value, e.Msg)
}

// Validate returns a *FieldError naming the first knob out of range (and
// its value), or nil.
func (k Knobs) Validate() error {
	switch {
	case !(k.ErrorRate >= 0 && k.ErrorRate <= 1): // also rejects NaN
		return &FieldError{Field: "error_rate", Value: k.ErrorRate, Msg: "must be between 0 and 1"}
	case k.LatencyMS < 0 || k.LatencyMS > MaxDelayMS:
		return &FieldError{Field: "latency_ms", Value: k.LatencyMS, Msg: fmt.Sprintf("must be between 0 and %d", MaxDelayMS)}
	case k.JitterMS < 0 || k.JitterMS > MaxDelayMS:
		return &FieldError{Field: "jitter_ms", Value: k.JitterMS, Msg: fmt.Sprintf("must be between 0 and %d", MaxDelayMS)}
	}
	return nil
}

// DownstreamConfig configures a Downstream: its starting knobs and the
// behaviour built into it, which the knobs do not change.
type DownstreamConfig struct {
	// Name names the downstream; it must not be empty.
	Name string
	// Description says in a sentence how the downstream misbehaves.
	Description string
	// Knobs are the starting knobs; the zero value is healthy and instant.
	Knobs Knobs
	// Clock tells time and times the latency. Nil means resilience.SystemClock().
	Clock resilience.Clock
	// Seed seeds the downstream's random source; equal seeds and equal
	// calls give equal faults. Zero is a valid seed.
	Seed uint64

	// OutageEvery and OutageFor set an outage schedule: from FirstOutage
	// after the downstream is made, calls fail with ErrOutage for OutageFor
	// out of every OutageEvery, whatever the Outage knob says. Zero
	// OutageFor means no schedule; otherwise OutageEvery must exceed it.
	OutageEvery, OutageFor, FirstOutage time.Duration

	// SlowRate in [0, 1] is the share of calls that take an extra time drawn
	// uniformly from [SlowMin, SlowMax]: a slow tail. Zero means none.
	SlowRate         float64
	SlowMin, SlowMax time.Duration

	// RateLimitRate in [0, 1] is the share of calls answered with
	// ErrRateLimited carrying the hint RetryAfter. Zero means none.
	RateLimitRate float64
	RetryAfter    time.Duration
}

func (cfg DownstreamConfig) validate() error {
	field := func(name string, v any, msg string) error {
		return &FieldError{Field: "DownstreamConfig." + name, Value: v, Msg: msg}
	}
	inUnit := func(f float64) bool { return f >= 0 && f <= 1 }
	switch {
	case strings.TrimSpace(cfg.Name) == "":
		return field("Name", fmt.Sprintf("%q", cfg.Name), "must not be empty")
	case cfg.OutageFor < 0:
		return field("OutageFor", cfg.OutageFor, "must not be negative")
	case cfg.OutageFor > 0 && cfg.OutageEvery <= cfg.OutageFor:
		return field("OutageEvery", cfg.OutageEvery, fmt.Sprintf("must exceed OutageFor (%v)", cfg.OutageFor))
	case cfg.FirstOutage < 0:
		return field("FirstOutage", cfg.FirstOutage, "must not be negative")
	case !inUnit(cfg.SlowRate):
		return field("SlowRate", cfg.SlowRate, "must be between 0 and 1")
	case cfg.SlowMin < 0:
		return field("SlowMin", cfg.SlowMin, "must not be negative")
	case cfg.SlowMax < cfg.SlowMin:
		return field("SlowMax", cfg.SlowMax, fmt.Sprintf("must not be below SlowMin (%v)", cfg.SlowMin))
	case !inUnit(cfg.RateLimitRate):
		return field("RateLimitRate", cfg.RateLimitRate, "must be between 0 and 1")
	case cfg.RetryAfter < 0:
		return field("RetryAfter", cfg.RetryAfter, "must not be negative")
	}
	if err := cfg.Knobs.Validate(); err != nil {
		var ke *FieldError
		if errors.As(err, &ke) {
			ke.Field = "DownstreamConfig.Knobs." + ke.Field
		}
		return err
	}
	return nil
}

// Downstream is a simulated dependency with fault knobs. Call waits the
// configured latency on the downstream's clock and then answers, or fails as
// the knobs and the built-in behaviour say. It is safe for concurrent use.
type Downstream struct {
	cfg   DownstreamConfig
	clock resilience.Clock
	born  time.Time

	// Errors are built once; they are immutable.
	errFailed, errOutage, errLimited error

	mu     sync.Mutex
	knobs  Knobs
	rng    *rand.Rand // guarded by mu
	active *fault     // the running scenario; guarded by mu
}

// fault returns the running scenario's hold, or nil.
func (d *Downstream) fault() *fault {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.active
}

// NewDownstream returns a downstream, or a *FieldError naming the first
// invalid setting.
func NewDownstream(cfg DownstreamConfig) (*Downstream, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = resilience.SystemClock()
	}
	d := &Downstream{
		cfg:       cfg,
		clock:     cfg.Clock,
		born:      cfg.Clock.Now(),
		errFailed: fmt.Errorf("%s: %w", cfg.Name, ErrFailed),
		errOutage: fmt.Errorf("%s: %w", cfg.Name, ErrOutage),
		knobs:     cfg.Knobs,
		rng:       rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
	}
	d.errLimited = resilience.RetryAfterError(fmt.Errorf("%s: %w", cfg.Name, ErrRateLimited), cfg.RetryAfter)
	return d, nil
}

// Name returns the downstream's name.
func (d *Downstream) Name() string { return d.cfg.Name }

// Description says how the downstream misbehaves.
func (d *Downstream) Description() string { return d.cfg.Description }

// Knobs returns the downstream's own knobs, which a running scenario
// overrides while it holds (see InForce).
func (d *Downstream) Knobs() Knobs {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.knobs
}

// InForce returns the knobs calls get now: the downstream's own, or those
// of the scenario running on it.
func (d *Downstream) InForce() Knobs {
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.active != nil {
		return d.active.knobs(d.knobs, now)
	}
	return d.knobs
}

// Set replaces the knobs. Invalid knobs give a *FieldError and change nothing.
func (d *Downstream) Set(k Knobs) error {
	if err := k.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	d.knobs = k
	d.mu.Unlock()
	return nil
}

// ScheduledOutage reports whether the outage schedule holds the downstream
// down now (the Outage knob aside).
func (d *Downstream) ScheduledOutage() bool { return d.scheduledOutage(d.clock.Now()) }

func (d *Downstream) scheduledOutage(now time.Time) bool {
	if d.cfg.OutageFor <= 0 {
		return false
	}
	since := now.Sub(d.born) - d.cfg.FirstOutage
	return since >= 0 && since%d.cfg.OutageEvery < d.cfg.OutageFor
}

// Status is a reading of a Downstream, the JSON of
// GET /api/v1/demo/downstreams.
type Status struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Knobs       Knobs  `json:"knobs"`
	// ScheduledOutage is true while the outage schedule holds the
	// downstream down.
	ScheduledOutage bool `json:"scheduled_outage"`
	// Scenario names the scenario running on the downstream, whose knobs
	// override Knobs while it holds; "" when none runs.
	Scenario string `json:"scenario,omitempty"`
	// InForce are the knobs calls get now.
	InForce Knobs `json:"in_force"`
}

// Status returns the downstream's name, knobs and outage state now.
func (d *Downstream) Status() Status {
	st := Status{
		Name:            d.cfg.Name,
		Description:     d.cfg.Description,
		Knobs:           d.Knobs(),
		ScheduledOutage: d.ScheduledOutage(),
		InForce:         d.InForce(),
	}
	if f := d.fault(); f != nil {
		st.Scenario = f.spec.Name
	}
	return st
}

// Call performs one simulated call. In an outage it fails at once with an
// error matching ErrOutage. Otherwise it waits the latency (LatencyMS ±
// JitterMS, plus the slow tail) on the clock and then returns nil, an error
// matching ErrRateLimited with a RetryAfter hint, or one matching ErrFailed.
// If ctx ends first, Call stops waiting and returns context.Cause(ctx), so a
// timeout policy cuts it.
func (d *Downstream) Call(ctx context.Context) error {
	now := d.clock.Now()
	delay, err := d.draw(now)
	if errors.Is(err, ErrOutage) {
		return err
	}
	if delay > 0 {
		t := d.clock.NewTimer(delay)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
	} else if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// draw decides the latency and the answer of a call made at now. It draws
// the same random numbers whatever the knobs, so that a seed gives the same
// sequence of faults when only the rates change.
func (d *Downstream) draw(now time.Time) (time.Duration, error) {
	d.mu.Lock()
	k := d.knobs
	if d.active != nil {
		k = d.active.knobs(k, now)
	}
	jitter, slow, slowBy := d.rng.Float64(), d.rng.Float64(), d.rng.Float64()
	limited, failed := d.rng.Float64(), d.rng.Float64()
	d.mu.Unlock()

	if k.Outage || d.scheduledOutage(now) {
		return 0, d.errOutage
	}
	delay := time.Duration(k.LatencyMS) * time.Millisecond
	if k.JitterMS > 0 {
		j := time.Duration(k.JitterMS) * time.Millisecond
		delay += time.Duration(math.Round((2*jitter - 1) * float64(j)))
		delay = max(delay, 0)
	}
	if slow < d.cfg.SlowRate {
		delay += d.cfg.SlowMin + time.Duration(slowBy*float64(d.cfg.SlowMax-d.cfg.SlowMin))
	}
	switch {
	case limited < d.cfg.RateLimitRate:
		return delay, d.errLimited
	case failed < k.ErrorRate:
		return delay, d.errFailed
	}
	return delay, nil
}
