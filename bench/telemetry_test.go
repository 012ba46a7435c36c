package bench

import (
	"testing"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// fuseboxTelemetry returns a pipeline of breaker ► retry, default settings,
// observed by a telemetry.Aggregator: rolling windows, latency histograms,
// event ring and all.
func fuseboxTelemetry(b *testing.B) *resilience.Pipeline {
	agg, err := telemetry.NewAggregator(telemetry.AggregatorConfig{})
	check(b, err)
	br, err := resilience.NewBreaker(resilience.BreakerConfig{})
	check(b, err)
	r, err := resilience.NewRetry(resilience.RetryConfig{})
	check(b, err)
	return newPipeline(b, resilience.Config{Policies: []resilience.Policy{br, r}, Observers: []resilience.Observer{agg}})
}

// telemetrySuccessImpls sets full telemetry on a fusebox pipeline against
// gobreaker's bare Execute, which records nothing beyond its counts.
var telemetrySuccessImpls = []impl{
	{"fusebox", func(b *testing.B) op { return fuseboxRun(fuseboxTelemetry(b)) }},
	gobreakerSuccess,
}

func BenchmarkTelemetrySuccess(b *testing.B)         { runSerial(b, telemetrySuccessImpls, false) }
func BenchmarkTelemetrySuccessParallel(b *testing.B) { runParallel(b, telemetrySuccessImpls, false) }
