package telemetry

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fusebox-dev/fusebox/resilience"
)

// Forget drops the figures of the named pipeline: it leaves Names,
// Snapshot, Pipeline and the collectors at once, and a later Bind of the
// name starts afresh. Events still delivered to the observer an earlier
// Bind returned for it are counted where nothing reads them. Call it once
// the pipeline is drained (resilience.Pipeline.Retire), so that its last
// calls are counted while it still shows. It reports whether the name was
// known, and ticks the subscribers when it was.
func (a *Aggregator) Forget(name string) bool {
	a.mu.Lock()
	p := a.byName[name]
	if p != nil {
		a.removeLocked(p)
	}
	a.mu.Unlock()
	if p != nil {
		a.notify()
	}
	return p != nil
}

// Members returns a number that changes whenever a pipeline is added or
// forgotten: a view built when it had one value lists the pipelines that
// are there while it keeps it.
func (a *Aggregator) Members() uint64 { return a.members.Load() }

// Prepare returns the observer of a pipeline named name that the
// aggregator does not show yet, for a pipeline built before it is known
// to take the place of another: Install shows it, in place of the
// pipeline of that name it shows, if any. Until then nothing changes:
// a pipeline discarded unbuilt leaves no trace. An empty name is an
// error.
func (a *Aggregator) Prepare(name string) (resilience.Observer, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("telemetry: invalid pipeline name %q: must not be empty", name)
	}
	p := newPipeline(a, name, a.clock.Now())
	p.bound = true
	return p, nil
}

// Install shows o, an observer Prepare returned, in place of the pipeline
// of its name that the aggregator shows, whose figures it forgets (events
// still delivered to that one are counted where nothing reads them). It
// reports false, and changes nothing, when o is not one of Prepare's or
// is shown already. It ticks the subscribers when it installs.
func (a *Aggregator) Install(o resilience.Observer) bool {
	p, ok := o.(*pipeline)
	if !ok || p.agg != a {
		return false
	}
	a.mu.Lock()
	old := a.byName[p.name]
	if old == p {
		a.mu.Unlock()
		return false
	}
	if old != nil {
		a.byName[p.name] = p
		i := slices.Index(a.sorted, old)
		sorted := slices.Clone(a.sorted)
		sorted[i] = p
		a.sorted = sorted
		a.members.Add(1)
	} else {
		a.insertLocked(p)
	}
	a.mu.Unlock()
	a.notify()
	return true
}

// ForgetBinding forgets the figures of a pipeline as Forget does, but only
// while o, the observer Bind or Prepare returned for it, is the one shown
// under its name: a pipeline that has since taken the name keeps its
// figures. It reports whether it forgot them; for an observer that is not
// the aggregator's it reports false.
func (a *Aggregator) ForgetBinding(o resilience.Observer) bool {
	p, ok := o.(*pipeline)
	if !ok || p.agg != a {
		return false
	}
	a.mu.Lock()
	if a.byName[p.name] != p {
		a.mu.Unlock()
		return false
	}
	a.removeLocked(p)
	a.mu.Unlock()
	a.notify()
	return true
}
