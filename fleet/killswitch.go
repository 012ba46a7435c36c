package fleet

import (
	"encoding/json"
	"fmt"

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

// kindBit returns the set holding only kind k, or zero for a value that is
// not a kind.
func kindBit(k resilience.PolicyKind) PolicySet {
	if !k.Valid() {
		return 0
	}
	return PolicyBit(k.String())
}

// kinds returns the kinds in the set, in the order of
// resilience.SwitchablePolicies; bits this build does not know are left
// out.
func (s PolicySet) kinds() []resilience.PolicyKind {
	var out []resilience.PolicyKind
	for _, k := range resilience.SwitchablePolicies() {
		if b := kindBit(k); b != 0 && s&b != 0 {
			out = append(out, k)
		}
	}
	return out
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
	for _, k := range s.kinds() {
		out = append(out, k.String())
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
		s |= kindBit(resilience.KindOf(pol))
	}
	return s
}

// instanceState sets what d tells of the named pipeline on this
// instance: whether it has a breaker, the revision of the fleet override
// applied to its breaker, its kinds of policy, those switched off now and,
// of those, the ones the fleet switched off. It looks the pipeline up once
// and takes a.mu once.
func (a *Agent) instanceState(d *PipelineDelta) {
	d.NoBreaker = true
	var ks []resilience.KillSwitch
	if p, err := a.reg.Get(d.Name); err == nil {
		d.NoBreaker = p.Breaker() == nil
		if d.Policies = policiesOf(p); d.Policies != 0 {
			ks = p.KillSwitches()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	d.Override = a.held[targetKey{d.Name, ""}].o.Revision
	for _, k := range ks {
		d.Off |= kindBit(k.Policy)
		if st, ok := a.held[targetKey{d.Name, k.Policy.String()}]; ok && switchDecision(k).same(st.put) {
			d.FleetOff |= kindBit(k.Policy)
		}
	}
}
