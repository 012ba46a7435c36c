package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// policyBits are the kinds of policy a kill switch turns off, in the order
// of their bits in a PolicySet (the order on the wire: new kinds are added
// at the end).
var policyBits = [...]string{"retry", "timeout", "hedge", "rate_limiter", "adaptive_limit", "bulkhead", "fallback"}

// PolicySet is a set of kinds of policy (resilience.SwitchablePolicies),
// as snapshots carry them: one bit each. Its zero value is empty.
type PolicySet uint64

// PolicyBit returns the set holding only the named kind, or zero for a name
// that is not a kind of policy kill switches turn off.
func PolicyBit(name string) PolicySet {
	for i, n := range policyBits {
		if n == name {
			return 1 << i
		}
	}
	return 0
}

// Has reports whether the set holds the named kind.
func (s PolicySet) Has(name string) bool {
	b := PolicyBit(name)
	return b != 0 && s&b != 0
}

// Names returns the names of the kinds in the set, in the order of
// resilience.SwitchablePolicies; bits this build does not know are left
// out.
func (s PolicySet) Names() []string {
	out := []string{}
	for _, n := range resilience.SwitchablePolicies() {
		if s.Has(n) {
			out = append(out, n)
		}
	}
	return out
}

// MarshalJSON writes the set as a list of names.
func (s PolicySet) MarshalJSON() ([]byte, error) { return json.Marshal(s.Names()) }

// UnmarshalJSON reads a list of names; an unknown name is an error.
func (s *PolicySet) UnmarshalJSON(data []byte) error {
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		return err
	}
	var set PolicySet
	for _, n := range names {
		b := PolicyBit(n)
		if b == 0 {
			return fmt.Errorf("fleet: %q is not a kind of policy kill switches turn off", n)
		}
		set |= b
	}
	*s = set
	return nil
}

// policiesOf returns the kinds of policy of p that kill switches turn off.
func policiesOf(p *resilience.Pipeline) PolicySet {
	var s PolicySet
	for _, pol := range p.Policies() {
		s |= PolicyBit(resilience.PolicyName(pol))
	}
	return s
}

// killKey names a kind of policy of a pipeline.
type killKey struct{ pipeline, policy string }

// killApplied is a fleet kill switch an agent applied: the bucket's entry,
// the switch it put in the pipeline, and the instance's own switch it
// displaced, to put back when the fleet's ends.
type killApplied struct {
	o         Override
	ks        resilience.KillSwitch
	displaced *resilience.KillSwitch
}

// sameSwitch reports whether a and b are the same decision.
func sameSwitch(a, b resilience.KillSwitch) bool {
	return a.Policy == b.Policy && a.Reason == b.Reason && a.Actor == b.Actor && a.Since.Equal(b.Since) && a.Until.Equal(b.Until)
}

// applyKills brings the kill switches of p in line with want, the fleet
// switches in force for this instance; a.mu is held. A fleet switch wins
// over the instance's own while it lasts: the agent puts it in the
// pipeline (again, should something have replaced it), and when it ends
// (released, or run out: then at the agent's next pass, within an
// interval) puts back the instance's own switch it displaced, if that one
// has not ended too.
func (a *Agent) applyKills(ctx context.Context, p *resilience.Pipeline, want map[killKey]Override, now time.Time) {
	has := policiesOf(p)
	if has == 0 {
		return
	}
	cur := map[string]resilience.KillSwitch{}
	for _, k := range p.KillSwitches() {
		cur[k.Policy] = k
	}
	for _, policy := range has.Names() {
		key := killKey{p.Name(), policy}
		o, wanted := want[key]
		st, had := a.killed[key]
		c, isOff := cur[policy]
		ours := had && isOff && sameSwitch(c, st.ks)
		switch {
		case wanted && ours && st.o.Revision == o.Revision:
			// in force
		case wanted:
			displaced := st.displaced
			if isOff && !ours {
				displaced = &c
			}
			if err := p.Disable(resilience.WithActor(ctx, o.Actor), policy, o.Reason, o.Until); err != nil {
				a.log.Warn("fleet: kill switch not applied", "pipeline", p.Name(), "policy", policy, "err", err)
				continue
			}
			ks := resilience.KillSwitch{Policy: policy}
			for _, k := range p.KillSwitches() {
				if k.Policy == policy {
					ks = k
				}
			}
			a.killed[key] = killApplied{o: o, ks: ks, displaced: displaced}
			a.appliedN.Add(1)
			a.log.Info("fleet: kill switch applied", "pipeline", p.Name(), "policy", policy, "actor", o.Actor, "until", o.Until, "scope", scope(o))
		case had:
			delete(a.killed, key)
			// The pipeline itself switches the fleet's off at its end.
			ended := !isOff && !st.ks.Until.IsZero() && !now.Before(st.ks.Until)
			if !ours && !ended {
				continue // something replaced it or switched it on: leave that be
			}
			d := st.displaced
			back := d != nil && (d.Until.IsZero() || now.Before(d.Until))
			var err error
			switch {
			case back:
				err = p.Disable(resilience.WithActor(ctx, d.Actor), policy, d.Reason, d.Until)
			case ours:
				err = p.Enable(policy)
			}
			if err != nil {
				a.log.Warn("fleet: kill switch not released", "pipeline", p.Name(), "policy", policy, "err", err)
				continue
			}
			a.appliedN.Add(1)
			a.log.Info("fleet: kill switch released", "pipeline", p.Name(), "policy", policy, "ended", ended, "instance_switch_back", back)
		}
	}
}

// policyState returns the kinds of policy of the named pipeline, those
// switched off now and, of those, the ones the fleet switched off.
func (a *Agent) policyState(pipeline string) (has, off, fleet PolicySet) {
	p, err := a.reg.Get(pipeline)
	if err != nil {
		return 0, 0, 0
	}
	has = policiesOf(p)
	if has == 0 {
		return 0, 0, 0
	}
	ks := p.KillSwitches()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range ks {
		off |= PolicyBit(k.Policy)
		if st, ok := a.killed[killKey{pipeline, k.Policy}]; ok && sameSwitch(k, st.ks) {
			fleet |= PolicyBit(k.Policy)
		}
	}
	return has, off, fleet
}

// KillSwitch returns the fleet kill switch this instance applies to the
// named pipeline's policy, if any: while it holds, the instance's own
// switch of that policy must not change (cmd/app refuses to). One that ran
// out is returned until the agent's next pass puts back what it
// displaced, so that nothing changes under it meanwhile.
func (a *Agent) KillSwitch(pipeline, policy string) (Override, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.killed[killKey{pipeline, policy}]
	return st.o, ok
}
