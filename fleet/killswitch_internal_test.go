package fleet

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// killModel is what should hold: the instance's own switch as its store
// keeps it, and the fleet's entries in the bucket.
type killModel struct {
	local   *resilience.KillSwitch
	service *Override
	inst    *Override
}

func active(until, now time.Time) bool { return until.IsZero() || now.Before(until) }

// want returns the reason the retry should be off for at now, "" for on.
func (m *killModel) want(now time.Time) string {
	switch {
	case m.inst != nil && m.inst.Active(now):
		return m.inst.Reason
	case m.service != nil && m.service.Active(now):
		return m.service.Reason
	case m.local != nil && active(m.local.Until, now):
		return m.local.Reason
	}
	return ""
}

// The retry of a pipeline runs as the layers say after every pass of the
// agent, whatever the order of the instance's own switches (made as
// cmd/app makes them: refused while the fleet holds the policy), the
// fleet's switches of the service and of the instance, their releases and
// the clock running their ends out.
func TestAKillSwitchRunsAsTheLayersSayAfterEveryPass(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
		retry, err := resilience.NewRetry(resilience.RetryConfig{})
		if err != nil {
			rt.Fatal(err)
		}
		p, err := resilience.New("payments", resilience.Config{Policies: []resilience.Policy{retry}, Clock: clock})
		if err != nil {
			rt.Fatal(err)
		}
		reg := &resilience.Registry{}
		if err := reg.Add(p); err != nil {
			rt.Fatal(err)
		}
		a := &Agent{
			cfg: Config{Service: "shop", Instance: "a", Clock: clock}, reg: reg, log: slog.New(slog.DiscardHandler),
			applied: map[string]Override{}, killed: map[killKey]killApplied{},
		}
		ctx := context.Background()
		var m killModel
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
		current := func() (resilience.KillSwitch, bool) {
			for _, k := range p.KillSwitches() {
				if k.Policy == "retry" {
					return k, true
				}
			}
			return resilience.KillSwitch{}, false
		}
		entries := func() map[string]Override {
			out := map[string]Override{}
			for _, o := range []*Override{m.service, m.inst} {
				if o != nil {
					out[o.Key()] = *o
				}
			}
			return out
		}
		rt.Repeat(map[string]func(*rapid.T){
			"the instance switches retry off": func(rt *rapid.T) {
				if _, held := a.KillSwitch("payments", "retry"); held {
					return // cmd/app refuses it
				}
				n++
				k := resilience.KillSwitch{Policy: "retry", Reason: "local " + strconv.Itoa(n), Actor: "local", Until: until(rt, "local until")}
				if err := p.Disable(resilience.WithActor(ctx, k.Actor), "retry", k.Reason, k.Until); err != nil {
					rt.Fatal(err)
				}
				m.local = &k
			},
			"the instance switches retry on": func(rt *rapid.T) {
				if _, held := a.KillSwitch("payments", "retry"); held {
					return // cmd/app refuses it
				}
				if _, off := current(); !off {
					return // cmd/app writes nothing: its store keeps its switch
				}
				if err := p.Enable("retry"); err != nil {
					rt.Fatal(err)
				}
				m.local = nil
			},
			"the hub switches retry off": func(rt *rapid.T) {
				n++
				rev++
				o := &Override{Service: "shop", Pipeline: "payments", Policy: "retry", Reason: "fleet " + strconv.Itoa(n), Actor: "hub", Until: until(rt, "fleet until"), Revision: rev}
				if rapid.Bool().Draw(rt, "for the instance") {
					o.Instance = "a"
					m.inst = o
				} else {
					m.service = o
				}
			},
			"the hub switches retry on": func(rt *rapid.T) {
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
					return // between passes the pipeline may lag by one
				}
				passed = false
				now := clock.Now()
				k, off := current()
				want := m.want(now)
				got := ""
				if off {
					got = k.Reason
				}
				if got != want {
					rt.Fatalf("after a pass at %v retry is off for %q, want %q (model: local %+v, service %+v, instance %+v)",
						now.Format(time.TimeOnly), got, want, m.local, m.service, m.inst)
				}
				_, _, fleet := a.policyState("payments")
				if isFleet := fleet.Has("retry"); isFleet != (want != "" && (m.inst != nil && m.inst.Active(now) || m.service != nil && m.service.Active(now))) {
					rt.Fatalf("the snapshot says the fleet holds retry: %v, want it for %q", isFleet, want)
				}
			},
		})
	})
}
