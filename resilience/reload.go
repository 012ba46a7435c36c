package resilience

import "fmt"

// Observers returns the pipeline's observers as it delivers to them: those
// that implement Binder are the observers their Bind returned. A pipeline
// rebuilt from a new configuration takes them, so that its events go on to
// the same per-pipeline state without binding the name twice.
func (p *Pipeline) Observers() []Observer { return append([]Observer(nil), p.observers...) }

// Adopt makes b, a breaker not yet used, carry on from old, the breaker of
// the pipeline that b's pipeline replaces. When the two windows have the
// same shape (the same Window and WindowSize, or WindowDuration), b takes
// old's state as it is, window, open period and override included, and
// Adopt reports true: thresholds, durations and probes take effect from
// the next transition. Otherwise b starts closed with an empty window, and
// keeps only an operator's override; Adopt reports false. Calls still in
// flight through old finish on it: while b is closed on the same window,
// their outcomes are counted in the window b reads.
func (b *Breaker) Adopt(old *Breaker) bool {
	e := old.cur.Load()
	same := b.cfg.Window == old.cfg.Window
	if b.cfg.Window == WindowTime {
		same = same && b.cfg.WindowDuration == old.cfg.WindowDuration
	} else {
		same = same && b.cfg.WindowSize == old.cfg.WindowSize
	}
	if same {
		b.cur.Store(e)
		return true
	}
	if e.state.Forced() {
		b.cur.Store(&epoch{state: e.state, gen: e.gen + 1, since: e.since, ov: e.ov})
	} else {
		b.cur.Store(b.closedEpoch(e.gen+1, b.now()))
	}
	return false
}

// AdoptKillSwitches switches off in p the kinds of policy switched off in
// old, the pipeline p replaces, with their reasons and ends; a kind p does
// not have is left out and returned.
func (p *Pipeline) AdoptKillSwitches(old *Pipeline) (dropped []PolicyKind) {
	switches := old.KillSwitches()
	p.killMu.Lock()
	defer p.killMu.Unlock()
	for _, k := range switches {
		mask := p.kindMask(k.Policy)
		if mask == 0 {
			dropped = append(dropped, k.Policy)
			continue
		}
		p.switchOffLocked(k, mask)
	}
	return dropped
}

// Replace puts p in the place of the pipeline of the same name and returns
// that one, or registers p and returns nil when there is none.
func (r *Registry) Replace(p *Pipeline) *Pipeline {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pipelines == nil {
		r.pipelines = make(map[string]*Pipeline)
	}
	old := r.pipelines[p.name]
	r.pipelines[p.name] = p
	return old
}

// Remove takes the named pipeline out of the registry and returns it. Calls
// in flight through it finish; an unknown name is an error wrapping
// ErrUnknownPipeline.
func (r *Registry) Remove(name string) (*Pipeline, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pipelines[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownPipeline, name)
	}
	delete(r.pipelines, name)
	return p, nil
}
