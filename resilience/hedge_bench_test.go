package resilience_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// BenchmarkHedge measures a call through Run and Do: in a pipeline without
// a hedge; with a hedge whose delay never passes (the first attempt
// answers, no hedge starts); and with one whose delay passes at once, so
// that every call starts a hedge that wins while the first attempt waits
// to be cancelled. The function captures nothing, so the figures are the
// pipeline's own, but for fn=literal.
func BenchmarkHedge(b *testing.B) {
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	okDo := func(context.Context) (int, error) { return 1, nil }
	// Of the two attempts of a call, the one that starts first waits to
	// be cancelled and the other answers.
	var n atomic.Int64
	slowFirst := func(ctx context.Context) error {
		if n.Add(1)%2 == 1 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	cases := []struct {
		name  string
		hedge *resilience.HedgeConfig
		run   func(p *resilience.Pipeline) error
	}{
		{name: "hedge=none/entry=run", run: func(p *resilience.Pipeline) error { return resilience.Run(ctx, p, ok) }},
		{name: "hedge=none/entry=do", run: func(p *resilience.Pipeline) error { _, err := resilience.Do(ctx, p, okDo); return err }},
		{name: "hedge=none/entry=do/fn=literal", run: func(p *resilience.Pipeline) error {
			// A function literal made for each call, capturing a variable:
			// it escapes, as a hedge may run it on another goroutine.
			v := int(n.Load())
			_, err := resilience.Do(ctx, p, func(context.Context) (int, error) { return v, nil })
			return err
		}},
		{name: "hedge=idle/entry=run", hedge: &resilience.HedgeConfig{Delay: time.Hour},
			run: func(p *resilience.Pipeline) error { return resilience.Run(ctx, p, ok) }},
		{name: "hedge=idle/entry=do", hedge: &resilience.HedgeConfig{Delay: time.Hour},
			run: func(p *resilience.Pipeline) error { _, err := resilience.Do(ctx, p, okDo); return err }},
		{name: "hedge=started/entry=run", hedge: &resilience.HedgeConfig{Delay: time.Nanosecond, Budget: resilience.BudgetConfig{Disabled: true}},
			run: func(p *resilience.Pipeline) error { return resilience.Run(ctx, p, slowFirst) }},
	}
	for _, tc := range cases {
		var policies []resilience.Policy
		if tc.hedge != nil {
			h, err := resilience.NewHedge(*tc.hedge)
			if err != nil {
				b.Fatal(err)
			}
			policies = append(policies, h)
		}
		p, err := resilience.New("bench", resilience.Config{Policies: policies})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.run(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
