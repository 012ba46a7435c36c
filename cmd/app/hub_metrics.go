package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fusebox-dev/fusebox/fleet"
)

// fleetCollectors returns the collectors of a hub's metrics; none when the
// app is not a hub.
func (a *app) fleetCollectors() []prometheus.Collector {
	if a.hubState == nil || a.hubState.hub == nil {
		return nil
	}
	return []prometheus.Collector{fleetCollector{a.hubState.hub}}
}

var (
	fleetInstancesDesc = prometheus.NewDesc("fusebox_fleet_instances",
		"Instances of a service known to the hub, by state: up, stale (no snapshot for 10 s) or gone (none for 60 s).",
		[]string{"service", "state"}, nil)
	fleetBreakersDesc = prometheus.NewDesc("fusebox_fleet_breakers",
		"Breakers of a pipeline over the instances of a service that are not gone, by breaker state.",
		[]string{"service", "pipeline", "state"}, nil)
	fleetOverridesAppliedDesc = prometheus.NewDesc("fusebox_fleet_overrides_applied",
		"Breakers of a service's pipeline whose instance reports applying a fleet override.",
		[]string{"service", "pipeline"}, nil)
	fleetPoliciesOffDesc = prometheus.NewDesc("fusebox_fleet_policies_off",
		"Instances of a service (not gone) that run a kind of policy of a pipeline switched off, by whose kill switch: fleet (from the hub) or instance (its own).",
		[]string{"service", "pipeline", "policy", "by"}, nil)
	fleetLagDesc = prometheus.NewDesc("fusebox_fleet_snapshot_lag_seconds",
		"Time from an instance taking its latest snapshot to the hub taking it in (includes clock skew between them).",
		nil, nil)
	fleetSnapshotsDesc = prometheus.NewDesc("fusebox_fleet_snapshots_total",
		"Snapshots the hub took in.", nil, nil)
	fleetDroppedDesc = prometheus.NewDesc("fusebox_fleet_snapshots_dropped_total",
		"Messages on the snapshot subjects the hub dropped, by reason: malformed, version, oversized or mismatch.",
		[]string{"reason"}, nil)
)

// fleetCollector reads the hub's state at scrape time.
type fleetCollector struct{ hub *fleet.Hub }

func (c fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{fleetInstancesDesc, fleetBreakersDesc, fleetOverridesAppliedDesc, fleetPoliciesOffDesc, fleetLagDesc, fleetSnapshotsDesc, fleetDroppedDesc} {
		ch <- d
	}
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.hub.Fleet().Services {
		for st, n := range map[fleet.InstanceState]int{fleet.InstanceUp: s.Up, fleet.InstanceStale: s.Stale, fleet.InstanceGone: s.Gone} {
			ch <- prometheus.MustNewConstMetric(fleetInstancesDesc, prometheus.GaugeValue, float64(n), s.Name, st.String())
		}
		for _, p := range s.Pipelines {
			for _, pc := range p.PolicyCounts() {
				ch <- prometheus.MustNewConstMetric(fleetPoliciesOffDesc, prometheus.GaugeValue, float64(pc.FleetOff), s.Name, p.Name, pc.Policy, "fleet")
				ch <- prometheus.MustNewConstMetric(fleetPoliciesOffDesc, prometheus.GaugeValue, float64(pc.Off-pc.FleetOff), s.Name, p.Name, pc.Policy, "instance")
			}
			if !p.HasBreaker {
				continue
			}
			states := map[string]int{}
			applied := 0
			for _, b := range p.Breakers {
				if b.NoBreaker {
					continue
				}
				states[b.State.String()]++
				if b.Override != 0 {
					applied++
				}
			}
			for st, n := range states {
				ch <- prometheus.MustNewConstMetric(fleetBreakersDesc, prometheus.GaugeValue, float64(n), s.Name, p.Name, st)
			}
			ch <- prometheus.MustNewConstMetric(fleetOverridesAppliedDesc, prometheus.GaugeValue, float64(applied), s.Name, p.Name)
		}
	}
	st := c.hub.Stats()
	ch <- prometheus.MustNewConstMetric(fleetLagDesc, prometheus.GaugeValue, st.LastLag.Seconds())
	ch <- prometheus.MustNewConstMetric(fleetSnapshotsDesc, prometheus.CounterValue, float64(st.Received))
	for i, n := range st.Dropped {
		ch <- prometheus.MustNewConstMetric(fleetDroppedDesc, prometheus.CounterValue, float64(n), fleet.DropReason(i))
	}
}
