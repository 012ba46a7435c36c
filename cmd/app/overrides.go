package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/store"
	"github.com/fusebox-dev/fusebox/ui"
)

// errInvalid is wrapped by the errors of overrides that the request caused.
var errInvalid = errors.New("invalid override")

// overrides applies operators' breaker decisions to the pipelines and keeps
// them, each with its audit entry, in the store, so that they survive a
// restart. It is safe for concurrent use.
type overrides struct {
	reg   *resilience.Registry
	store *store.Store
	clock resilience.Clock
	log   *slog.Logger
	// fleetHold, when the app has joined a fleet, tells of the fleet's
	// breaker overrides in force here, which win over the app's own.
	fleetHold
	// mu keeps the store and the breakers in the same order of decisions.
	mu sync.Mutex
}

// apply forces the named pipeline's breaker into state ("forced_open",
// "forced_closed") for d (zero: until lifted), or lifts the override
// ("auto"). The request is validated, then applied to the breaker, then
// stored with its audit entry; when the store refuses, the breaker is put
// back as it was, so the breaker, the store and the audit log never tell
// different stories. A request that changes nothing (lifting an override
// that does not exist, repeating the override in force) writes nothing.
func (o *overrides) apply(ctx context.Context, pipeline, state, reason, actor string, d time.Duration) error {
	return o.set(ctx, pipeline, state, reason, actor, d, time.Time{})
}

// set is apply, and with keep not zero it keeps the end of the override
// in force instead of taking a duration: the same forced state ends at
// keep, however little is left, as long as that override is still in
// force with that end. The shortest duration bounds new ends only.
func (o *overrides) set(ctx context.Context, pipeline, state, reason, actor string, d time.Duration, keep time.Time) error {
	reason = strings.TrimSpace(reason)
	if !keep.IsZero() {
		d = 0 // the end is keep
	}
	switch {
	case reason == "":
		return fmt.Errorf("%w: reason is required", errInvalid)
	case len(reason) > ui.MaxReason:
		return fmt.Errorf("%w: reason is %d bytes long: at most %d", errInvalid, len(reason), ui.MaxReason)
	case !keep.IsZero() && state == "auto":
		return fmt.Errorf("%w: only a forced state keeps an end", errInvalid)
	case d < 0 || d > ui.MaxOverrideDuration:
		return fmt.Errorf("%w: duration %v is outside [%v, %v]", errInvalid, d, ui.MinOverrideDuration, ui.MaxOverrideDuration)
	case d > 0 && d < ui.MinOverrideDuration:
		return fmt.Errorf("%w: duration %v is shorter than %v", errInvalid, d, ui.MinOverrideDuration)
	}
	var forced resilience.State
	if state != "auto" {
		s, err := resilience.ParseState(state)
		if err != nil || !s.Forced() {
			return fmt.Errorf("%w: state %q: want forced_open, forced_closed or auto", errInvalid, state)
		}
		forced = s
	} else if d > 0 {
		return fmt.Errorf("%w: only a forced state takes a duration", errInvalid)
	}
	p, err := o.reg.Get(pipeline)
	if err != nil {
		return err
	}
	b := p.Breaker()
	if b == nil {
		return fmt.Errorf("%w: %q", resilience.ErrNoBreaker, pipeline)
	}
	// The fleet's check and the change are one step: the fleet puts
	// nothing in force on this breaker in between (lock order: the
	// fleet's, then mu).
	release, err := o.claim(pipeline, "")
	if err != nil {
		return err
	}
	defer release()
	o.mu.Lock()
	defer o.mu.Unlock()
	stored, hasStored, err := o.store.Override(pipeline)
	if err != nil {
		return err
	}
	before := b.Metrics()
	prev := before.Override
	now := o.clock.Now()
	entry := store.AuditEntry{At: now, Actor: actor, Pipeline: pipeline, From: before.State.String(), Reason: reason}
	actx := resilience.WithActor(ctx, actor)
	if state == "auto" {
		if prev == nil && !hasStored {
			return nil // nothing to lift
		}
		if err := b.Auto(actx, reason); err != nil {
			return err
		}
		entry.Action, entry.To = "override.lift", "auto"
		if _, err := o.store.LiftOverride(pipeline, entry); err != nil {
			o.revert(ctx, b, prev)
			return err
		}
		return nil
	}
	var until time.Time
	if d > 0 {
		until = now.Add(d)
	}
	if !keep.IsZero() {
		if prev == nil || prev.State != forced || !prev.Until.Equal(keep) || !keep.After(now) {
			return fmt.Errorf("%w: the override to keep, %s until %s, is no longer in force", errInvalid, state, keep.UTC().Format(time.RFC3339))
		}
		until = keep
	}
	if prev != nil && hasStored && d == 0 && prev.Until.IsZero() && stored.Until.IsZero() &&
		prev.State == forced && stored.State == state && prev.Reason == reason && stored.Reason == reason {
		return nil // the same override is in force and stored
	}
	if err := b.Override(actx, forced, reason, until); err != nil {
		return err
	}
	entry.Action, entry.To, entry.Until = "override.set", state, until
	rec := store.Override{Pipeline: pipeline, State: state, Reason: reason, Actor: actor, At: now, Until: until}
	if _, err := o.store.ApplyOverride(rec, entry); err != nil {
		o.revert(ctx, b, prev)
		return err
	}
	return nil
}

