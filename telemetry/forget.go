package telemetry

import "slices"

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
		delete(a.byName, name)
		i := slices.Index(a.sorted, p)
		// A new slice: readers of list() keep the one they have.
		a.sorted = slices.Delete(slices.Clone(a.sorted), i, i+1)
		a.members.Add(1)
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
