package resilience

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

var (
	// ErrUnknownPipeline is returned for a pipeline name a Registry does not hold.
	ErrUnknownPipeline = errors.New("resilience: unknown pipeline")
	// ErrNoBreaker is returned when overriding a pipeline that has no breaker.
	ErrNoBreaker = errors.New("resilience: pipeline has no circuit breaker")
)

// Registry holds pipelines by name. The zero value is an empty registry
// ready to use; it is safe for concurrent use.
type Registry struct {
	mu        sync.RWMutex
	pipelines map[string]*Pipeline
}

// Add registers p. A name registered already is an error.
func (r *Registry) Add(p *Pipeline) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.pipelines[p.name]; dup {
		return fmt.Errorf("resilience: pipeline %q is registered already", p.name)
	}
	if r.pipelines == nil {
		r.pipelines = make(map[string]*Pipeline)
	}
	r.pipelines[p.name] = p
	return nil
}

// Get returns the pipeline named name, or an error wrapping ErrUnknownPipeline.
func (r *Registry) Get(name string) (*Pipeline, error) {
	r.mu.RLock()
	p, ok := r.pipelines[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownPipeline, name)
	}
	return p, nil
}

// List returns the pipelines sorted by name.
func (r *Registry) List() []*Pipeline {
	r.mu.RLock()
	out := make([]*Pipeline, 0, len(r.pipelines))
	for _, p := range r.pipelines {
		out = append(out, p)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Override forces the breaker of the named pipeline; see Breaker.Override.
func (r *Registry) Override(ctx context.Context, name string, state State, reason string, until time.Time) error {
	b, err := r.breaker(name)
	if err != nil {
		return err
	}
	return b.Override(ctx, state, reason, until)
}

// Auto returns the named pipeline's breaker to automatic control; see Breaker.Auto.
func (r *Registry) Auto(ctx context.Context, name, reason string) error {
	b, err := r.breaker(name)
	if err != nil {
		return err
	}
	return b.Auto(ctx, reason)
}

func (r *Registry) breaker(name string) (*Breaker, error) {
	p, err := r.Get(name)
	if err != nil {
		return nil, err
	}
	b := p.Breaker()
	if b == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoBreaker, name)
	}
	return b, nil
}
