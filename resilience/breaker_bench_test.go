package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// BenchmarkBreaker measures a call through a pipeline holding only a
// breaker: admitted and recorded when closed, rejected when forced open,
// with and without an observer (a no-op one makes the pipeline time calls
// and build events).
func BenchmarkBreaker(b *testing.B) {
	nop := resilience.ObserverFunc(func(context.Context, resilience.Event) {})
	errBench := errors.New("bench")
	cases := []struct {
		name     string
		cfg      resilience.BreakerConfig
		observer bool
		forced   resilience.State
		fail     int // every fail-th call fails; 0 never
	}{
		{name: "state=closed/window=count", cfg: resilience.BreakerConfig{}},
		{name: "state=closed/window=count/observer=nop", cfg: resilience.BreakerConfig{}, observer: true},
		{name: "state=closed/window=count/failures=10%", cfg: resilience.BreakerConfig{FailureRateThreshold: 0.9}, fail: 10},
		{name: "state=closed/window=count/slow", cfg: resilience.BreakerConfig{SlowCallDuration: 1 << 40}},
		{name: "state=closed/window=time", cfg: resilience.BreakerConfig{Window: resilience.WindowTime}},
		{name: "state=forced_open", cfg: resilience.BreakerConfig{}, forced: resilience.StateForcedOpen},
		{name: "state=forced_open/observer=nop", cfg: resilience.BreakerConfig{}, observer: true, forced: resilience.StateForcedOpen},
	}
	for _, tc := range cases {
		br, err := resilience.NewBreaker(tc.cfg)
		if err != nil {
			b.Fatal(err)
		}
		cfg := resilience.Config{Policies: []resilience.Policy{br}}
		if tc.observer {
			cfg.Observers = []resilience.Observer{nop}
		}
		p, err := resilience.New("bench", cfg)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if tc.forced != resilience.StateClosed {
			if err := br.Override(ctx, tc.forced, "bench", time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
		ok := func(context.Context) error { return nil }
		fn := ok
		if tc.fail > 0 {
			n := 0
			fn = func(context.Context) error {
				n++
				if n%tc.fail == 0 {
					return errBench
				}
				return nil
			}
		}
		b.Run(tc.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = resilience.Run(ctx, p, fn)
			}
		})
		if tc.fail > 0 {
			continue // fn counts without a lock
		}
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = resilience.Run(ctx, p, fn)
				}
			})
		})
	}
}

// BenchmarkBreakerBaseline is a pipeline without policies, for reference.
func BenchmarkBreakerBaseline(b *testing.B) {
	p, err := resilience.New("bench", resilience.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = resilience.Run(ctx, p, fn)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = resilience.Run(ctx, p, fn)
			}
		})
	})
}
