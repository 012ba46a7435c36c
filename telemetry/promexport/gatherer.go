package promexport

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fusebox-dev/fusebox/telemetry"
)

// gatherer serves the scrapes of a /metrics endpoint: the metric families
// of a prometheus.Registry (the Go runtime, the process, other components)
// merged with those of an aggregator, which it builds directly, sorted,
// without the registry's per-metric checks, sorting and allocations. The
// metrics are those a Collector registered on the registry would give.
//
// gatherer implements prometheus.TransactionalGatherer, which a Handler
// serves. The families a Gather returns are
// valid until its done function is called; the gatherer then keeps their
// messages (about 8 KiB per pipeline) for the next scrape, so a steady
// scrape allocates little. It is safe for concurrent use: concurrent
// scrapes build apart.
type gatherer struct {
	reg  prometheus.Gatherer
	c    *Collector
	idle atomic.Pointer[exposition] // kept for the next scrape
}

// registerGatherer returns a gatherer of reg's families and of a's
// figures, after registering more collectors on reg (those of other
// components exposed on the same /metrics), or an error naming an invalid
// field of cfg or the collector reg refused.
//
// It registers on reg the descriptors of the aggregator's metrics, but not
// the collector: reg.Gather leaves them out, and another collector of the
// same names is refused. Serve the gatherer, not reg.
func registerGatherer(reg *prometheus.Registry, a *telemetry.Aggregator, cfg CollectorConfig, more ...prometheus.Collector) (*gatherer, error) {
	if reg == nil {
		return nil, fmt.Errorf("promexport: NewHandler: the registry must not be nil")
	}
	c, err := NewCollector(a, cfg)
	if err != nil {
		return nil, err
	}
	for _, col := range append([]prometheus.Collector{descriptors{c}}, more...) {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("promexport: registering collector: %w", err)
		}
	}
	return &gatherer{reg: reg, c: c}, nil
}

// Gather implements prometheus.TransactionalGatherer. It returns the
// families of the registry and the aggregator sorted by name. Call done
// once the families are no longer read. The error, if any, comes from the
// registry (a prometheus.MultiError, with what it gathered nonetheless),
// names pipelines left out of the metrics, or names a family both expose.
func (g *gatherer) Gather() (_ []*dto.MetricFamily, done func(), _ error) {
	x := g.idle.Swap(nil)
	if x == nil {
		x = &exposition{}
		x.done = func() {
			clear(x.merged) // the registry's families
			g.idle.CompareAndSwap(nil, x)
		}
	}
	var errs prometheus.MultiError
	base, err := g.reg.Gather()
	errs.Append(err)
	errs.Append(g.c.build(x))
	x.merged = mergeFamilies(x.merged[:0], base, x.out, &errs)
	return x.merged, x.done, errs.MaybeUnwrap()
}

// mergeFamilies appends to dst the families of a and b, each sorted by
// name, in name order. A name in both keeps a's family and is reported.
func mergeFamilies(dst, a, b []*dto.MetricFamily, errs *prometheus.MultiError) []*dto.MetricFamily {
	for len(a) > 0 && len(b) > 0 {
		na, nb := a[0].GetName(), b[0].GetName()
		switch {
		case na < nb:
			dst, a = append(dst, a[0]), a[1:]
		case na > nb:
			dst, b = append(dst, b[0]), b[1:]
		default:
			errs.Append(fmt.Errorf("promexport: metric family %s is gathered both from the registry and from the aggregator", na))
			dst, a, b = append(dst, a[0]), a[1:], b[1:]
		}
	}
	return append(append(dst, a...), b...)
}

// descriptors describes the metrics of a Collector and collects none: it
// reserves their names on a registry a gatherer serves.
type descriptors struct{ c *Collector }

func (d descriptors) Describe(ch chan<- *prometheus.Desc) { d.c.Describe(ch) }

func (descriptors) Collect(chan<- prometheus.Metric) {}
