package resilience

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// This file holds a breaker's settings: BreakerConfig, its defaults and
// checks, and the breaker's description of them.

// WindowType selects how a breaker's sliding window counts.
type WindowType uint8

// The window types.
const (
	// WindowCount keeps the outcomes of the last WindowSize calls.
	WindowCount WindowType = iota
	// WindowTime keeps the outcomes of the calls of the last WindowDuration,
	// in one-second buckets.
	WindowTime
)

// String returns "count" or "time".
func (w WindowType) String() string { return enumString(w, windowNames[:]) }

// MarshalText implements encoding.TextMarshaler.
func (w WindowType) MarshalText() ([]byte, error) { return enumText(w, windowNames[:]) }

// UnmarshalText implements encoding.TextUnmarshaler: "count" or "time".
func (w *WindowType) UnmarshalText(b []byte) error {
	for i, n := range windowNames {
		if n == string(b) {
			*w = WindowType(i)
			return nil
		}
	}
	return fmt.Errorf("resilience: unknown window type %q (want count or time)", b)
}

var windowNames = [...]string{"count", "time"}

// BreakerConfig configures a Breaker. The zero value is a count-based
// breaker over the last 100 calls that opens at a 50 % failure rate once 20
// calls were seen, stays open 30 s, and lets 5 probes through when half-open.
type BreakerConfig struct {
	// Window selects count-based (zero) or time-based counting.
	Window WindowType
	// WindowSize is the number of calls a count-based window holds, at most
	// 1,000,000. Zero means 100.
	WindowSize int
	// WindowDuration is the span of a time-based window, a whole number of
	// seconds. Zero means 60 s.
	WindowDuration time.Duration
	// FailureRateThreshold in (0, 1]: the breaker opens when the failure
	// rate of the window reaches it. Zero means 0.5.
	FailureRateThreshold float64
	// SlowCallDuration is the duration from which a call counts as slow.
	// Zero disables slow-call detection.
	SlowCallDuration time.Duration
	// SlowCallRateThreshold in (0, 1]: the breaker opens when the slow-call
	// rate reaches it. Zero means 1 (only when every call is slow).
	SlowCallRateThreshold float64
	// MinimumCalls is how many calls the window must hold before the
	// breaker may open. Zero means 20, or WindowSize when a count-based
	// window is smaller. A count-based window that can never hold
	// MinimumCalls calls (MinimumCalls > WindowSize) is an error.
	MinimumCalls int
	// HalfOpenProbes is exactly how many calls a half-open breaker lets
	// through, at most 1,000,000; their outcomes decide between closed and
	// open, once all have returned (a probe that panics counts as a
	// failure; one that never returns keeps the breaker half-open, so bound
	// calls with a Timeout inside the breaker). Zero means 5.
	HalfOpenProbes int
	// OpenDuration is how long the breaker stays open before it turns
	// half-open. Zero means 30 s.
	OpenDuration time.Duration
	// OpenBackoff multiplies the open duration on each trip that follows a
	// failed half-open probe round. Zero or 1 keeps it constant.
	OpenBackoff float64
	// MaxOpenDuration caps the grown open duration. Zero means 10 × OpenDuration.
	MaxOpenDuration time.Duration
	// IsFailure decides which errors count as failures; an error it does
	// not count is a success. Nil counts every error. Whatever it says, some
	// outcomes are judged before it is asked: a call the caller cancelled
	// (its context was cancelled, not by a resilience timeout) and a call
	// an inner breaker, bulkhead, rate limiter or adaptive limit rejected
	// (ErrOpen, ErrBulkheadFull, ErrRateLimited, ErrLimitExceeded) are
	// not counted at all (a half-open probe's slot goes to the next call);
	// a call cut by the caller's own deadline counts as a failure, since the
	// dependency did not answer in time.
	IsFailure func(error) bool
}

// maxBreakerCount bounds WindowSize and HalfOpenProbes so that three counts
// fit in one 64-bit word (see lanes).
const maxBreakerCount = 1_000_000

