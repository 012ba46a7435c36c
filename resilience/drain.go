package resilience

import (
	"sync"

	"github.com/fusebox-dev/fusebox/internal/callid"
)

// retirement is the state of a retired pipeline: drained closes once no
// call is in flight through it.
type retirement struct {
	once    sync.Once
	drained chan struct{}
}

// InFlight returns the number of calls running through the pipeline: those
// whose Run, Do, DoFallback or StaleCache.Do has not returned, and those
// its breaker let through with Allow whose done was not called. It is a
// snapshot, exact when no call begins or returns meanwhile.
func (p *Pipeline) InFlight() int {
	// The returns first, then the beginnings: a call that returns between
	// the two reads is counted as still running, never the other way.
	var done, begun uint64
	for i := range p.returns {
		done += p.returns[i].n.Load()
	}
	for i := range p.ids {
		begun += p.ids[i].n.Load()
	}
	return int(begun - done)
}

// Retire marks the pipeline as taken out of service, as a registry does not
// know it any more (Registry.Remove), and returns a channel that is closed
// once no call is in flight through it: at once when none is, else when the
// last call in flight returns. Calls still running finish on the
// pipeline's policies; a caller that kept the pipeline may still run calls
// through it, and they work as before, but the channel stays closed.
// Retiring a pipeline twice returns the same channel. It is safe for
// concurrent use.
func (p *Pipeline) Retire() <-chan struct{} {
	r := p.retired.Load()
	if r == nil {
		r = &retirement{drained: make(chan struct{})}
		if !p.retired.CompareAndSwap(nil, r) {
			r = p.retired.Load()
		}
	}
	p.checkDrained(r)
	return r.drained
}

// Retired reports whether Retire was called.
func (p *Pipeline) Retired() bool { return p.retired.Load() != nil }

// returned counts the return of call c, and closes the retired pipeline's
// channel when it was the last call in flight.
func (p *Pipeline) returned(c *call) {
	p.returns[callid.Stripe(c.id)].n.Add(1)
	// Either this load sees Retire's store, or Retire's count sees this
	// return: the channel closes whichever comes second.
	if r := p.retired.Load(); r != nil {
		p.checkDrained(r)
	}
}

func (p *Pipeline) checkDrained(r *retirement) {
	if p.InFlight() == 0 {
		r.once.Do(func() { close(r.drained) })
	}
}
