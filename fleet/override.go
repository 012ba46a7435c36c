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
// be set (a state that is not forced, no reason, an until in the past).
var ErrInvalidOverride = errors.New("fleet: invalid override")

// overrideVersion is the version of the JSON value of an overrides-bucket
// entry.
const overrideVersion = 1

// Override is an operator's decision on a breaker of a service: of every
// instance, or of one.
type Override struct {
	Service, Pipeline string
	// Instance is empty for the whole service. An instance's own override
	// wins over the service's.
	Instance string
	// State is StateForcedOpen or StateForcedClosed.
	State resilience.State
	// Reason, Actor: why and who.
	Reason, Actor string
	// At is when it was set; Until when it ends everywhere (zero: until
	// released).
	At, Until time.Time
	// Revision is the entry's revision in the bucket, set when read.
	Revision uint64
}

// Key returns the override's key in the bucket.
func (o Override) Key() string {
	k := o.Service + "." + keyPipeline(o.Pipeline)
	if o.Instance != "" {
		k += "." + o.Instance
	}
	return k
}

// Active reports whether the override holds at now.
func (o Override) Active(now time.Time) bool { return o.Until.IsZero() || now.Before(o.Until) }

// validate checks the names, the state and the reason.
func (o Override) validate() error {
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
	if !o.State.Forced() {
		return fmt.Errorf("%w: state %s (want forced_open or forced_closed)", ErrInvalidOverride, o.State)
	}
	if strings.TrimSpace(o.Reason) == "" {
		return fmt.Errorf("%w: reason is required", ErrInvalidOverride)
	}
	if len(o.Reason) > 500 {
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

func (o Override) marshal() ([]byte, error) {
	return json.Marshal(overrideValue{V: overrideVersion, State: o.State.String(), Reason: o.Reason, Actor: o.Actor, At: o.At.UTC(), Until: o.Until.UTC()})
}

// parseOverride decodes a bucket entry; key is the entry's key.
func parseOverride(key string, value []byte, revision uint64) (Override, error) {
	parts := strings.Split(key, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Override{}, fmt.Errorf("%w: key %q is not service.pipeline[.instance]", ErrInvalidOverride, key)
	}
	o := Override{Service: parts[0], Pipeline: unkeyPipeline(parts[1]), Revision: revision}
	if len(parts) == 3 {
		o.Instance = parts[2]
	}
	var v overrideValue
	if err := json.Unmarshal(value, &v); err != nil {
		return Override{}, fmt.Errorf("%w: key %q: %w", ErrInvalidOverride, key, err)
	}
	if v.V != overrideVersion {
		return Override{}, fmt.Errorf("%w: key %q: version %d, this build reads %d", ErrInvalidOverride, key, v.V, overrideVersion)
	}
	st, err := resilience.ParseState(v.State)
	if err != nil {
		return Override{}, fmt.Errorf("%w: key %q: %w", ErrInvalidOverride, key, err)
	}
	o.State, o.Reason, o.Actor, o.At, o.Until = st, v.Reason, v.Actor, v.At, v.Until
	if err := o.validate(); err != nil {
		return Override{}, fmt.Errorf("key %q: %w", key, err)
	}
	return o, nil
}

// AuditEntry is one record of the audit stream.
type AuditEntry struct {
	// Seq is the entry's sequence in the stream, set when read.
	Seq      uint64    `json:"seq,omitempty"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"` // "override.set" or "override.release"
	Service  string    `json:"service"`
	Pipeline string    `json:"pipeline"`
	Instance string    `json:"instance,omitempty"`
	State    string    `json:"state"` // forced_open, forced_closed or auto
	Reason   string    `json:"reason"`
	Until    time.Time `json:"until,omitzero"`
}
