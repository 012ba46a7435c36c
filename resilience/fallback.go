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
	var c call
	c.hedge.fn = doFn[T](fn)
	err := p.runFallback(ctx, &c, func(ctx context.Context) error {
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
	if v, ok := hedgedValue[T](&c); ok {
		return v, nil
	}
	return out, nil
}

// fallbackFunc answers for a failed call: nil error means it did, and age
// is how old its answer is (zero when fresh).
type fallbackFunc func(ctx context.Context, err error) (age time.Duration, ferr error)

// runFallback runs fn as call c, which the caller zeroed but for its
// hedge, and answers a failure with fb.
func (p *Pipeline) runFallback(ctx context.Context, c *call, fn func(context.Context) error, fb fallbackFunc, reason Reason) error {
	p.begin(c)
	defer p.returned(c) // also when fn or fb panics
	err := p.next(ctx, c, 0, fn)
	if err != nil {
		if age, ferr := fb(ctx, err); ferr == nil {
			c.hedge.won = false // the answer is the fallback's
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
	p.end(ctx, c, err)
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
	var c call
	c.hedge.fn = doFn[V](fn)
	err := p.runFallback(ctx, &c, func(ctx context.Context) error {
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
	if v, ok := hedgedValue[V](&c); ok {
		// A hedged attempt answered, on a goroutine of its own: it is
		// remembered here.
		s.put(key, v, p.clock.Now())
		return v, nil
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

// FallbackConfig configures a Fallback.
type FallbackConfig struct {
	// Func answers for a call that failed inside the policy, given its
	// error. A nil ferr means it did: the failure becomes a success whose
	// result is value (for Do[T], a T, or nil for the zero T; Run ignores
	// it), and a KindFallback event with ReasonFallbackFunc is reported.
	// Otherwise ferr is returned in place of the error (return err itself
	// to decline). It must not be nil; see FallbackValue for a typed one.
	Func func(ctx context.Context, err error) (value any, ferr error)
	// Handles decides which errors Func is asked about. Nil means every
	// error.
	Handles func(error) bool
}

// FallbackValue adapts a typed fallback function to FallbackConfig.Func.
func FallbackValue[T any](fn func(ctx context.Context, err error) (T, error)) func(context.Context, error) (any, error) {
	return func(ctx context.Context, err error) (any, error) {
		v, ferr := fn(ctx, err)
		if ferr != nil {
			return nil, ferr
		}
		return v, nil
	}
}

// Fallback is a policy that replaces the error of what runs inside it with
// an answer of its own. Placed first, it answers for the whole call, after
// retries gave up or the breaker refused; placed inside a Retry, for each
// attempt. It is safe for concurrent use. (DoFallback and StaleCache answer
// for one call without a policy.)
type Fallback struct {
	fn      func(context.Context, error) (any, error)
	handles func(error) bool
	p       *Pipeline
}

// NewFallback returns a fallback policy, or a *ConfigError when Func is nil.
func NewFallback(cfg FallbackConfig) (*Fallback, error) {
	if cfg.Func == nil {
		return nil, configErr("Fallback.Func", nil, "must not be nil")
	}
	return &Fallback{fn: cfg.Func, handles: cfg.Handles}, nil
}

// String describes the fallback.
func (f *Fallback) String() string {
	if f.handles != nil {
		return "fallback on some errors"
	}
	return "fallback"
}

func (f *Fallback) bind(p *Pipeline, index int) error {
	if f.p != nil {
		return configErr(fmt.Sprintf("Pipeline.Policies[%d]", index), f, "already belongs to pipeline "+f.p.name)
	}
	f.p = p
	return nil
}

func (f *Fallback) owner() *Pipeline { return f.p }

func (f *Fallback) execute(ctx context.Context, c *call, i int, fn func(context.Context) error) error {
	err := c.p.next(ctx, c, i+1, fn)
	if err == nil || (f.handles != nil && !f.handles(err)) {
		return err
	}
	v, ferr := f.fn(ctx, err)
	if ferr != nil {
		return ferr
	}
	c.answered, c.answer = true, v
	if c.p.observed() {
		e := c.event(KindFallback)
		e.Reason = ReasonFallbackFunc
		e.Err = err
		c.emit(ctx, e)
	}
	return nil
}

// answerOf returns a Fallback's answer v as a T.
func answerOf[T any](p *Pipeline, v any) (T, error) {
	var zero T
	if v == nil {
		return zero, nil
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("resilience: pipeline %q: the fallback answered a %T where the call returns %T", p.name, v, zero)
	}
	return t, nil
}

// Put remembers v under key as a good value obtained at at, as Do does
// after a success; use it when the call is not made through Do (an HTTP
// response whose body is remembered once it has been read, say).
func (s *StaleCache[K, V]) Put(key K, v V, at time.Time) { s.put(key, v, at) }

// Get returns the value remembered under key and its age at now, with ok
// false when there is none or it is older than MaxAge, as Do's fallback
// reads it.
func (s *StaleCache[K, V]) Get(key K, now time.Time) (v V, age time.Duration, ok bool) {
	return s.get(key, now)
}
