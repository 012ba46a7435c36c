package telemetry

import "github.com/fusebox-dev/fusebox/resilience"

// RegistryReader returns a PolicyReader of the pipelines r holds: the
// window of each pipeline's breaker (Breaker.Metrics) and the budget of its
// first retry policy (Retry.Budget). Reading a breaker makes the
// transitions that are due, which it reports as events like any other.
func RegistryReader(r *resilience.Registry) PolicyReader {
	return PolicyReaderFunc(func(name string) (PolicyStats, bool) {
		p, err := r.Get(name)
		if err != nil {
			return PolicyStats{}, false
		}
		var s PolicyStats
		if b := p.Breaker(); b != nil {
			m := b.Metrics()
			s.Breaker = &BreakerLive{State: m.State, Calls: int(m.Calls), FailureRate: m.FailureRate, SlowCallRate: m.SlowCallRate}
		}
		for _, pol := range p.Policies() {
			if rt, ok := pol.(*resilience.Retry); ok {
				if st, ok := rt.Budget(); ok {
					s.Budget = &st
				}
				break
			}
		}
		return s, true
	})
}
