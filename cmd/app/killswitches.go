package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/store"
	"github.com/fusebox-dev/fusebox/ui"
)

// killSwitches turns kinds of policy of the pipelines off and on, and
// keeps each switch with its audit entry in the store, so that it survives
// a restart. It is safe for concurrent use.
type killSwitches struct {
	reg   *resilience.Registry
	store *store.Store
	clock resilience.Clock
	log   *slog.Logger
	// fleetHold, when the app has joined a fleet, tells of the fleet's
	// kill switches in force here, which win over the app's own.
	fleetHold
	// mu keeps the store and the pipelines in the same order of decisions.
	mu sync.Mutex
}

// Switch applies req: it switches the policy in the pipeline, then stores
// the decision with its audit entry; when the store refuses, the pipeline
// is put back as it was. Switching on a policy that is on writes nothing.
func (k *killSwitches) Switch(ctx context.Context, req ui.KillSwitchRequest) error {
	p, err := k.reg.Get(req.Pipeline)
	if err != nil {
		return err
	}
	// The fleet's check and the switch are one step: the fleet puts
	// nothing in force on this policy in between (lock order: the
	// fleet's, then mu).
	release, err := k.claim(req.Pipeline, req.Policy.String())
	if err != nil {
		return err
	}
	defer release()
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.clock.Now()
	var prev *resilience.KillSwitch
	for _, ks := range p.KillSwitches() {
		if ks.Policy == req.Policy {
			prev = &ks
		}
	}
	entry := store.AuditEntry{At: now, Actor: req.Actor, Pipeline: req.Pipeline, Reason: req.Reason, Detail: "policy " + req.Policy.String()}
	if req.Enabled {
		if err := p.Enable(req.Policy); err != nil {
			return err // no such policy
		}
		if prev == nil {
			return nil // it was on: nothing to store
		}
		entry.Action, entry.From, entry.To = "killswitch.on", req.Policy.String()+" off", req.Policy.String()+" on"
		if _, err := k.store.LiftKillSwitch(req.Pipeline, req.Policy.String(), entry); err != nil {
			k.revert(ctx, p, req.Policy, prev)
			return err
		}
		return nil
	}
	var until time.Time
	if req.Duration > 0 {
		until = now.Add(req.Duration)
	}
	if err := p.Disable(resilience.WithActor(ctx, req.Actor), req.Policy, req.Reason, until); err != nil {
		return err
	}
	entry.Action, entry.From, entry.To, entry.Until = "killswitch.off", req.Policy.String()+" on", req.Policy.String()+" off", until
	if prev != nil {
		entry.From = req.Policy.String() + " off"
	}
	rec := store.KillSwitch{Pipeline: req.Pipeline, Policy: req.Policy.String(), Reason: req.Reason, Actor: req.Actor, At: now, Until: until}
	if _, err := k.store.ApplyKillSwitch(rec, entry); err != nil {
		k.revert(ctx, p, req.Policy, prev)
		return err
	}
	return nil
}

// revert puts a policy back as prev had it (nil: on) after the store
// refused a change already applied.
func (k *killSwitches) revert(ctx context.Context, p *resilience.Pipeline, policy resilience.PolicyKind, prev *resilience.KillSwitch) {
	var err error
	if prev == nil {
		err = p.Enable(policy)
	} else {
		err = p.Disable(resilience.WithActor(ctx, prev.Actor), policy, prev.Reason, prev.Until)
	}
	if err != nil {
		k.log.Error("putting a policy back after the store refused a kill switch", "pipeline", p.Name(), "policy", policy, "err", err)
	}
}

// restore re-applies the stored kill switches at start. One that ran out
// while the app was down is lifted and audited instead; one for a pipeline
// or policy that no longer exists is left in the store and logged.
func (k *killSwitches) restore(ctx context.Context) error {
	list, err := k.store.KillSwitches()
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.clock.Now()
	for _, ks := range list {
		if ks.Expired(now) {
			entry := store.AuditEntry{At: now, Actor: "system", Action: "killswitch.expired", Pipeline: ks.Pipeline,
				From: ks.Policy + " off", To: ks.Policy + " on", Reason: ks.Reason, Until: ks.Until, Detail: "policy " + ks.Policy + "; ran out while the app was down"}
			if _, err := k.store.LiftKillSwitch(ks.Pipeline, ks.Policy, entry); err != nil {
				return err
			}
			continue
		}
		p, err := k.reg.Get(ks.Pipeline)
		var kind resilience.PolicyKind
		if err == nil {
			kind, err = resilience.ParsePolicyKind(ks.Policy)
		}
		if err == nil {
			err = p.Disable(resilience.WithActor(ctx, ks.Actor), kind, ks.Reason, ks.Until)
		}
		if err != nil {
			k.log.Warn("stored kill switch not restored", "pipeline", ks.Pipeline, "policy", ks.Policy, "err", err)
			continue
		}
		k.log.Info("kill switch restored", "pipeline", ks.Pipeline, "policy", ks.Policy, "actor", ks.Actor)
	}
	return nil
}
