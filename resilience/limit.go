package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// LimitAlgorithm is how an AdaptiveLimit moves its limit.
type LimitAlgorithm uint8

// The algorithms, after Netflix's concurrency-limits library
// (github.com/Netflix/concurrency-limits, AIMDLimit and VegasLimit).
const (
	// LimitAIMD adds one to the limit for a call that was not dropped
	// while at least half of the limit was in use, and multiplies it by
	// BackoffRatio for a dropped one: a call that timed out (ErrTimeout,
	// context.DeadlineExceeded) or took longer than DropLatency. It reacts
	// to drops only, so it needs a timeout or DropLatency to see trouble.
	LimitAIMD LimitAlgorithm = iota
	// LimitVegas estimates the queue at the dependency from latency, as
	// TCP Vegas does: with rttNoLoad the least latency seen lately and rtt
	// the call's, queue = limit × (1 − rttNoLoad/rtt). Up to log10(limit)
	// the limit grows by 6·log10(limit), below 3·log10(limit) by
	// log10(limit); above 6·log10(limit), or on a drop, it shrinks by
	// log10(limit) (steps of at least 1). Every 30 × limit calls it halves
	// the limit for the queue to drain and takes rttNoLoad afresh (as BBR's
	// ProbeRTT does, more gently), so that a dependency that became slower for
	// good is re-learnt rather than throttled for ever. It follows latency
	// before anything times out.
	LimitVegas
)

var limitAlgorithmNames = []string{"aimd", "vegas"}

// String returns "aimd" or "vegas".
func (a LimitAlgorithm) String() string { return enumString(a, limitAlgorithmNames) }

// MarshalText implements encoding.TextMarshaler.
func (a LimitAlgorithm) MarshalText() ([]byte, error) { return enumText(a, limitAlgorithmNames) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *LimitAlgorithm) UnmarshalText(b []byte) error {
	for i, n := range limitAlgorithmNames {
		if string(b) == n {
			*a = LimitAlgorithm(i)
			return nil
		}
	}
	return fmt.Errorf("resilience: unknown limit algorithm %q (want aimd or vegas)", b)
}

// AdaptiveLimitConfig configures an AdaptiveLimit.
type AdaptiveLimitConfig struct {
	// Algorithm moves the limit; the zero value is LimitAIMD.
	Algorithm LimitAlgorithm
	// InitialLimit is the limit to start from. Zero means 20.
	InitialLimit int
	// MinLimit and MaxLimit bound the limit. Zero means 1 and 1000.
	MinLimit, MaxLimit int
	// BackoffRatio in (0, 1) multiplies the AIMD limit on a drop. Zero
	// means 0.9.
	BackoffRatio float64
	// DropLatency, when positive, makes a call slower than it a drop, as
	// a timeout is. Zero means only timeouts are drops.
	DropLatency time.Duration
	// Smoothing in (0, 1] is the share of a Vegas step taken at once. Zero
	// means 1.
	Smoothing float64
}

// AdaptiveLimit bounds the calls in flight by a limit that follows the
// dependency's latency and drops (see LimitAlgorithm), as Netflix's
// concurrency-limits does: a call beyond the limit is refused at once with
// ErrLimitExceeded and a KindRejected event with ReasonLimitExceeded. The
// limit moves with the outcome of every call that ends: successes and
// drops are samples; other failures, cancellations and refusals from
// policies inside it are not. It is safe for concurrent use.
type AdaptiveLimit struct {
	cfg      AdaptiveLimitConfig
	inflight atomic.Int64
	// limit is the current limit, read without the lock by admissions.
	limit atomic.Int64
	mu    sync.Mutex
	est   float64 // the limit before rounding
	// Vegas: the least latency seen since the last probe, and the calls
	// sampled since.
	noLoad time.Duration
	probe  int
	// hist is a ring of the latest changes of the limit; hn counts them.
	hist [limitHistory]LimitPoint
	hn   int
	p    *Pipeline
}

// LimitPoint is a change of an adaptive limit: the limit from Time on.
type LimitPoint struct {
	Time  time.Time
	Limit int
}

// limitHistory is how many changes of the limit History keeps.
const limitHistory = 120

// History returns the latest changes of the limit, oldest first, at most
// 120 of them.
func (l *AdaptiveLimit) History() []LimitPoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(l.hn, limitHistory)
	out := make([]LimitPoint, 0, n)
	for i := l.hn - n; i < l.hn; i++ {
		out = append(out, l.hist[i%limitHistory])
	}
	return out
}

// note records that the limit changed at t.
func (l *AdaptiveLimit) note(t time.Time) {
	l.mu.Lock()
	l.hist[l.hn%limitHistory] = LimitPoint{Time: t, Limit: int(l.limit.Load())}
	l.hn++
	l.mu.Unlock()
}

// ErrLimitExceeded is returned, without calling the function, when an
// AdaptiveLimit has as many calls in flight as its limit.
var ErrLimitExceeded = errors.New("resilience: concurrency limit reached")

