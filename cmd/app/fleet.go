package main

import (
	"context"
	"errors"
	"flag"

	"github.com/nats-io/nats.go"

	"github.com/fusebox-dev/fusebox/fleet"
)

// fleetOptions make the app an agent of a fleet (--join) and configure the
// hub command.
type fleetOptions struct {
	// Join is the NATS URL of the fleet to join; empty: the app runs alone.
	Join string
	// Service names the app's service in the fleet; required with Join.
	Service string
	// Instance names this instance; empty means hostname-pid.
	Instance string
	// NATSCreds is a NATS credentials file; empty: none.
	NATSCreds string
}

// addFleetFlags declares the flags of fleetOptions.
func addFleetFlags(fs *flag.FlagSet, o *fleetOptions) {
	fs.StringVar(&o.Join, "join", "", "NATS URL of a fleet to join as an instance of --service (nats://host:4222)")
	fs.StringVar(&o.Service, "service", "", "the service this instance belongs to, with --join")
	fs.StringVar(&o.Instance, "instance", "", "this instance's id, with --join (default hostname-pid)")
	fs.StringVar(&o.NATSCreds, "nats-creds", "", "NATS credentials file (user JWT and nkey seed)")
}

// natsOptions returns the NATS client options of the credentials given.
func (o fleetOptions) natsOptions() []nats.Option {
	if o.NATSCreds == "" {
		return nil
	}
	return []nats.Option{nats.UserCredentials(o.NATSCreds)}
}

// joinFleet starts the fleet agent when --join is given. The agent runs
// until Close.
func (a *app) joinFleet(ctx context.Context) error {
	o := a.opts.fleetOptions
	switch {
	case o.Join == "" && (o.Service != "" || o.Instance != ""):
		return errors.New("--service and --instance need --join: give the NATS URL of the fleet")
	case o.Join == "":
		return nil
	case o.Service == "":
		return errors.New("--join needs --service: name the service this instance belongs to")
	}
	agent, err := fleet.Join(ctx, fleet.Config{
		URL: o.Join, Service: o.Service, Instance: o.Instance, Options: o.natsOptions(),
		Clock: a.opts.Clock, Logger: a.log,
	}, a.registry, a.agg)
	if err != nil {
		return err
	}
	a.agent = agent
	a.kills.fleetHold = fleetHold{agent}
	a.overrides.fleetHold = fleetHold{agent}
	a.log.Info("joined the fleet", "nats", o.Join, "service", agent.Service(), "instance", agent.Instance())
	return nil
}

// fleetReady reports whether the fleet's overrides have been applied, and
// on a hub whether it is connected to NATS (always ready when the app runs
// alone).
func (a *app) fleetReady() error {
	if a.hubState != nil && a.hubState.conn != nil && !a.hubState.conn.IsConnected() {
		return errors.New("the hub is not connected to NATS")
	}
	if a.agent == nil {
		return nil
	}
	select {
	case <-a.agent.Ready():
		return nil
	default:
		return errors.New("the fleet's overrides have not been read yet")
	}
}
