package ui

import (
	"sync"
	"time"
)

// Sessions keeps the login sessions that ended before they expired (a
// logout), so that a copy of their cookie is refused. cmd/app keeps them
// in the store (*store.Store), so that they stay ended across restarts.
type Sessions interface {
	// RevokeSession records that the session id, valid until expires,
	// has ended. It may forget sessions whose expiry is before now.
	RevokeSession(id string, expires, now time.Time) error
	// SessionRevoked reports whether the session id has ended.
	SessionRevoked(id string) (bool, error)
}

// memorySessions is the Sessions of a server without Config.Sessions:
// logouts hold until the process ends. It is safe for concurrent use.
type memorySessions struct {
	mu      sync.Mutex
	revoked map[string]time.Time
}

func (m *memorySessions) RevokeSession(id string, expires, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked == nil {
		m.revoked = map[string]time.Time{}
	}
	for k, exp := range m.revoked {
		if !exp.After(now) {
			delete(m.revoked, k)
		}
	}
	m.revoked[id] = expires
	return nil
}

func (m *memorySessions) SessionRevoked(id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.revoked[id]
	return ok, nil
}