func resolveBreaker(cfg *BreakerConfig) error {
	const pre = "Breaker."
	ratio := func(field string, v *float64, def float64) error {
		if *v == 0 {
			*v = def
		}
		if !(*v > 0 && *v <= 1) { // also NaN
			return configErr(pre+field, *v, "must be in (0, 1]")
		}
		return nil
	}
	switch cfg.Window {
	case WindowCount:
		if cfg.WindowSize == 0 {
			cfg.WindowSize = 100
		}
		if cfg.WindowSize < 0 || cfg.WindowSize > maxBreakerCount {
			return configErr(pre+"WindowSize", cfg.WindowSize, "must be in [1, 1000000]")
		}
		if cfg.WindowDuration < 0 {
			return configErr(pre+"WindowDuration", cfg.WindowDuration, "must not be negative")
		}
	case WindowTime:
		if cfg.WindowSize < 0 {
			return configErr(pre+"WindowSize", cfg.WindowSize, "must not be negative")
		}
		if cfg.WindowDuration == 0 {
			cfg.WindowDuration = time.Minute
		}
		if cfg.WindowDuration < 0 {
			return configErr(pre+"WindowDuration", cfg.WindowDuration, "must not be negative")
		}
		if cfg.WindowDuration%time.Second != 0 {
			return configErr(pre+"WindowDuration", cfg.WindowDuration, "must be a whole number of seconds")
		}
		if cfg.WindowDuration > 24*time.Hour {
			return configErr(pre+"WindowDuration", cfg.WindowDuration, "must be at most 24h")
		}
	default:
		return configErr(pre+"Window", cfg.Window, "must be WindowCount or WindowTime")
	}
	if err := ratio("FailureRateThreshold", &cfg.FailureRateThreshold, 0.5); err != nil {
		return err
	}
	if cfg.SlowCallDuration < 0 {
		return configErr(pre+"SlowCallDuration", cfg.SlowCallDuration, "must not be negative")
	}
	if err := ratio("SlowCallRateThreshold", &cfg.SlowCallRateThreshold, 1); err != nil {
		return err
	}
	switch {
	case cfg.MinimumCalls < 0:
		return configErr(pre+"MinimumCalls", cfg.MinimumCalls, "must not be negative")
	case cfg.MinimumCalls == 0:
		cfg.MinimumCalls = 20
		if cfg.Window == WindowCount {
			cfg.MinimumCalls = min(cfg.MinimumCalls, cfg.WindowSize)
		}
	case cfg.Window == WindowCount && cfg.MinimumCalls > cfg.WindowSize:
		return configErr(pre+"MinimumCalls", cfg.MinimumCalls,
			fmt.Sprintf("must not exceed WindowSize (%d): the window could never hold enough calls to trip", cfg.WindowSize))
	}
	if cfg.HalfOpenProbes == 0 {
		cfg.HalfOpenProbes = 5
	}
	if cfg.HalfOpenProbes < 0 || cfg.HalfOpenProbes > maxBreakerCount {
		return configErr(pre+"HalfOpenProbes", cfg.HalfOpenProbes, "must be in [1, 1000000]")
	}
	if cfg.OpenDuration == 0 {
		cfg.OpenDuration = 30 * time.Second
	}
	if cfg.OpenDuration < 0 {
		return configErr(pre+"OpenDuration", cfg.OpenDuration, "must not be negative")
	}
	if cfg.OpenBackoff == 0 {
		cfg.OpenBackoff = 1
	}
	if !(cfg.OpenBackoff >= 1) || math.IsInf(cfg.OpenBackoff, 0) {
		return configErr(pre+"OpenBackoff", cfg.OpenBackoff, "must be at least 1 (or 0 for 1)")
	}
	if cfg.MaxOpenDuration < 0 {
		return configErr(pre+"MaxOpenDuration", cfg.MaxOpenDuration, "must not be negative")
	}
	if cfg.MaxOpenDuration == 0 {
		cfg.MaxOpenDuration = 10 * cfg.OpenDuration
		if cfg.MaxOpenDuration/10 != cfg.OpenDuration { // overflow
			cfg.MaxOpenDuration = math.MaxInt64
		}
	}
	if cfg.MaxOpenDuration < cfg.OpenDuration {
		return configErr(pre+"MaxOpenDuration", cfg.MaxOpenDuration,
			fmt.Sprintf("must not be shorter than OpenDuration (%v)", cfg.OpenDuration))
	}
	return nil
}

// Config returns the breaker's settings with the defaults filled in.
func (b *Breaker) Config() BreakerConfig { return b.cfg }

// String describes the breaker's settings, such as "breaker count window
// 100 calls, ≥ 20 calls, 50 % failures, open 30s, 5 probes".
func (b *Breaker) String() string {
	cfg := &b.cfg
	var sb strings.Builder
	if cfg.Window == WindowTime {
		fmt.Fprintf(&sb, "breaker time window %v", cfg.WindowDuration)
	} else {
		fmt.Fprintf(&sb, "breaker count window %d calls", cfg.WindowSize)
	}
	fmt.Fprintf(&sb, ", ≥ %d calls, %s %% failures", cfg.MinimumCalls, percent(cfg.FailureRateThreshold))
	if cfg.SlowCallDuration > 0 {
		fmt.Fprintf(&sb, ", %s %% slow ≥ %v", percent(cfg.SlowCallRateThreshold), cfg.SlowCallDuration)
	}
	fmt.Fprintf(&sb, ", open %v", cfg.OpenDuration)
	if cfg.OpenBackoff > 1 {
		fmt.Fprintf(&sb, " ×%g up to %v", cfg.OpenBackoff, cfg.MaxOpenDuration)
	}
	fmt.Fprintf(&sb, ", %d probe", cfg.HalfOpenProbes)
	if cfg.HalfOpenProbes != 1 {
		sb.WriteByte('s')
	}
	return sb.String()
}

func percent(r float64) string { return strconv.FormatFloat(r*100, 'g', 4, 64) }
