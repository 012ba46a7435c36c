package resiliencehttp

import (
	"context"
	"net/http"
	"sync"

	"github.com/fusebox-dev/fusebox/resilience"
)

// hedges reports whether p has a Hedge policy.
func hedges(p *resilience.Pipeline) bool {
	for _, pol := range p.Policies() {
		if _, ok := pol.(*resilience.Hedge); ok {
			return true
		}
	}
	return false
}

// roundTripHedged sends a replayable request through a pipeline that
// hedges (see resilience.Hedge): attempts may run at once, each with its
// own request body from GetBody after the first. The response of the
// attempt that succeeded first is returned; when the call fails, that of
// the attempt that returned last, as RoundTrip does. The other responses
// are discarded.
func (t *Transport) roundTripHedged(req *http.Request) (*http.Response, error) {
	var (
		mu             sync.Mutex
		n              int
		tries          []*roundTrip
		winner, latest *roundTrip
	)
	err := resilience.Run(req.Context(), t.p, func(ctx context.Context) error {
		mu.Lock()
		c := &roundTrip{next: t.transport(), clock: t.p.Clock(), req: req, replayable: true, sent: n}
		n++
		tries = append(tries, c)
		mu.Unlock()
		err := c.attempt(ctx)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && winner == nil {
			winner = c
		}
		latest = c
		return err
	})
	chosen := latest
	if err == nil && winner != nil {
		chosen = winner
	}
	for _, c := range tries {
		if c != chosen {
			c.discard()
		}
	}
	if chosen == nil {
		closeRequestBody(req)
		return nil, err
	}
	return chosen.result(err)
}