// revert puts a breaker back under prev (nil: automatic) after the store
// refused to keep a change already applied to it.
func (o *overrides) revert(ctx context.Context, b *resilience.Breaker, prev *resilience.BreakerOverride) {
	var err error
	if prev != nil {
		err = b.Override(resilience.WithActor(ctx, prev.Actor), prev.State, prev.Reason, prev.Until)
	}
	if prev == nil || err != nil {
		err = b.Auto(resilience.WithActor(ctx, "system"), "the store refused the change")
	}
	if err != nil {
		o.log.Error("putting a breaker back after the store refused an override", "err", err)
	}
}

// restore re-applies the stored overrides at start. One that ran out while
// the app was down is lifted and audited instead; one for a pipeline that no
// longer exists is left in the store and logged.
func (o *overrides) restore(ctx context.Context) error {
	list, err := o.store.Overrides()
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.clock.Now()
	for _, ov := range list {
		if ov.Expired(now) {
			entry := store.AuditEntry{
				At: now, Actor: "system", Action: "override.expired", Pipeline: ov.Pipeline,
				From: ov.State, To: "auto", Reason: ov.Reason, Until: ov.Until,
				Detail: "ran out while the app was down",
			}
			if _, err := o.store.LiftOverride(ov.Pipeline, entry); err != nil {
				return err
			}
			o.log.Info("override expired while down", "pipeline", ov.Pipeline, "state", ov.State, "until", ov.Until)
			continue
		}
		p, err := o.reg.Get(ov.Pipeline)
		if err != nil || p.Breaker() == nil {
			o.log.Warn("stored override for a pipeline without breaker left as is", "pipeline", ov.Pipeline)
			continue
		}
		state, err := resilience.ParseState(ov.State)
		if err != nil || !state.Forced() {
			o.log.Warn("stored override with an unknown state left as is", "pipeline", ov.Pipeline, "state", ov.State)
			continue
		}
		if err := p.Breaker().Override(resilience.WithActor(ctx, ov.Actor), state, ov.Reason, ov.Until); err != nil {
			// Only an override that ran out since the check above gets here:
			// the breaker stays automatic, and the next start lifts the record.
			o.log.Warn("stored override not restored", "pipeline", ov.Pipeline, "err", err)
			continue
		}
		until := any("reverted")
		if !ov.Until.IsZero() {
			until = ov.Until
		}
		o.log.Info("override restored", "pipeline", ov.Pipeline, "state", ov.State, "actor", ov.Actor, "until", until)
	}
	return nil
}

// expiries watches for time-boxed overrides running out while the app runs,
// and lifts them in the store with an audit entry. Observe never blocks: it
// hands the event to run through a bounded channel and drops it if full (the
// next start would still find the override expired and lift it).
type expiries struct {
	o  *overrides
	ch chan resilience.Event
}

func newExpiries(o *overrides) *expiries {
	return &expiries{o: o, ch: make(chan resilience.Event, 64)}
}

// Kinds asks for breaker transitions only.
func (x *expiries) Kinds() resilience.KindSet {
	return resilience.Kinds(resilience.KindBreakerTransition)
}

func (x *expiries) Observe(_ context.Context, e resilience.Event) {
	if e.Kind != resilience.KindBreakerTransition || e.Reason != resilience.ReasonExpired {
		return
	}
	select {
	case x.ch <- e:
	default:
	}
}

// run lifts expired overrides until ctx ends.
func (x *expiries) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-x.ch:
			if err := x.lift(e); err != nil {
				x.o.log.Error("recording an expired override", "pipeline", e.Pipeline, "err", err)
			}
		}
	}
}

// lift removes the stored override that e reports expired, unless an
// operator has replaced it since.
func (x *expiries) lift(e resilience.Event) error {
	x.o.mu.Lock()
	defer x.o.mu.Unlock()
	list, err := x.o.store.Overrides()
	if err != nil {
		return err
	}
	for _, ov := range list {
		if ov.Pipeline != e.Pipeline || !ov.Expired(e.Time) {
			continue
		}
		entry := store.AuditEntry{
			At: e.Time, Actor: "system", Action: "override.expired", Pipeline: e.Pipeline,
			From: ov.State, To: "auto", Reason: ov.Reason, Until: ov.Until,
		}
		_, err := x.o.store.LiftOverride(e.Pipeline, entry)
		return err
	}
	return nil
}
