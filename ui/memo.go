package ui

import (
	"sync"
	"sync/atomic"
	"time"
)

// memo holds a rendered body for a short time, so that a burst of requests
// renders it once. Its value is rebuilt when ttl has passed on the server's
// clock or when the server's generation moved on (an override or a knob
// changed). When only the time ran out, one request rebuilds while the
// others keep getting the previous body, so no request waits for a build;
// after a change of generation every request waits for the new body, so an
// operator sees their own change at once.
type memo struct {
	build sync.Mutex // held by the request that builds
	cur   atomic.Pointer[memoEntry]
}

type memoEntry struct {
	at  time.Time
	gen uint64
	val []byte
}

func (e *memoEntry) fresh(now time.Time, ttl time.Duration, gen uint64) bool {
	return e != nil && e.gen == gen && now.Sub(e.at) < ttl && !now.Before(e.at)
}

func (m *memo) get(now time.Time, ttl time.Duration, gen uint64, build func() ([]byte, error)) ([]byte, error) {
	if ttl <= 0 {
		return build()
	}
	e := m.cur.Load()
	if e.fresh(now, ttl, gen) {
		return e.val, nil
	}
	if e != nil && e.gen == gen {
		if !m.build.TryLock() {
			return e.val, nil // aged only, and being rebuilt: serve the previous body
		}
	} else {
		m.build.Lock()
	}
	defer m.build.Unlock()
	if e := m.cur.Load(); e.fresh(now, ttl, gen) {
		return e.val, nil
	}
	v, err := build()
	if err != nil {
		return nil, err
	}
	m.cur.Store(&memoEntry{at: now, gen: gen, val: v})
	return v, nil
}

// generation counts the changes the server made itself; a memo built
// before one is stale.
type generation struct{ n atomic.Uint64 }

func (g *generation) bump()       { g.n.Add(1) }
func (g *generation) get() uint64 { return g.n.Load() }
