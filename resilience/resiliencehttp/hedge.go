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

// hedgedTrip is the state of a replayable request sent through a pipeline
// that hedges (see resilience.Hedge): attempts may run at once, so each has
// a roundTrip of its own, with its own request body from GetBody after the
// first. It is safe for concurrent use.
type hedgedTrip struct {
	t   *Transport
	req *http.Request

	mu             sync.Mutex
	tries          []*roundTrip
	winner, latest *roundTrip
}

// attempt is the function the pipeline calls: one request to next.
func (h *hedgedTrip) attempt(ctx context.Context) error {
	h.mu.Lock()
	c := &roundTrip{next: h.t.transport(), clock: h.t.p.Clock(), req: h.req, replayable: true, sent: len(h.tries)}
	h.tries = append(h.tries, c)
	h.mu.Unlock()
	err := c.attempt(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil && h.winner == nil {
		h.winner = c
	}
	h.latest = c
	return err
}

// result turns what the pipeline returned into what RoundTrip returns: the
// response of the attempt that succeeded first, or when the call failed,
// that of the attempt that returned last, as RoundTrip does. The other
// responses are discarded.
func (h *hedgedTrip) result(err error) (*http.Response, error) {
	chosen := h.latest
	if err == nil && h.winner != nil {
		chosen = h.winner
	}
	for _, c := range h.tries {
		if c != chosen {
			c.discard()
		}
	}
	if chosen == nil {
		closeRequestBody(h.req)
		return nil, err
	}
	return chosen.result(err)
}

// discard drains and closes every attempt's response (a fallback answered).
func (h *hedgedTrip) discard() {
	if len(h.tries) == 0 {
		closeRequestBody(h.req)
	}
	for _, c := range h.tries {
		c.discard()
	}
}

// roundTripHedged sends a replayable request through a pipeline that
// hedges.
func (t *Transport) roundTripHedged(req *http.Request) (*http.Response, error) {
	h := &hedgedTrip{t: t, req: req}
	return h.result(resilience.Run(req.Context(), t.p, h.attempt))
}
