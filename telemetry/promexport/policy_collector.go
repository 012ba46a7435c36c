package promexport

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fusebox-dev/fusebox/resilience"
)

// PolicyCollector is a prometheus.Collector of the live state of the
// adaptive policies and kill switches of a registry's pipelines, read from
// the policies at scrape time:
//
//	fusebox_concurrency_limit{pipeline}          the adaptive limit now
//	fusebox_concurrency_inflight{pipeline}       calls holding a place in it
//	fusebox_timeout_effective_seconds{pipeline,scope} the timeout a call gets now
//	fusebox_rate_limiter_tokens{pipeline}        calls that may pass without waiting
//	fusebox_hedges_total{pipeline,result}        hedges started, won, canceled
//	fusebox_policy_enabled{pipeline,policy}      0 while a kill switch holds it off
//
// A pipeline has the series of the policies it has. It is safe for
// concurrent use.
type PolicyCollector struct {
	reg                                            *resilience.Registry
	limit, inflight, timeout, tokens, hedges, kept *prometheus.Desc
}

// NewPolicyCollector returns a collector of reg's pipelines.
func NewPolicyCollector(reg *resilience.Registry) *PolicyCollector {
	return &PolicyCollector{
		reg: reg,
		limit: prometheus.NewDesc("fusebox_concurrency_limit",
			"Current limit of the pipeline's adaptive concurrency limit.", []string{"pipeline"}, nil),
		inflight: prometheus.NewDesc("fusebox_concurrency_inflight",
			"Calls holding a place in the pipeline's adaptive concurrency limit.", []string{"pipeline"}, nil),
		timeout: prometheus.NewDesc("fusebox_timeout_effective_seconds",
			"Timeout a call starting now gets from the pipeline's timeout policy (adaptive or fixed).", []string{"pipeline", "scope"}, nil),
		tokens: prometheus.NewDesc("fusebox_rate_limiter_tokens",
			"Calls the pipeline's rate limiter lets pass now without waiting.", []string{"pipeline"}, nil),
		hedges: prometheus.NewDesc("fusebox_hedges_total",
			"Hedged attempts by result: started, won (answered first), canceled (another won).", []string{"pipeline", "result"}, nil),
		kept: prometheus.NewDesc("fusebox_policy_enabled",
			"1 while the pipeline's policy of this kind runs, 0 while a kill switch holds it off.", []string{"pipeline", "policy"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *PolicyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.limit, c.inflight, c.timeout, c.tokens, c.hedges, c.kept} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PolicyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.reg.List() {
		name := p.Name()
		off := map[resilience.PolicyKind]bool{}
		for _, k := range p.KillSwitches() {
			off[k.Policy] = true
		}
		seen := map[resilience.PolicyKind]bool{}
		for _, pol := range p.Policies() {
			if kind := resilience.KindOf(pol); kind != 0 && !seen[kind] {
				seen[kind] = true
				v := 1.0
				if off[kind] {
					v = 0
				}
				ch <- prometheus.MustNewConstMetric(c.kept, prometheus.GaugeValue, v, name, kind.String())
			}
			switch pol := pol.(type) {
			case *resilience.AdaptiveLimit:
				ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(pol.Limit()), name)
				ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(pol.InFlight()), name)
			case *resilience.Timeout:
				ch <- prometheus.MustNewConstMetric(c.timeout, prometheus.GaugeValue, pol.Effective().Seconds(), name, pol.Scope().String())
			case *resilience.RateLimiter:
				ch <- prometheus.MustNewConstMetric(c.tokens, prometheus.GaugeValue, pol.Tokens(), name)
			case *resilience.Hedge:
				n := pol.Counts()
				ch <- prometheus.MustNewConstMetric(c.hedges, prometheus.CounterValue, float64(n.Started), name, "started")
				ch <- prometheus.MustNewConstMetric(c.hedges, prometheus.CounterValue, float64(n.Won), name, "won")
				ch <- prometheus.MustNewConstMetric(c.hedges, prometheus.CounterValue, float64(n.Canceled), name, "canceled")
			}
		}
	}
}
