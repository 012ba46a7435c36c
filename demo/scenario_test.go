package demo

import (
	"errors"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func TestTheDemoStartsHealthy(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDemo(t, Config{Clock: clock})
	for _, after := range []time.Duration{0, 30 * time.Second, 2 * time.Minute, time.Hour} {
		clock.Set(epoch.Add(after))
		for _, ds := range d.Downstreams() {
			if k := ds.InForce(); k.Outage || k != ds.Knobs() {
				t.Errorf("%v after start, %s has knobs %+v in force, want its own %+v", after, ds.Name(), k, ds.Knobs())
			}
		}
	}
	for _, sc := range d.Scenarios() {
		if sc.Running {
			t.Errorf("scenario %s runs at start", sc.Name)
		}
		if sc.Title == "" || sc.Does == "" || sc.Expect == "" {
			t.Errorf("scenario %s lacks a title, a description or an expectation: %+v", sc.Name, sc)
		}
	}
}

func TestScenariosStartAndStop(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDemo(t, Config{Clock: clock})
	payments, _ := d.Downstream(Payments)
	own := payments.Knobs()

	if err := d.StartScenario("payments-outage"); err != nil {
		t.Fatal(err)
	}
	if k := payments.InForce(); !k.Outage || k.ErrorRate != own.ErrorRate {
		t.Errorf("payments outage: knobs in force %+v, want its own with the outage on", k)
	}
	if payments.Knobs() != own {
		t.Errorf("a scenario changed the downstream's own knobs to %+v", payments.Knobs())
	}
	if st := payments.Status(); st.Scenario != "payments-outage" || !st.InForce.Outage {
		t.Errorf("status %+v", st)
	}
	running := 0
	for _, sc := range d.Scenarios() {
		if sc.Running {
			running++
			if sc.Name != "payments-outage" || !sc.Since.Equal(epoch) {
				t.Errorf("running %+v", sc)
			}
		}
	}
	if running != 1 {
		t.Errorf("%d scenarios run, want 1", running)
	}
	if err := d.StartScenario("payments-outage"); err != nil {
		t.Errorf("starting a running scenario again = %v, want nil", err)
	}
	if err := d.StartScenario(Chaos); !errors.Is(err, ErrScenarioConflict) {
		t.Errorf("chaos while the payments outage runs = %v, want ErrScenarioConflict", err)
	}
	if err := d.StartScenario("nope"); !errors.Is(err, ErrUnknownScenario) {
		t.Errorf("StartScenario(nope) = %v, want ErrUnknownScenario", err)
	}
	if err := d.StopScenario("nope"); !errors.Is(err, ErrUnknownScenario) {
		t.Errorf("StopScenario(nope) = %v, want ErrUnknownScenario", err)
	}
	if err := d.StopScenario(Chaos); err != nil {
		t.Errorf("stopping a scenario that does not run = %v", err)
	}
	if k := payments.InForce(); !k.Outage {
		t.Error("stopping chaos ended the payments outage")
	}
	if err := d.StopScenario("payments-outage"); err != nil {
		t.Fatal(err)
	}
	if k := payments.InForce(); k != own {
		t.Errorf("after the scenario stopped, knobs in force %+v, want %+v", k, own)
	}
}

func TestFlappingAndChaosFollowTheirSchedules(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDemo(t, Config{Clock: clock})
	clock.Advance(7 * time.Second) // schedules count from the start of the scenario
	start := clock.Now()
	for _, name := range []string{"inventory-flapping", Chaos} {
		if err := d.StartScenario(name); err != nil {
			t.Fatal(err)
		}
	}
	inventory, _ := d.Downstream(Inventory)
	payments, _ := d.Downstream(Payments)
	for _, tt := range []struct {
		at             time.Duration
		slow, paysDown bool
	}{
		{0, true, true}, {19 * time.Second, true, true}, {20 * time.Second, false, false},
		{39 * time.Second, false, false}, {40 * time.Second, true, false}, {90 * time.Second, true, true},
		{109 * time.Second, false, true}, {110 * time.Second, false, false},
	} {
		clock.Set(start.Add(tt.at))
		if slow := inventory.InForce().LatencyMS == 1500; slow != tt.slow {
			t.Errorf("%v into the scenario, inventory slow = %v, want %v", tt.at, slow, tt.slow)
		}
		if down := payments.InForce().Outage; down != tt.paysDown {
			t.Errorf("%v into chaos, payments down = %v, want %v", tt.at, down, tt.paysDown)
		}
	}
}

func TestPaymentsOutageOpensTheBreakerWithinSeconds(t *testing.T) {
	clock := newStepClock()
	d := newDemo(t, Config{Clock: clock, Seed: 1})
	breaker := d.Pipelines()[0].Breaker()
	call := caller(d, 0, clock)
	if err := d.StartScenario("payments-outage"); err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	// The load generator calls payments ten times a second.
	for breaker.State() != resilience.StateOpen {
		if clock.Now().Sub(start) > 5*time.Second {
			t.Fatalf("the breaker is %s 5 s into the payments outage, want open", breaker.State())
		}
		next := clock.Now().Add(100 * time.Millisecond)
		_ = call()
		if wait := next.Sub(clock.Now()); wait > 0 {
			clock.Advance(wait)
		}
	}
	t.Logf("the breaker opened %v into the outage", clock.Now().Sub(start))
}
