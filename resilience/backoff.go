package resilience

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Jitter selects how a backoff delay is randomised.
type Jitter uint8

// The jitters, as described in "Exponential Backoff And Jitter" (AWS
// Architecture Blog). Let d = min(Max, Base × Multiplier^(n−1)) for retry n.
const (
	// JitterFull waits a uniform random time in [0, d). It is the zero value.
	JitterFull Jitter = iota
	// JitterEqual waits d/2 plus a uniform random time in [0, d/2).
	JitterEqual
	// JitterDecorrelated waits a uniform random time in [Base, 3 × previous
	// delay), capped by Max; Multiplier is not used.
	JitterDecorrelated
	// JitterNone waits exactly d.
	JitterNone
	numJitters
)

var jitterNames = [numJitters]string{"full", "equal", "decorrelated", "none"}

// String returns the jitter's name.
func (j Jitter) String() string { return enumString(j, jitterNames[:]) }

// MarshalText implements encoding.TextMarshaler.
func (j Jitter) MarshalText() ([]byte, error) { return enumText(j, jitterNames[:]) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (j *Jitter) UnmarshalText(b []byte) error {
	for i, n := range jitterNames {
		if n == string(b) {
			*j = Jitter(i)
			return nil
		}
	}
	return fmt.Errorf("resilience: unknown jitter %q (want full, equal, decorrelated or none)", b)
}

// BackoffConfig configures exponential backoff between attempts.
type BackoffConfig struct {
	// Base is the delay before the first retry. Zero means 100 ms.
	Base time.Duration
	// Multiplier grows the delay after each retry; at least 1. Zero means 2.
	Multiplier float64
	// Max caps every backoff delay; at least Base. A Retry-After hint
	// may exceed it, up to RetryConfig.MaxRetryAfter.
	// Zero means 10 s.
	Max time.Duration
	// Jitter randomises the delays. The zero value is JitterFull.
	Jitter Jitter
}

// backoff computes delays. It is immutable and safe for concurrent use.
type backoff struct{ BackoffConfig }

func newBackoff(cfg BackoffConfig, field string) (backoff, error) {
	if cfg.Base == 0 {
		cfg.Base = 100 * time.Millisecond
	}
	if cfg.Multiplier == 0 {
		cfg.Multiplier = 2
	}
	if cfg.Max == 0 {
		cfg.Max = max(10*time.Second, cfg.Base)
	}
	switch {
	case cfg.Base < 0:
		return backoff{}, configErr(field+".Base", cfg.Base, "must not be negative")
	case cfg.Multiplier < 1 || math.IsNaN(cfg.Multiplier) || math.IsInf(cfg.Multiplier, 0):
		return backoff{}, configErr(field+".Multiplier", cfg.Multiplier, "must be a finite number ≥ 1")
	case cfg.Max < cfg.Base:
		return backoff{}, configErr(field+".Max", cfg.Max, fmt.Sprintf("must not be below Base (%v)", cfg.Base))
	case cfg.Jitter >= numJitters:
		return backoff{}, configErr(field+".Jitter", cfg.Jitter, "unknown jitter")
	}
	return backoff{cfg}, nil
}

// ceiling returns the delay before retry n (n ≥ 1) without jitter.
func (b backoff) ceiling(n int) time.Duration {
	d := float64(b.Base) * math.Pow(b.Multiplier, float64(n-1))
	if d >= float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		return b.Max
	}
	return time.Duration(d)
}

// delay returns the wait before retry n (n ≥ 1); prev is the previous delay
// (zero before the first retry), used by decorrelated jitter.
func (b backoff) delay(n int, prev time.Duration) time.Duration {
	switch b.Jitter {
	case JitterNone:
		return b.ceiling(n)
	case JitterEqual:
		d := b.ceiling(n)
		return d/2 + randDuration(d-d/2)
	case JitterDecorrelated:
		if prev < b.Base {
			prev = b.Base
		}
		hi := min(prev, b.Max/3) * 3 // 3*prev could overflow
		if hi > b.Max {
			hi = b.Max
		}
		if hi <= b.Base {
			return b.Base
		}
		return b.Base + randDuration(hi-b.Base)
	default:
		return randDuration(b.ceiling(n))
	}
}

// randDuration returns a uniform random duration in [0, d), or 0 for d ≤ 0.
func randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}
