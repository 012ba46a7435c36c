package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// ErrInvalidOverride is wrapped by the errors about an override that cannot
// be set (a state that is not forced, a policy no kill switch turns off, no
// reason, an until in the past).
var ErrInvalidOverride = errors.New("fleet: invalid override")

// overrideVersion is the version of the JSON value of an overrides-bucket
// entry.
const overrideVersion = 1

// Override is an operator's decision on a pipeline of a service, for every
// instance or for one: a breaker forced open or closed, or (Policy set) a
// kill switch that turns a kind of policy off.
type Override struct {
	Service, Pipeline string
	// Instance is empty for the whole service. An instance's own override
	// wins over the service's.
	Instance string
	// Policy is empty for a breaker override. For a kill switch it names
	// the kind of policy switched off, the text of one of
	// resilience.SwitchablePolicies ("retry", "hedge", "rate_limiter", …).
	Policy string
	// State is StateForcedOpen or StateForcedClosed for a breaker; unused
	// (left zero) for a kill switch, which always switches off.
	State resilience.State
	// Reason, Actor: why and who.
	Reason, Actor string
	// At is when it was set; Until when it ends everywhere (zero: until
	// released).
	At, Until time.Time
	// Revision is the entry's revision in the bucket, set when read.
	Revision uint64
}

// policyToken starts the key part that names a kill switch's policy; no
// instance name can hold '='.
const policyToken = "policy="

// Key returns the override's key in the bucket: service.pipeline for a
// breaker, service.pipeline.policy=retry for a kill switch, each followed
// by .instance for one instance.
func (o Override) Key() string {
	k := o.Service + "." + keyPipeline(o.Pipeline)
	if o.Policy != "" {
		k += "." + policyToken + o.Policy
	}
	if o.Instance != "" {
		k += "." + o.Instance
	}
	return k
}

// KillSwitch reports whether the override is a kill switch (Policy set).
func (o Override) KillSwitch() bool { return o.Policy != "" }

// Active reports whether the override holds at now.
func (o Override) Active(now time.Time) bool { return o.Until.IsZero() || now.Before(o.Until) }

// validate checks the names, the state and the reason.
func (o Override) validate() error {
	if err := o.validateKey(); err != nil {
		return err
	}
	if !o.KillSwitch() && !o.State.Forced() {
		return fmt.Errorf("%w: state %s (want forced_open or forced_closed)", ErrInvalidOverride, o.State)
	}
	return validReason(o.Reason)
}

// validateKey checks what names the override: service, pipeline, instance
// and policy.
func (o Override) validateKey() error {
	if err := validName("service", o.Service); err != nil {
		return err
	}
	if err := validPipeline(o.Pipeline); err != nil {
		return err
	}
	if o.Instance != "" {
		if err := validName("instance", o.Instance); err != nil {
			return err
		}
	}
	if o.Policy != "" {
		if _, err := resilience.ParsePolicyKind(o.Policy); err != nil {
			return fmt.Errorf("%w: policy %q: want one of %s", ErrInvalidOverride, o.Policy, resilience.PolicyKindNames(resilience.SwitchablePolicies()))
		}
	}
	return nil
}

// validReason checks an operator's reason.
func validReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("%w: reason is required", ErrInvalidOverride)
	}
	if len(reason) > 500 {
		return fmt.Errorf("%w: reason is longer than 500 characters", ErrInvalidOverride)
	}
	return nil
}

// overrideValue is the JSON value of a bucket entry.
type overrideValue struct {
	V      int       `json:"v"`
	State  string    `json:"state"`
	Reason string    `json:"reason"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
	Until  time.Time `json:"until,omitzero"`
}

// stateOff is the state of a kill switch's value.
const stateOff = "off"

func (o Override) marshal() ([]byte, error) {
	st := o.State.String()
	if o.KillSwitch() {
		st = stateOff
	}
	return json.Marshal(overrideValue{V: overrideVersion, State: st, Reason: o.Reason, Actor: o.Actor, At: o.At.UTC(), Until: o.Until.UTC()})
}

// parseOverride decodes a bucket entry; key is the entry's key.
func parseOverride(key string, value []byte, revision uint64) (Override, error) {
	parts := strings.Split(key, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return Override{}, fmt.Errorf("%w: key %q is not service.pipeline[.policy=name][.instance]", ErrInvalidOverride, key)
	}
	o := Override{Service: parts[0], Pipeline: unkeyPipeline(parts[1]), Revision: revision}
	rest := parts[2:]
	if len(rest) > 0 && strings.HasPrefix(rest[0], policyToken) {
		o.Policy = strings.TrimPrefix(rest[0], policyToken)
		if o.Policy == "" {
			return Override{}, fmt.Errorf("%w: key %q names no policy", ErrInvalidOverride, key)
		}
		rest = rest[1:]
	}
	switch len(rest) {
	case 0:
	case 1:
		o.Instance = rest[0]
	default:
		return Override{}, fmt.Errorf("%w: key %q is not service.pipeline[.policy=name][.instance]", ErrInvalidOverride, key)
	}
	var v overrideValue
	if err := json.Unmarshal(value, &v); err != nil {
		return Override{}, fmt.Errorf("%w: key %q: %w", ErrInvalidOverride, key, err)
	}
	if v.V != overrideVersion {
		return Override{}, fmt.Errorf("%w: key %q: version %d, this build reads %d", ErrInvalidOverride, key, v.V, overrideVersion)
	}
	if o.KillSwitch() {
		if v.State != stateOff {
			return Override{}, fmt.Errorf("%w: key %q: state %q, a kill switch's is %q", ErrInvalidOverride, key, v.State, stateOff)
		}
	} else {
		st, err := resilience.ParseState(v.State)
		if err != nil {
			return Override{}, fmt.Errorf("%w: key %q: %w", ErrInvalidOverride, key, err)
		}
		o.State = st
	}
	o.Reason, o.Actor, o.At, o.Until = v.Reason, v.Actor, v.At, v.Until
	if err := o.validate(); err != nil {
		return Override{}, fmt.Errorf("key %q: %w", key, err)
	}
	return o, nil
}

// AuditEntry is one record of the audit stream.
type AuditEntry struct {
	// Seq is the entry's sequence in the stream, set when read.
	Seq   uint64    `json:"seq,omitempty"`
	Time  time.Time `json:"time"`
	Actor string    `json:"actor"`
	// Action is "override.set" or "override.release" for a breaker,
	// "killswitch.off" or "killswitch.on" for a kill switch.
	Action   string `json:"action"`
	Service  string `json:"service"`
	Pipeline string `json:"pipeline"`
	Instance string `json:"instance,omitempty"`
	// Policy is the kill switch's policy; empty for a breaker.
	Policy string `json:"policy,omitempty"`
	// State is forced_open, forced_closed or auto for a breaker, off or on
	// for a kill switch.
	State  string    `json:"state"`
	Reason string    `json:"reason"`
	Until  time.Time `json:"until,omitzero"`
}
