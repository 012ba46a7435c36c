package demo

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrUnknownScenario is wrapped by StartScenario and StopScenario for a
	// name the demo does not have.
	ErrUnknownScenario = errors.New("demo: unknown scenario")
	// ErrScenarioConflict is wrapped by StartScenario when another
	// scenario runs on the same downstream.
	ErrScenarioConflict = errors.New("demo: another scenario runs on the downstream")
)

// Scenario is a story the demo can play on one of its downstreams: a
// fault that an operator starts and stops, and what to expect meanwhile.
// It is the JSON of GET /api/v1/demo/scenarios.
type Scenario struct {
	// Name identifies the scenario in the API ("payments-outage").
	Name string `json:"name"`
	// Title names it for people ("Payments outage").
	Title string `json:"title"`
	// Does says what the scenario does to the downstream.
	Does string `json:"does"`
	// Expect says in a line what happens on the dashboard and when, as
	// measured on the demo at its default rate (see the README).
	Expect string `json:"expect"`
	// Downstream is the downstream (and pipeline) it acts on.
	Downstream string `json:"downstream"`
	// Running is true from StartScenario to StopScenario; Since is when it
	// started (zero when stopped).
	Running bool      `json:"running"`
	Since   time.Time `json:"since,omitzero"`
}

// scenarioSpec is how a scenario changes its downstream: while it runs,
// the knobs apply(base) hold for on out of every every (all the time when
// every is zero), and the downstream's own knobs the rest of the time.
type scenarioSpec struct {
	Scenario
	apply     func(base Knobs) Knobs
	every, on time.Duration
}

// Chaos is the name of the background chaos scenario: off by default.
const Chaos = "chaos"

// The scenarios, in the order the dashboard lists them. Their Expect lines
// give the times measured on the app with the demo at its default rate (10
// calls a second per pipeline), as the README records.
func scenarioSpecs() []scenarioSpec {
	return []scenarioSpec{
		{
			Scenario: Scenario{
				Name: "payments-outage", Title: "Payments outage", Downstream: Payments,
				Does:   "payments fails every call at once.",
				Expect: "The payments breaker opens within ~5 s and the payments-availability page alert (1h/5m) fires within ~1 min. After you stop it the breaker closes within ~20 s and that alert resolves ~6 min later; run it past ~2 min and the 6h/30m page fires too, which resolves only ~30 min later.",
			},
			apply: func(k Knobs) Knobs { k.Outage = true; return k },
		},
		{
			Scenario: Scenario{
				Name: "shipping-slow", Title: "Shipping slow", Downstream: Shipping,
				Does:   "shipping answers after 1.5 s, past its 1 s per-attempt timeout.",
				Expect: "Every shipping attempt times out and the retry budget caps the retries (shipping has no breaker to open); the shipping-availability page alert (1h/5m) fires after ~2 min and resolves ~5 min after you stop it.",
			},
			apply: func(k Knobs) Knobs { k.LatencyMS, k.JitterMS = 1500, 0; return k },
		},
		{
			Scenario: Scenario{
				Name: "inventory-flapping", Title: "Inventory flapping", Downstream: Inventory,
				Does:   "inventory turns slow (1.5 s, past its 1 s timeout) for 20 s of every 40 s.",
				Expect: "The inventory breaker opens within ~1 min and then cycles open → half-open → closed as inventory flaps; the inventory-latency SLO burns, but with half the time slow it stays under the page thresholds for the first 5 min.",
			},
			apply: func(k Knobs) Knobs { k.LatencyMS, k.JitterMS = 1500, 0; return k },
			every: 40 * time.Second, on: 20 * time.Second,
		},
		{
			Scenario: Scenario{
				Name: Chaos, Title: "Chaos", Downstream: Payments,
				Does:   "payments goes down for 20 s of every 90 s, until you stop it.",
				Expect: "The payments breaker opens within ~5 s of each outage and closes within ~20 s of its end; the payments-availability page alert fires within ~2 min and keeps firing while chaos runs.",
			},
			apply: func(k Knobs) Knobs { k.Outage = true; return k },
			every: 90 * time.Second, on: 20 * time.Second,
		},
	}
}

// fault is a running scenario's hold on its downstream.
type fault struct {
	spec *scenarioSpec
	from time.Time
}

// knobs returns the knobs in force at now under the fault, given the
// downstream's own.
func (f *fault) knobs(base Knobs, now time.Time) Knobs {
	if f.spec.every > 0 && now.Sub(f.from)%f.spec.every >= f.spec.on {
		return base
	}
	return f.spec.apply(base)
}

// Scenarios returns the demo's scenarios and whether each runs.
func (d *Demo) Scenarios() []Scenario {
	out := make([]Scenario, len(d.scenarios))
	for i := range d.scenarios {
		spec := &d.scenarios[i]
		out[i] = spec.Scenario
		ds, _ := d.Downstream(spec.Downstream)
		if f := ds.fault(); f != nil && f.spec == spec {
			out[i].Running, out[i].Since = true, f.from
		}
	}
	return out
}

// StartScenario starts the named scenario. Starting one that runs is a
// no-op; starting one while another runs on the same downstream is an
// error wrapping ErrScenarioConflict, and an unknown name one wrapping
// ErrUnknownScenario.
func (d *Demo) StartScenario(name string) error {
	spec, ds, err := d.scenario(name)
	if err != nil {
		return err
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	switch {
	case ds.active != nil && ds.active.spec == spec:
		return nil
	case ds.active != nil:
		return fmt.Errorf("%w: stop %q before starting %q", ErrScenarioConflict, ds.active.spec.Name, name)
	}
	ds.active = &fault{spec: spec, from: d.clock.Now()}
	return nil
}

// StopScenario stops the named scenario: its downstream is back to its own
// knobs. Stopping one that does not run is a no-op; an unknown name is an
// error wrapping ErrUnknownScenario.
func (d *Demo) StopScenario(name string) error {
	spec, ds, err := d.scenario(name)
	if err != nil {
		return err
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.active != nil && ds.active.spec == spec {
		ds.active = nil
	}
	return nil
}

func (d *Demo) scenario(name string) (*scenarioSpec, *Downstream, error) {
	for i := range d.scenarios {
		if spec := &d.scenarios[i]; spec.Name == name {
			ds, err := d.Downstream(spec.Downstream)
			return spec, ds, err
		}
	}
	return nil, nil, fmt.Errorf("%w %q", ErrUnknownScenario, name)
}
