package resilience_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// A pipeline with a Hedge hedges calls made with Do (or Run): the attempt
// that starts first hangs until it is cancelled, a hedge starts after 10 ms
// and answers.
func ExampleHedge() {
	hedge, _ := resilience.NewHedge(resilience.HedgeConfig{Delay: 10 * time.Millisecond})
	p, _ := resilience.New("search", resilience.Config{Policies: []resilience.Policy{hedge}})
	var calls atomic.Int32
	fetch := func(ctx context.Context) (string, error) {
		if calls.Add(1) == 1 {
			<-ctx.Done() // a slow replica; cancelled once the hedge answers
			return "", ctx.Err()
		}
		return "results", nil
	}
	v, err := resilience.Do(context.Background(), p, fetch)
	c := hedge.Counts()
	fmt.Println(v, err, c.Started, c.Canceled)

	// A call that must not run twice at once is not hedged.
	_, err = resilience.Do(resilience.WithoutHedging(context.Background()), p, func(context.Context) (string, error) { return "once", nil })
	fmt.Println(err, hedge.Counts().Started)
	// Output:
	// results <nil> 1 1
	// <nil> 1
}
