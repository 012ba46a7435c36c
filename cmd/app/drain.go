package main

import (
	"fmt"
	"strings"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/store"
	"github.com/fusebox-dev/fusebox/ui"
)

// drain retires old, a pipeline a reload removed, and once its calls in
// flight have returned takes it off the dashboard, the API and /metrics
// (unless a later reload brought its name back meanwhile). It returns the
// detail of the removal's audit entry. r.mu is held.
func (r *reloader) drain(old *resilience.Pipeline, actor string) string {
	name := old.Name()
	inFlight := old.InFlight()
	drained := old.Retire()
	if r.stopped {
		r.a.agg.Forget(name)
		return "removed; the app is stopping"
	}
	r.setDraining(name, old)
	r.drains.Go(func() {
		select {
		case <-drained:
		case <-r.stop:
			return
		}
		if settled := r.drained(name, old, actor); settled != nil {
			settled <- old
		}
	})
	switch inFlight {
	case 0:
		return "removed; no call was in flight: it leaves the dashboard, the API and /metrics"
	case 1:
		return "removed; the call in flight finishes on its policies, then it leaves the dashboard, the API and /metrics"
	default:
		return fmt.Sprintf("removed; the %d calls in flight finish on its policies, then it leaves the dashboard, the API and /metrics", inFlight)
	}
}

// drained takes old, drained, off the dashboard, the API and /metrics,
// and audits it, unless the name has been brought back since. It returns
// the channel to tell that old has settled on, if a test set one.
func (r *reloader) drained(name string, old *resilience.Pipeline, actor string) chan<- *resilience.Pipeline {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.clearDraining(name, old) {
		// A reload brought the name back since: the new pipeline shows
		// (and may itself be draining), not this one.
		return r.settled
	}
	for _, o := range old.Observers() {
		r.a.agg.ForgetBinding(o)
	}
	e := store.AuditEntry{At: r.a.opts.Clock.Now(), Actor: actor, Action: "config.pipeline_drained", Pipeline: name,
		Reason: "its calls in flight returned: it leaves the dashboard, the API and /metrics"}
	e.Detail = e.Reason
	if _, err := r.a.store.AppendAudit(e); err != nil {
		r.a.log.Error("auditing a drained pipeline", "err", err)
	}
	r.a.log.Info("removed pipeline drained", "pipeline", name)
	return r.settled
}

// stopDrains stops waiting for removed pipelines to drain, and waits for
// the waits to end.
func (r *reloader) stopDrains() {
	r.mu.Lock()
	if !r.stopped {
		r.stopped = true
		close(r.stop)
	}
	r.mu.Unlock()
	r.drains.Wait()
}

// reloadSummary is the detail of a reload's audit entry: the pipelines it
// added, changed (saying whether each kept its breaker's state) and
// removed, and how many it left as they were.
func reloadSummary(rep ui.ReloadReport) string {
	reset := map[string]bool{}
	for _, n := range rep.Reset {
		reset[n] = true
	}
	var kept, fresh []string
	for _, n := range rep.Changed {
		if reset[n] {
			fresh = append(fresh, n)
		} else {
			kept = append(kept, n)
		}
	}
	var parts []string
	list := func(what string, names []string) {
		if len(names) > 0 {
			parts = append(parts, what+": "+strings.Join(names, ", "))
		}
	}
	list("added", rep.Added)
	list("changed, state kept", kept)
	list("changed, breaker reset", fresh)
	list("removed (draining)", rep.Removed)
	parts = append(parts, fmt.Sprintf("%d unchanged", len(rep.Unchanged)))
	parts = append(parts, rep.Notes...)
	return strings.Join(parts, "; ")
}

// setDraining records p as the removed pipeline of that name that still
// shows, or forgets the name when p is nil.
func (r *reloader) setDraining(name string, p *resilience.Pipeline) {
	r.drainMu.Lock()
	defer r.drainMu.Unlock()
	if p == nil {
		delete(r.draining, name)
	} else {
		r.draining[name] = p
	}
}

// clearDraining forgets the name if p is the removed pipeline of that
// name that still shows, and reports whether it was.
func (r *reloader) clearDraining(name string, p *resilience.Pipeline) bool {
	r.drainMu.Lock()
	defer r.drainMu.Unlock()
	if r.draining[name] != p {
		return false
	}
	delete(r.draining, name)
	return true
}

// Draining reports whether a reload removed the named pipeline and it
// still shows, waiting for its calls in flight, and how many are.
func (r *reloader) Draining(name string) (inFlight int, ok bool) {
	r.drainMu.Lock()
	p := r.draining[name]
	r.drainMu.Unlock()
	if p == nil {
		return 0, false
	}
	return p.InFlight(), true
}
