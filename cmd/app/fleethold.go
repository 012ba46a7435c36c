package main

import (
	"fmt"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/ui"
)

// fleetHolder tells of the fleet overrides in force on this instance
// (*fleet.Agent): of a pipeline's breaker (policy "") or of a kind of
// policy (a kill switch).
type fleetHolder interface {
	Holds(pipeline, policy string) (fleet.Override, bool)
	Exclude(pipeline, policy string) (o fleet.Override, held bool, done func())
}

// fleetHold is what a fleet holds on this instance, which wins over the
// app's own overrides and kill switches while it lasts. The zero value, an
// app that runs alone, holds nothing.
type fleetHold struct{ f fleetHolder }

// claim lets a local change to the pipeline's breaker (policy "") or
// policy go ahead when the fleet does not hold it, and keeps the fleet
// from putting its decision in force until release is called, so that the
// check and the change are one step: the caller makes the change, then
// calls release. While the fleet holds it, claim returns the error for
// the change (409, naming the fleet's override).
func (h fleetHold) claim(pipeline, policy string) (release func(), err error) {
	if h.f == nil {
		return func() {}, nil
	}
	o, held, done := h.f.Exclude(pipeline, policy)
	if !held {
		return done, nil
	}
	done()
	return nil, refusal(pipeline, policy, o)
}

// refusal is the error for a local change to the pipeline's breaker
// (policy "") or policy while the fleet holds it with o.
func refusal(pipeline, policy string, o fleet.Override) error {
	what, how := fmt.Sprintf("%s of %q is switched off", policy, pipeline), "switch it on from the hub"
	if policy == "" {
		what, how = fmt.Sprintf("the breaker of %q is %s", pipeline, o.State), "set it to auto from the hub"
	}
	return ui.Errorf(ui.ECONFLICT, "%s by the fleet (%s, by %s: %s%s), which wins while it lasts: %s",
		what, fleetScope(o.Instance), o.Actor, o.Reason, fleetUntil(o), how)
}

// FleetHeld implements ui.FleetHeld: the local page shows a breaker or
// policy the fleet holds as the fleet's, without a form.
func (h fleetHold) FleetHeld(pipeline, policy string) (string, bool) {
	if h.f == nil {
		return "", false
	}
	o, held := h.f.Holds(pipeline, policy)
	if !held {
		return "", false
	}
	return "the fleet (" + fleetScope(o.Instance) + ")", true
}

func fleetScope(instance string) string {
	if instance == "" {
		return "whole service"
	}
	return "instance " + instance
}

func fleetUntil(o fleet.Override) string {
	switch {
	case o.Until.IsZero() && o.KillSwitch():
		return ", until switched on"
	case o.Until.IsZero():
		return ", until released"
	}
	return ", until " + o.Until.UTC().Format(time.RFC3339)
}
