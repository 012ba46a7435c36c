package ui

import (
	"sync"
	"sync/atomic"
	"time"
)

// memo holds a rendered body for a short time, so that a burst of requests
// renders it once. Its value is rebuilt when ttl has passed on the server's
// clock or when the server's generation moved on (an override or a knob
// changed). Builders run under the lock: concurrent misses wait for one
// build instead of each rendering.
type memo struct {
	mu  sync.Mutex
	at  time.Time
	gen uint64
	val []byte
	ok  bool
}

func (m *memo) get(now time.Time, ttl time.Duration, gen uint64, build func() ([]byte, error)) ([]byte, error) {
	if ttl <= 0 {
		return build()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ok && m.gen == gen && now.Sub(m.at) < ttl && !now.Before(m.at) {
		return m.val, nil
	}
	v, err := build()
	if err != nil {
		return nil, err
	}
	m.at, m.gen, m.val, m.ok = now, gen, v, true
	return v, nil
}

// generation counts the changes the server made itself; a memo built
// before one is stale.
type generation struct{ n atomic.Uint64 }

func (g *generation) bump()       { g.n.Add(1) }
func (g *generation) get() uint64 { return g.n.Load() }
