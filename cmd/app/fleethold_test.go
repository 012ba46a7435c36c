package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/store"
	"github.com/fusebox-dev/fusebox/ui"
)

// eagerFleet stands for a fleet agent that has a decision to apply and
// puts it in force at the first moment it may: at once after the app asks
// whether the target is held (Holds), or, when the app keeps it from
// applying (Exclude), at once after done. Either way it puts its decision
// in force after the app's check, as a real agent whose pass falls there
// would.
type eagerFleet struct {
	mu    sync.Mutex
	held  map[[2]string]fleet.Override
	apply func(pipeline, policy string) fleet.Override // puts the decision in force
}

func (f *eagerFleet) Holds(pipeline, policy string) (fleet.Override, bool) {
	o, held := f.lookup(pipeline, policy)
	if !held {
		f.arrive(pipeline, policy)
	}
	return o, held
}

func (f *eagerFleet) Exclude(pipeline, policy string) (fleet.Override, bool, func()) {
	o, held := f.lookup(pipeline, policy)
	return o, held, func() {
		if !held {
			f.arrive(pipeline, policy)
		}
	}
}

func (f *eagerFleet) lookup(pipeline, policy string) (fleet.Override, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, held := f.held[[2]string{pipeline, policy}]
	return o, held
}

func (f *eagerFleet) arrive(pipeline, policy string) {
	o := f.apply(pipeline, policy)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held[[2]string{pipeline, policy}] = o
}

// TestAFleetDecisionArrivingDuringALocalChangeWins lets the fleet put its
// decision in force right after the app checked that the fleet holds
// nothing: the local override and kill switch must not replace it.
func TestAFleetDecisionArrivingDuringALocalChangeWins(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := resiliencetest.NewClock(time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC))
	br, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("payments", resilience.Config{Policies: []resilience.Policy{retry, br}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	reg := &resilience.Registry{}
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := &eagerFleet{held: map[[2]string]fleet.Override{}, apply: func(pipeline, policy string) fleet.Override {
		o := fleet.Override{Pipeline: pipeline, Policy: policy, Reason: "fleet failover", Actor: "fleet-ops"}
		var err error
		if policy == "" {
			o.State = resilience.StateForcedOpen
			err = br.Override(resilience.WithActor(ctx, o.Actor), o.State, o.Reason, time.Time{})
		} else {
			var kind resilience.PolicyKind
			if kind, err = resilience.ParsePolicyKind(policy); err == nil {
				err = p.Disable(resilience.WithActor(ctx, o.Actor), kind, o.Reason, time.Time{})
			}
		}
		if err != nil {
			t.Errorf("the fleet's decision on %q %q: %v", pipeline, policy, err)
		}
		return o
	}}
	log := slog.New(slog.DiscardHandler)
	o := &overrides{reg: reg, store: st, clock: clk, log: log, fleetHold: fleetHold{f}}
	k := &killSwitches{reg: reg, store: st, clock: clk, log: log, fleetHold: fleetHold{f}}

	_ = o.apply(ctx, "payments", "forced_closed", "local test", "ops", 0)
	if got := br.State(); got != resilience.StateForcedOpen {
		t.Errorf("breaker = %s after a local forced_closed raced the fleet's forced_open, want the fleet's forced_open", got)
	}
	_ = k.Switch(ctx, ui.KillSwitchRequest{Pipeline: "payments", Policy: resilience.PolicyRetry, Enabled: true, Reason: "local test", Actor: "ops"})
	var off []string
	for _, ks := range p.KillSwitches() {
		off = append(off, ks.Policy.String()+" by "+ks.Actor)
	}
	if len(off) != 1 || off[0] != "retry by fleet-ops" {
		t.Errorf("kill switches %v after a local switch-on raced the fleet's switch-off, want the fleet's retry off", off)
	}
	// Held now: the app refuses, with the conflict.
	err = o.apply(ctx, "payments", "auto", "local test", "ops", 0)
	if e := new(ui.Error); !errors.As(err, &e) || e.Code != ui.ECONFLICT {
		t.Errorf("a local change of a breaker the fleet holds: %v, want a conflict", err)
	}
}
