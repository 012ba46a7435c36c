package resilience

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestBackoffDelaysStayWithinTheirJitterBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := BackoffConfig{
			Base:       time.Duration(rapid.Int64Range(1, int64(time.Second)).Draw(t, "base")),
			Multiplier: rapid.Float64Range(1, 10).Draw(t, "multiplier"),
			Jitter:     Jitter(rapid.IntRange(0, int(numJitters)-1).Draw(t, "jitter")),
		}
		cfg.Max = cfg.Base + time.Duration(rapid.Int64Range(0, int64(time.Minute)).Draw(t, "extra"))
		b, err := newBackoff(cfg, "Backoff")
		if err != nil {
			t.Fatalf("newBackoff(%+v): %v", cfg, err)
		}
		var prev time.Duration
		for n := 1; n <= 40; n++ {
			ceil := b.ceiling(n)
			if ceil > cfg.Max || ceil < min(cfg.Base, cfg.Max) {
				t.Fatalf("ceiling(%d) = %v outside [%v, %v]", n, ceil, cfg.Base, cfg.Max)
			}
			d := b.delay(n, prev)
			lo, hi := time.Duration(0), ceil // inclusive bounds
			switch cfg.Jitter {
			case JitterNone:
				lo = ceil
			case JitterEqual:
				lo = ceil / 2
			case JitterDecorrelated:
				lo, hi = cfg.Base, max(cfg.Base, min(3*max(prev, cfg.Base), cfg.Max))
			}
			if d < lo || d > hi {
				t.Fatalf("%s jitter: delay(%d, prev %v) = %v outside [%v, %v]", cfg.Jitter, n, prev, d, lo, hi)
			}
			prev = d
		}
	})
}

func TestBackoffGrowsExponentiallyUpToItsCap(t *testing.T) {
	b, err := newBackoff(BackoffConfig{Base: 100 * time.Millisecond, Multiplier: 2, Max: time.Second, Jitter: JitterNone}, "Backoff")
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.delay(i+1, 0); got != w*time.Millisecond {
			t.Errorf("delay(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
}
