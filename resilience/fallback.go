package resilience

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DoFallback runs fn through p like Do; when the call fails, fallback is
// asked for a replacement given the error. If fallback returns a nil error,
// its value is the call's result, a KindFallback event is emitted and the
// call counts as a success; otherwise fallback's error is returned (return
// err itself to decline).
func DoFallback[T any](ctx context.Context, p *Pipeline, fn func(context.Context) (T, error), fallback func(ctx context.Context, err error) (T, error)) (T, error) {
	var out T
	err := p.runFallback(ctx, func(ctx context.Context) error {
		v, err := fn(ctx)
		out = v
		return err
	}, func(ctx context.Context, err error) (time.Duration, error) {
		v, ferr := fallback(ctx, err)
		if ferr == nil {
			out = v
		}
		return 0, ferr
	}, ReasonFallbackFunc)
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// fallbackFunc answers for a failed call: nil error means it did, and age
// is how old its answer is (zero when fresh).
type fallbackFunc func(ctx context.Context, err error) (age time.Duration, ferr error)

func (p *Pipeline) runFallback(ctx context.Context, fn func(context.Context) error, fb fallbackFunc, reason Reason) error {
	var c call
	p.begin(&c)
	err := p.next(ctx, &c, 0, fn)
	if err != nil {
		if age, ferr := fb(ctx, err); ferr == nil {
			if p.observed() {
				e := c.event(KindFallback)
				e.Reason = reason
				e.Duration = age
				e.Err = err
				c.emit(ctx, e)
			}
			err = nil
		} else {
			err = ferr
		}
	}
	p.end(ctx, &c, err)
	return err
}

// StaleCacheConfig configures a StaleCache.
type StaleCacheConfig struct {
	// MaxAge is the oldest value the cache may serve. It must be positive.
	MaxAge time.Duration
	// MaxEntries bounds the number of keys kept. Zero means 1024.
	MaxEntries int
}

// StaleCache keeps the last good value per key and serves it, while it is no
// older than MaxAge, when a call fails. It is safe for concurrent use.
type StaleCache[K comparable, V any] struct {
	cfg     StaleCacheConfig
	mu      sync.Mutex
	entries map[K]staleEntry[V]
}

type staleEntry[V any] struct {
	v  V
	at time.Time
}

// NewStaleCache returns an empty cache, or a *ConfigError naming the invalid field.
func NewStaleCache[K comparable, V any](cfg StaleCacheConfig) (*StaleCache[K, V], error) {
	if cfg.MaxAge <= 0 {
		return nil, configErr("StaleCache.MaxAge", cfg.MaxAge, "must be positive")
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = 1024
	}
	if cfg.MaxEntries < 0 {
		return nil, configErr("StaleCache.MaxEntries", cfg.MaxEntries, "must not be negative")
	}
	return &StaleCache[K, V]{cfg: cfg, entries: make(map[K]staleEntry[V])}, nil
}

// Do runs fn through p. A success is remembered under key; a failure is
// answered with the value remembered under key if it is no older than
// MaxAge (a KindFallback event with ReasonFallbackStale and the age as
// Duration), and otherwise returned.
func (s *StaleCache[K, V]) Do(ctx context.Context, p *Pipeline, key K, fn func(context.Context) (V, error)) (V, error) {
	var out V
	err := p.runFallback(ctx, func(ctx context.Context) error {
		v, err := fn(ctx)
		if err == nil {
			s.put(key, v, p.clock.Now())
		}
		out = v
		return err
	}, func(ctx context.Context, err error) (time.Duration, error) {
		v, age, ok := s.get(key, p.clock.Now())
		if !ok {
			return 0, err
		}
		out = v
		return age, nil
	}, ReasonFallbackStale)
	if err != nil {
		var zero V
		return zero, err
	}
	return out, nil
}

func (s *StaleCache[K, V]) put(key K, v V, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[key]; !ok && len(s.entries) >= s.cfg.MaxEntries {
		for k := range s.entries { // evict one arbitrary key
			delete(s.entries, k)
			break
		}
	}
	s.entries[key] = staleEntry[V]{v: v, at: now}
}

func (s *StaleCache[K, V]) get(key K, now time.Time) (v V, age time.Duration, ok bool) {
	s.mu.Lock()
	e, ok := s.entries[key]
	s.mu.Unlock()
	if !ok {
		return v, 0, false
	}
	age = now.Sub(e.at)
	if age > s.cfg.MaxAge {
		return v, age, false
	}
	return e.v, age, true
}

// String describes the cache.
func (s *StaleCache[K, V]) String() string {
	return fmt.Sprintf("stale cache max age %v, %d keys", s.cfg.MaxAge, s.cfg.MaxEntries)
}
