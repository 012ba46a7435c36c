package fleet

import (
	"context"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// targetKey names what a fleet override decides on an instance: the breaker
// of a pipeline (policy "") or a kind of policy of it (policy "retry", …).
type targetKey struct{ pipeline, policy string }

// kind names the target in logs.
func (k targetKey) kind() string {
	if k.policy == "" {
		return "breaker override"
	}
	return "kill switch"
}

// decision is what holds in a target: a breaker forced into state, or (state
// zero) a kind of policy switched off.
type decision struct {
	state         resilience.State
	reason, actor string
	// since is when it was put in force; until when it ends by itself
	// (zero: never).
	since, until time.Time
}

// same reports whether d and e are the same decision.
func (d decision) same(e decision) bool {
	return d.state == e.state && d.reason == e.reason && d.actor == e.actor && d.since.Equal(e.since) && d.until.Equal(e.until)
}

// activeAt reports whether d still holds at now.
func (d decision) activeAt(now time.Time) bool { return d.until.IsZero() || now.Before(d.until) }

// target is one thing fleet overrides decide on an instance.
type target interface {
	// current returns the decision in force, if any.
	current() (decision, bool)
	// put puts d in force (its since is now's).
	put(ctx context.Context, d decision) error
	// lift ends the decision in force: the breaker decides again, the
	// policy is on.
	lift(ctx context.Context) error
}

// breakerTarget is a pipeline's breaker: a decision is a forced state.
type breakerTarget struct{ b *resilience.Breaker }

func (s breakerTarget) current() (decision, bool) {
	ov := s.b.Metrics().Override
	if ov == nil {
		return decision{}, false
	}
	return decision{state: ov.State, reason: ov.Reason, actor: ov.Actor, since: ov.Since, until: ov.Until}, true
}

func (s breakerTarget) put(ctx context.Context, d decision) error {
	return s.b.Override(resilience.WithActor(ctx, d.actor), d.state, d.reason, d.until)
}

func (s breakerTarget) lift(ctx context.Context) error {
	return s.b.Auto(resilience.WithActor(ctx, "fleet"), "fleet override released")
}

// policyTarget is a kind of policy of a pipeline: a decision switches it off.
type policyTarget struct {
	p      *resilience.Pipeline
	policy resilience.PolicyKind
}

func (s policyTarget) current() (decision, bool) {
	for _, k := range s.p.KillSwitches() {
		if k.Policy == s.policy {
			return switchDecision(k), true
		}
	}
	return decision{}, false
}

func (s policyTarget) put(ctx context.Context, d decision) error {
	return s.p.Disable(resilience.WithActor(ctx, d.actor), s.policy, d.reason, d.until)
}

func (s policyTarget) lift(context.Context) error { return s.p.Enable(s.policy) }

func switchDecision(k resilience.KillSwitch) decision {
	return decision{reason: k.Reason, actor: k.Actor, since: k.Since, until: k.Until}
}

// held is a fleet override an agent applied: the bucket's entry, the
// decision it put in force, and the instance's own one it displaced, to put
// back when the fleet's ends.
type held struct {
	o         Override
	put       decision
	displaced *decision
}

// applyPipeline brings the breaker and the kinds of policy of p in line
// with want, the fleet overrides in force for this instance; a.mu is held.
func (a *Agent) applyPipeline(ctx context.Context, p *resilience.Pipeline, want map[targetKey]Override, now time.Time) {
	if b := p.Breaker(); b != nil {
		k := targetKey{p.Name(), ""}
		o, wanted := want[k]
		a.layer(ctx, k, breakerTarget{b}, o, wanted, now)
	}
	for _, policy := range policiesOf(p).kinds() {
		k := targetKey{p.Name(), policy.String()}
		o, wanted := want[k]
		a.layer(ctx, k, policyTarget{p, policy}, o, wanted, now)
	}
}

// layer brings the target s named key in line with the fleet's override o
// (none unless wanted); a.mu is held. The fleet's wins over the
// instance's own while it lasts: the agent puts it in force (again, should
// something have replaced it), and when it ends (released, or run out:
// then at the agent's next pass, within an interval) puts back the
// instance's own decision it displaced, if that one has not ended too,
// else lifts it.
func (a *Agent) layer(ctx context.Context, key targetKey, s target, o Override, wanted bool, now time.Time) {
	st, had := a.held[key]
	cur, set := s.current()
	ours := had && set && cur.same(st.put)
	switch {
	case wanted && ours && st.o.Revision == o.Revision:
		// in force
	case wanted:
		displaced := st.displaced
		if set && !ours {
			displaced = &cur
		}
		if err := s.put(ctx, decision{state: o.State, reason: o.Reason, actor: o.Actor, until: o.Until}); err != nil {
			a.log.Warn("fleet: "+key.kind()+" not applied", "pipeline", key.pipeline, "policy", key.policy, "err", err)
			return
		}
		put, _ := s.current()
		a.held[key] = held{o: o, put: put, displaced: displaced}
		a.appliedN.Add(1)
		a.log.Info("fleet: "+key.kind()+" applied", "pipeline", key.pipeline, "policy", key.policy, "state", o.State, "actor", o.Actor, "until", o.Until, "scope", scope(o))
	case had:
		delete(a.held, key)
		// The breaker or pipeline itself ends the fleet's at its end.
		ended := !set && !st.put.until.IsZero() && !now.Before(st.put.until)
		if !ours && !ended {
			return // something replaced it or lifted it: leave that be
		}
		d := st.displaced
		back := d != nil && d.activeAt(now)
		var err error
		switch {
		case back:
			err = s.put(ctx, *d)
		case ours:
			err = s.lift(ctx)
		}
		if err != nil {
			a.log.Warn("fleet: "+key.kind()+" not released", "pipeline", key.pipeline, "policy", key.policy, "err", err)
			return
		}
		a.appliedN.Add(1)
		a.log.Info("fleet: "+key.kind()+" released", "pipeline", key.pipeline, "policy", key.policy, "ended", ended, "instance_own_back", back)
	}
}

// Holds returns the fleet override this instance applies to the named
// pipeline's breaker (policy "") or kind of policy ("retry", …), if any:
// while it holds, the instance's own override of that breaker or switch of
// that policy must not change (cmd/app refuses to, checking and changing
// in one step through Exclude). One that ran out is
// returned until the agent's next pass puts back what it displaced, so
// that nothing changes under it meanwhile.
func (a *Agent) Holds(pipeline, policy string) (Override, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.held[targetKey{pipeline, policy}]
	return st.o, ok
}

// Exclude returns the fleet override this instance applies to the named
// pipeline's breaker (policy "") or kind of policy, if any, as Holds does,
// and keeps the agent from applying or releasing any fleet override until
// done is called. A caller that finds the target not held can change it
// in between, knowing that no fleet decision comes into force under it: one
// that arrives meanwhile is applied once done is called, over the caller's
// change, which it displaces and puts back when it ends. The caller must
// call done, soon, and no other method of the agent before it.
func (a *Agent) Exclude(pipeline, policy string) (o Override, held bool, done func()) {
	a.mu.Lock()
	st, ok := a.held[targetKey{pipeline, policy}]
	return st.o, ok, a.mu.Unlock
}
