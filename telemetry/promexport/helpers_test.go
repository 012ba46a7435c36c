package promexport

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry"
	"github.com/fusebox-dev/fusebox/telemetry/internal/calltest"
)

var epoch = calltest.Epoch

// newTestAggregator returns an aggregator on a fake clock at epoch, unless
// cfg has a clock of its own.
func newTestAggregator(t testing.TB, cfg telemetry.AggregatorConfig) (*telemetry.Aggregator, *resiliencetest.Clock) {
	t.Helper()
	clock := resiliencetest.NewClock(epoch)
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	a, err := telemetry.NewAggregator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, clock
}

func mustBind(t testing.TB, a *telemetry.Aggregator, name string) resilience.Observer {
	t.Helper()
	return calltest.Bind(t, a, name)
}

func call(o resilience.Observer, id uint64, at time.Time, d time.Duration, outcomes ...resilience.Outcome) {
	calltest.Call(o, id, at, d, outcomes...)
}

// gather returns the collector's metric
// families, sorted and ready for exposition, as a prometheus.Registry with
// only this collector would, without its per-metric checks. The result is
// the caller's. An error names the pipelines left out (see gatherer).
func (c *Collector) gather() ([]*dto.MetricFamily, error) {
	x := &exposition{}
	err := c.build(x)
	return x.out, err
}

// register registers a collector of a's figures on reg, followed by more
// collectors (those of other components exposed on the same /metrics).
// registerGatherer exposes the same metrics at a fraction of the cost of
// a scrape.
func register(reg prometheus.Registerer, a *telemetry.Aggregator, cfg CollectorConfig, more ...prometheus.Collector) (*Collector, error) {
	if reg == nil {
		return nil, fmt.Errorf("promexport: Register: the registerer must not be nil")
	}
	c, err := NewCollector(a, cfg)
	if err != nil {
		return nil, err
	}
	for _, col := range append([]prometheus.Collector{c}, more...) {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("promexport: registering collector: %w", err)
		}
	}
	return c, nil
}
