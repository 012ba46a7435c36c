package promexport

import (
	"testing"
	"time"

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