// NewAdaptiveLimit returns an adaptive concurrency limit, or a
// *ConfigError naming the invalid field.
func NewAdaptiveLimit(cfg AdaptiveLimitConfig) (*AdaptiveLimit, error) {
	const pre = "AdaptiveLimit."
	if cfg.InitialLimit == 0 {
		cfg.InitialLimit = 20
	}
	if cfg.MinLimit == 0 {
		cfg.MinLimit = 1
	}
	if cfg.MaxLimit == 0 {
		cfg.MaxLimit = 1000
	}
	if cfg.BackoffRatio == 0 {
		cfg.BackoffRatio = 0.9
	}
	if cfg.Smoothing == 0 {
		cfg.Smoothing = 1
	}
	switch {
	case cfg.Algorithm > LimitVegas:
		return nil, configErr(pre+"Algorithm", cfg.Algorithm, "must be LimitAIMD or LimitVegas")
	case cfg.MinLimit < 1:
		return nil, configErr(pre+"MinLimit", cfg.MinLimit, "must be at least 1")
	case cfg.MaxLimit < cfg.MinLimit || cfg.MaxLimit > 1_000_000:
		return nil, configErr(pre+"MaxLimit", cfg.MaxLimit, fmt.Sprintf("must be in [MinLimit (%d), 1000000]", cfg.MinLimit))
	case cfg.InitialLimit < cfg.MinLimit || cfg.InitialLimit > cfg.MaxLimit:
		return nil, configErr(pre+"InitialLimit", cfg.InitialLimit, fmt.Sprintf("must be in [%d, %d]", cfg.MinLimit, cfg.MaxLimit))
	case !(cfg.BackoffRatio > 0 && cfg.BackoffRatio < 1):
		return nil, configErr(pre+"BackoffRatio", cfg.BackoffRatio, "must be in (0, 1)")
	case cfg.DropLatency < 0:
		return nil, configErr(pre+"DropLatency", cfg.DropLatency, "must not be negative")
	case !(cfg.Smoothing > 0 && cfg.Smoothing <= 1):
		return nil, configErr(pre+"Smoothing", cfg.Smoothing, "must be in (0, 1]")
	}
	l := &AdaptiveLimit{cfg: cfg, est: float64(cfg.InitialLimit)}
	l.limit.Store(int64(cfg.InitialLimit))
	return l, nil
}

// Config returns the limit's settings with the defaults filled in.
func (l *AdaptiveLimit) Config() AdaptiveLimitConfig { return l.cfg }

// Limit returns the current limit.
func (l *AdaptiveLimit) Limit() int { return int(l.limit.Load()) }

// InFlight returns how many calls hold a place now.
func (l *AdaptiveLimit) InFlight() int { return int(l.inflight.Load()) }

// Saturated reports whether the calls in flight reach the limit.
func (l *AdaptiveLimit) Saturated() bool { return l.inflight.Load() >= l.limit.Load() }

// String describes the limit.
func (l *AdaptiveLimit) String() string {
	return fmt.Sprintf("adaptive limit %s from %d in [%d, %d]", l.cfg.Algorithm, l.cfg.InitialLimit, l.cfg.MinLimit, l.cfg.MaxLimit)
}

func (l *AdaptiveLimit) bind(p *Pipeline, index int) error {
	if l.p != nil {
		return configErr(fmt.Sprintf("Pipeline.Policies[%d]", index), l, "already belongs to pipeline "+l.p.name)
	}
	l.p = p
	p.timing = true
	return nil
}

func (l *AdaptiveLimit) owner() *Pipeline { return l.p }

func (l *AdaptiveLimit) execute(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	n := l.inflight.Add(1)
	if n > l.limit.Load() {
		l.inflight.Add(-1)
		return c.reject(ctx, ReasonLimitExceeded, ErrLimitExceeded)
	}
	start := c.now
	done := false
	defer func() {
		l.inflight.Add(-1)
		if !done { // a panic: a drop
			l.sample(time.Duration(c.now-start), int(n), true)
		}
	}()
	err := c.p.next(ctx, c, i+1, fn)
	done = true
	rtt := time.Duration(c.now - start)
	changed := false
	switch {
	case err == nil:
		changed = l.sample(rtt, int(n), l.cfg.DropLatency > 0 && rtt > l.cfg.DropLatency)
	case errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		changed = l.sample(rtt, int(n), true)
	}
	if changed {
		l.note(c.p.time(c.now))
	}
	return err
}

// sample moves the limit for a call that took rtt with inflight calls in
// flight (itself included) when it started, dropped or not. It reports
// whether the limit (rounded) changed.
func (l *AdaptiveLimit) sample(rtt time.Duration, inflight int, drop bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.est
	switch l.cfg.Algorithm {
	case LimitAIMD:
		switch {
		case drop:
			lim = math.Floor(lim * l.cfg.BackoffRatio)
		case float64(inflight)*2 >= lim:
			lim++
		}
	case LimitVegas:
		if rtt <= 0 {
			return false
		}
		l.probe++
		if float64(l.probe) >= 30*lim {
			// Probe: halve the limit so that the queue drains, and take
			// the no-load latency afresh from the next call.
			l.probe, l.noLoad = 0, 0
			lim /= 2
			break
		}
		if l.noLoad == 0 || rtt < l.noLoad {
			l.noLoad = rtt
			return false
		}
		log := math.Log10(lim)
		step := math.Max(1, log)
		queue := math.Ceil(lim * (1 - float64(l.noLoad)/float64(rtt)))
		var next float64
		switch {
		case drop:
			next = lim - step
		case float64(inflight)*2 < lim:
			return false // the caller, not the dependency, limits the calls
		case queue <= log:
			next = lim + 6*step
		case queue < 3*log:
			next = lim + step
		case queue > 6*log:
			next = lim - step
		default:
			return false
		}
		lim = (1-l.cfg.Smoothing)*lim + l.cfg.Smoothing*next
	}
	lim = math.Min(math.Max(lim, float64(l.cfg.MinLimit)), float64(l.cfg.MaxLimit))
	l.est = lim
	return l.limit.Swap(int64(lim)) != int64(lim)
}
