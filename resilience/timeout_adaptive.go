package resilience

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// AdaptiveTimeoutConfig makes a Timeout follow the latency of what runs
// inside it: the timeout is Factor times the Percentile of the durations
// of its recent successful runs, kept within [Min, Max]; while the
// pipeline is strained (one of its bulkheads, rate limiters or adaptive
// limits has no room left) it is multiplied by StrainFactor, so that calls
// give up sooner and free their slots. Until enough runs were seen it is
// TimeoutConfig.Duration, or Max.
type AdaptiveTimeoutConfig struct {
	// Percentile in (0, 1) of recent latency. Zero means 0.99.
	Percentile float64
	// Factor, at least 1, multiplies the percentile. Zero means 1.5.
	Factor float64
	// Min and Max bound the timeout; Min must be positive and Max not
	// shorter.
	Min, Max time.Duration
	// StrainFactor in (0, 1] shortens the timeout while the pipeline is
	// strained. Zero means 0.5.
	StrainFactor float64
}

// adaptiveTimeout is the state of an adaptive Timeout.
type adaptiveTimeout struct {
	cfg     AdaptiveTimeoutConfig
	initial time.Duration
	lat     *latencyRing
	// strain lists the pipeline's policies that can be saturated.
	strain []strainer
	// cur is the latest timeout and its cause, replaced when it changes.
	cur atomic.Pointer[timeoutState]
}

type timeoutState struct {
	d     time.Duration
	cause error
}

// strainer is a policy that can run out of room.
type strainer interface{ Saturated() bool }

func newAdaptiveTimeout(cfg TimeoutConfig) (*Timeout, error) {
	a := *cfg.Adaptive
	if a.Percentile == 0 {
		a.Percentile = 0.99
	}
	if a.Factor == 0 {
		a.Factor = 1.5
	}
	if a.StrainFactor == 0 {
		a.StrainFactor = 0.5
	}
	const pre = "Timeout.Adaptive."
	switch {
	case !(a.Percentile > 0 && a.Percentile < 1):
		return nil, configErr(pre+"Percentile", a.Percentile, "must be in (0, 1)")
	case !(a.Factor >= 1) || math.IsInf(a.Factor, 0):
		return nil, configErr(pre+"Factor", a.Factor, "must be at least 1")
	case a.Min <= 0:
		return nil, configErr(pre+"Min", a.Min, "must be positive")
	case a.Max < a.Min:
		return nil, configErr(pre+"Max", a.Max, fmt.Sprintf("must not be shorter than Min (%v)", a.Min))
	case !(a.StrainFactor > 0 && a.StrainFactor <= 1):
		return nil, configErr(pre+"StrainFactor", a.StrainFactor, "must be in (0, 1]")
	case cfg.Duration < 0:
		return nil, configErr("Timeout.Duration", cfg.Duration, "must not be negative")
	}
	d := cfg.Duration
	if d == 0 {
		d = a.Max
	}
	at := &adaptiveTimeout{cfg: a, initial: d, lat: newLatencyRing(a.Percentile)}
	return &Timeout{d: d, adaptive: at}, nil
}

// link finds the policies of p whose saturation strains it.
func (a *adaptiveTimeout) link(p *Pipeline) {
	for _, pol := range p.policies {
		if s, ok := pol.(strainer); ok {
			a.strain = append(a.strain, s)
		}
	}
}

// Adaptive returns the settings of an adaptive timeout, or nil.
func (t *Timeout) Adaptive() *AdaptiveTimeoutConfig {
	if t.adaptive == nil {
		return nil
	}
	cfg := t.adaptive.cfg
	return &cfg
}

// Effective returns the timeout a call starting now gets: Duration for a
// fixed timeout.
func (t *Timeout) Effective() time.Duration {
	if t.adaptive == nil {
		return t.d
	}
	return t.adaptive.effective()
}

// Strained reports whether the pipeline of an adaptive timeout is strained
// now (see AdaptiveTimeoutConfig).
func (t *Timeout) Strained() bool { return t.adaptive != nil && t.adaptive.strained() }

func (a *adaptiveTimeout) strained() bool {
	for _, s := range a.strain {
		if s.Saturated() {
			return true
		}
	}
	return false
}

func (a *adaptiveTimeout) effective() time.Duration {
	d := a.initial
	if q, ok := a.lat.quantile(); ok {
		d = time.Duration(float64(q) * a.cfg.Factor)
	}
	if a.strained() {
		d = time.Duration(float64(d) * a.cfg.StrainFactor)
	}
	return min(max(d, a.cfg.Min), a.cfg.Max)
}

// current returns the timeout of a call starting now and its cause, made
// anew only when the timeout changed.
func (a *adaptiveTimeout) current(scope Scope) (time.Duration, error) {
	d := a.effective()
	st := a.cur.Load()
	if st == nil || st.d != d {
		st = &timeoutState{d: d, cause: &TimeoutError{Scope: scope, Timeout: d, Err: context.DeadlineExceeded}}
		a.cur.Store(st)
	}
	return st.d, st.cause
}

func (a *adaptiveTimeout) String(scope Scope) string {
	return fmt.Sprintf("adaptive timeout p%g ×%g in [%v, %v] per %s", a.cfg.Percentile*100, a.cfg.Factor, a.cfg.Min, a.cfg.Max, scope)
}
