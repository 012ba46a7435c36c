package resilience

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"
)

// ErrNoPolicy is returned when switching a kind of policy the pipeline does
// not have, or one that cannot be switched off.
var ErrNoPolicy = errors.New("resilience: pipeline has no such policy")

// KillSwitch describes a kind of policy switched off in a pipeline.
type KillSwitch struct {
	// Policy is the kind switched off.
	Policy PolicyKind
	// Reason is the text the operator gave; Actor is who (see WithActor).
	Reason, Actor string
	// Since is when it was switched off; Until when it comes back on by
	// itself, zero when it stays off until Enable.
	Since, Until time.Time
}

// killState is the set of switched-off kinds of a pipeline, replaced as a
// whole on every change.
type killState struct {
	// mask has bit i set when policy i is off.
	mask     uint64
	switches map[PolicyKind]KillSwitch
}

// Disable switches off every policy of the kind in the pipeline, as
// if it were not there, for the calls that reach it from now on, until
// until (zero: until Enable); the actor comes from ctx. Switching off a
// kind that is off already replaces its reason and end. It returns an
// error wrapping ErrNoPolicy when the pipeline has no policy of that kind,
// and an error when until is not after now.
func (p *Pipeline) Disable(ctx context.Context, policy PolicyKind, reason string, until time.Time) error {
	mask := p.kindMask(policy)
	if mask == 0 {
		return fmt.Errorf("%w: %q has no %s (kill switches turn off %v)", ErrNoPolicy, p.name, policy, SwitchablePolicies())
	}
	now := p.clock.Now()
	if !until.IsZero() && !until.After(now) {
		return fmt.Errorf("resilience: cannot switch %s off until %v: that is not after now (%v)",
			policy, until.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	p.killMu.Lock()
	defer p.killMu.Unlock()
	p.switchOffLocked(KillSwitch{Policy: policy, Reason: reason, Actor: ActorFrom(ctx), Since: now, Until: until}, mask)
	return nil
}

// switchOffLocked adds k to the kinds switched off, in place of any switch
// of its kind, with mask the bits of the pipeline's policies of that kind.
func (p *Pipeline) switchOffLocked(k KillSwitch, mask uint64) {
	ns := &killState{mask: mask, switches: map[PolicyKind]KillSwitch{}}
	if old := p.kills.Load(); old != nil {
		ns.mask |= old.mask
		maps.Copy(ns.switches, old.switches)
	}
	ns.switches[k.Policy] = k
	p.kills.Store(ns)
}

// Enable switches the kind of policy back on. Enabling a kind that is
// on does nothing; one the pipeline does not have is an error wrapping
// ErrNoPolicy.
func (p *Pipeline) Enable(policy PolicyKind) error {
	if p.kindMask(policy) == 0 {
		return fmt.Errorf("%w: %q has no %s", ErrNoPolicy, p.name, policy)
	}
	p.killMu.Lock()
	defer p.killMu.Unlock()
	p.enableLocked(policy)
	return nil
}

func (p *Pipeline) enableLocked(policy PolicyKind) {
	old := p.kills.Load()
	if old == nil {
		return
	}
	if _, ok := old.switches[policy]; !ok {
		return
	}
	ns := &killState{switches: map[PolicyKind]KillSwitch{}}
	for k, v := range old.switches {
		if k != policy {
			ns.switches[k] = v
			ns.mask |= p.kindMask(k)
		}
	}
	if len(ns.switches) == 0 {
		ns = nil
	}
	p.kills.Store(ns)
}

// KillSwitches returns the kinds of policy switched off now, in the order
// of their names,
// switching back on those whose time ran out.
func (p *Pipeline) KillSwitches() []KillSwitch {
	p.expire(p.clock.Now())
	ks := p.kills.Load()
	if ks == nil {
		return nil
	}
	out := make([]KillSwitch, 0, len(ks.switches))
	for _, k := range ks.switches {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Policy.String() < out[j].Policy.String() })
	return out
}

// kindMask returns the bits of the pipeline's policies of the kind.
func (p *Pipeline) kindMask(policy PolicyKind) uint64 {
	var m uint64
	for i, pol := range p.policies {
		if i < 64 && KindOf(pol) == policy && policy != 0 {
			m |= 1 << i
		}
	}
	return m
}

// expire switches back on the kinds whose time ran out at now.
func (p *Pipeline) expire(now time.Time) {
	ks := p.kills.Load()
	if ks == nil {
		return
	}
	var due []PolicyKind
	for name, k := range ks.switches {
		if !k.Until.IsZero() && !now.Before(k.Until) {
			due = append(due, name)
		}
	}
	if len(due) == 0 {
		return
	}
	p.killMu.Lock()
	defer p.killMu.Unlock()
	for _, name := range due {
		if k, ok := p.kills.Load().switchOf(name); ok && !k.Until.IsZero() && !now.Before(k.Until) {
			p.enableLocked(name)
		}
	}
}

func (ks *killState) switchOf(name PolicyKind) (KillSwitch, bool) {
	if ks == nil {
		return KillSwitch{}, false
	}
	k, ok := ks.switches[name]
	return k, ok
}

// off reports whether policy i is switched off for call c.
func (p *Pipeline) off(c *call, i int) bool {
	ks := p.kills.Load()
	if ks == nil || i >= 64 || ks.mask&(1<<i) == 0 {
		return false
	}
	k := ks.switches[KindOf(p.policies[i])]
	if !k.Until.IsZero() {
		if now := c.clockNow(); !now.Before(k.Until) {
			p.expire(now)
			return false
		}
	}
	return true
}
