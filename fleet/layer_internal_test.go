package fleet

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// layerModel is what should hold for one target (the breaker, or the
// retry): the instance's own decision as its store keeps it, and the
// fleet's entries in the bucket.
type layerModel struct {
	local   *decision
	service *Override
	inst    *Override
}

// want returns the reason of the decision that should be in force at now,
// "" for none, and whether it is the fleet's.
func (m *layerModel) want(now time.Time) (reason string, fleet bool) {
	switch {
	case m.inst != nil && m.inst.Active(now):
		return m.inst.Reason, true
	case m.service != nil && m.service.Active(now):
		return m.service.Reason, true
	case m.local != nil && m.local.activeAt(now):
		return m.local.reason, false
	}
	return "", false
}

// The breaker and the retry of a pipeline run as the layers say after
// every pass of the agent, whatever the order of the instance's own
// overrides and switches (made as cmd/app makes them: refused while the
// fleet holds the breaker or the policy), the fleet's of the service and of
// the instance, their releases and the clock running their ends out.
func TestFleetOverridesRunAsTheLayersSayAfterEveryPass(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
		retry, errRetry := resilience.NewRetry(resilience.RetryConfig{})
		breaker, errBreaker := resilience.NewBreaker(resilience.BreakerConfig{})
		if err := errors.Join(errRetry, errBreaker); err != nil {
			rt.Fatal(err)
		}
		p, err := resilience.New("payments", resilience.Config{Policies: []resilience.Policy{retry, breaker}, Clock: clock})
		if err != nil {
			rt.Fatal(err)
		}
		reg := &resilience.Registry{}
		if err := reg.Add(p); err != nil {
			rt.Fatal(err)
		}
		a := &Agent{
			cfg: Config{Service: "shop", Instance: "a", Clock: clock}, reg: reg, log: slog.New(slog.DiscardHandler),
			held: map[targetKey]held{},
		}
		ctx := context.Background()
		targets := map[string]target{"": breakerTarget{breaker}, "retry": policyTarget{p, resilience.PolicyRetry}}
		models := map[string]*layerModel{"": {}, "retry": {}}
		names := []string{"", "retry"}
		var rev uint64
		n := 0
		passed := false
		ends := rapid.SampledFrom([]time.Duration{0, time.Minute, 10 * time.Minute, time.Hour})
		until := func(rt *rapid.T, label string) time.Time {
			if d := ends.Draw(rt, label); d > 0 {
				return clock.Now().Add(d)
			}
			return time.Time{}
		}
		// state draws a breaker's forced state; a kill switch has none.
		state := func(rt *rapid.T, policy string) resilience.State {
			if policy != "" {
				return 0
			}
			return rapid.SampledFrom([]resilience.State{resilience.StateForcedOpen, resilience.StateForcedClosed}).Draw(rt, "state")
		}
		entries := func() map[string]Override {
			out := map[string]Override{}
			for _, m := range models {
				for _, o := range []*Override{m.service, m.inst} {
					if o != nil {
						out[o.Key()] = *o
					}
				}
			}
			return out
		}
		rt.Repeat(map[string]func(*rapid.T){
			"the instance decides": func(rt *rapid.T) {
				policy := rapid.SampledFrom(names).Draw(rt, "target")
				if _, held := a.Holds("payments", policy); held {
					return // cmd/app refuses it
				}
				n++
				st := state(rt, policy)
				d := decision{state: st, reason: "local " + strconv.Itoa(n) + " " + st.String(), actor: "local", until: until(rt, "local until")}
				if err := targets[policy].put(ctx, d); err != nil {
					rt.Fatal(err)
				}
				models[policy].local = &d
			},
			"the instance lifts its own": func(rt *rapid.T) {
				policy := rapid.SampledFrom(names).Draw(rt, "target")
				if _, held := a.Holds("payments", policy); held {
					return // cmd/app refuses it
				}
				if _, set := targets[policy].current(); !set {
					return // cmd/app writes nothing: its store keeps its own
				}
				if err := targets[policy].lift(ctx); err != nil {
					rt.Fatal(err)
				}
				models[policy].local = nil
			},
			"the hub decides": func(rt *rapid.T) {
				policy := rapid.SampledFrom(names).Draw(rt, "target")
				n++
				rev++
				st := state(rt, policy)
				o := &Override{Service: "shop", Pipeline: "payments", Policy: policy, State: st, Reason: "fleet " + strconv.Itoa(n) + " " + st.String(),
					Actor: "hub", Until: until(rt, "fleet until"), Revision: rev}
				if rapid.Bool().Draw(rt, "for the instance") {
					o.Instance = "a"
					models[policy].inst = o
				} else {
					models[policy].service = o
				}
			},
			"the hub releases": func(rt *rapid.T) {
				m := models[rapid.SampledFrom(names).Draw(rt, "target")]
				if rapid.Bool().Draw(rt, "for the instance") {
					m.inst = nil
				} else {
					m.service = nil
				}
			},
			"time passes": func(rt *rapid.T) {
				clock.Advance(rapid.SampledFrom([]time.Duration{time.Second, time.Minute, 10 * time.Minute, time.Hour}).Draw(rt, "by"))
			},
			"the agent passes": func(rt *rapid.T) {
				a.apply(ctx, entries())
				passed = true
			},
			"": func(rt *rapid.T) {
				if !passed {
					return // between passes a target may lag by one
				}
				passed = false
				now := clock.Now()
				snap := PipelineDelta{Name: "payments"}
				a.instanceState(&snap)
				fleetOff := snap.FleetOff
				for _, policy := range names {
					want, byFleet := models[policy].want(now)
					got := ""
					if d, set := targets[policy].current(); set {
						got = d.reason
					}
					if got != want {
						rt.Fatalf("after a pass at %v %s is %q, want %q (model: local %+v, service %+v, instance %+v)",
							now.Format(time.TimeOnly), targetKey{"payments", policy}.kind(), got, want,
							models[policy].local, models[policy].service, models[policy].inst)
					}
					if _, held := a.Holds("payments", policy); held != byFleet {
						rt.Fatalf("the agent says the fleet holds the %s: %v, want %v", targetKey{"payments", policy}.kind(), held, byFleet)
					}
					if policy != "" && fleetOff.Has(policy) != byFleet {
						rt.Fatalf("the snapshot says the fleet holds %s: %v, want %v", policy, fleetOff.Has(policy), byFleet)
					}
				}
				if o, held := a.Overrides()["payments"]; held != (snap.Override != 0) || held && o.Reason != models[""].wantReason(now) {
					rt.Fatalf("Overrides() has %+v (%v), the snapshot's revision is %d", o, held, snap.Override)
				}
			},
		})
	})
}

func (m *layerModel) wantReason(now time.Time) string {
	r, _ := m.want(now)
	return r
}
