package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/demo"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/store"
	"github.com/fusebox-dev/fusebox/ui"
)

// mountUI mounts the dashboard and the JSON API on e.
func (a *app) mountUI(e *echo.Echo) error {
	cfg := ui.Config{
		Stats:        a.agg,
		Registry:     a.registry,
		Controls:     uiControls{a.overrides},
		KillSwitches: a.kills,
		Reloader:     a.reloader,
		Audit:        uiAudit{a.store},
		Sessions:     a.store,
		AdminToken:   a.opts.AdminToken,
		Title:        a.cfg.Title,
		Secure:       a.cfg.SecureCookies,
		Clock:        a.opts.Clock,
		Logger:       a.log,
		Ready: func(context.Context) error {
			if _, err := a.store.Overrides(); err != nil {
				return err
			}
			return a.fleetReady()
		},
	}
	a.cfg.UI.apply(&cfg, a.opts.Addr)
	if cfg.Title == "" && a.demoMode() {
		cfg.Title = "Fusebox · demo"
	}
	if al := a.alerting; al != nil {
		cfg.SLOs, cfg.Alerts, cfg.AlertReceiver = al.slos, al.alerts, al.alerts
		if al.notifier != nil {
			cfg.Webhooks = al.notifier
		}
	}
	if a.gateway != nil {
		cfg.Routes = uiRoutes{a.gateway.gw}
	}
	if a.demo != nil {
		cfg.Faults = uiFaults{demo: a.demo, store: a.store, clock: a.opts.Clock}
		cfg.Scenarios = uiScenarios{demo: a.demo, store: a.store, clock: a.opts.Clock}
	}
	a.fleetUI(&cfg)
	srv, err := ui.New(cfg)
	if err != nil {
		return err
	}
	srv.Register(e)
	a.ui = srv
	return nil
}

// uiControls applies the dashboard's overrides.
type uiControls struct{ o *overrides }

func (c uiControls) Override(ctx context.Context, req ui.OverrideRequest) error {
	err := c.o.set(ctx, req.Pipeline, string(req.State), req.Reason, req.Actor, req.Duration, req.Until)
	if errors.Is(err, errInvalid) {
		return ui.Errorf(ui.EINVALID, "%s", strings.TrimPrefix(err.Error(), errInvalid.Error()+": "))
	}
	return err
}

// FleetHeld implements ui.FleetHeld for the breaker (policy "").
func (c uiControls) FleetHeld(pipeline, policy string) (string, bool) {
	return c.o.FleetHeld(pipeline, policy)
}

// uiAudit lists the store's audit log.
type uiAudit struct{ s *store.Store }

func (u uiAudit) Entries(_ context.Context, limit int) ([]ui.AuditEntry, error) {
	list, err := u.s.Audit(limit, 0)
	if err != nil {
		return nil, err
	}
	out := make([]ui.AuditEntry, len(list))
	for i, e := range list {
		out[i] = ui.AuditEntry{
			At: e.At, Actor: e.Actor, Action: e.Action, Pipeline: e.Pipeline,
			From: e.From, To: e.To, Reason: e.Reason, Until: e.Until,
		}
	}
	return out, nil
}

// uiFaults turns the demo's fault knobs, auditing every change.
type uiFaults struct {
	demo  *demo.Demo
	store *store.Store
	clock resilience.Clock
}

func (f uiFaults) Downstreams() []ui.Downstream {
	var out []ui.Downstream
	for _, d := range f.demo.Downstreams() {
		st := d.Status()
		out = append(out, ui.Downstream{Name: st.Name, Description: st.Description, Knobs: ui.Knobs(st.Knobs), Scenario: st.Scenario})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (f uiFaults) Set(ctx context.Context, name string, k ui.Knobs) error {
	d, err := f.demo.Downstream(name)
	if errors.Is(err, demo.ErrUnknownDownstream) {
		return ui.Errorf(ui.ENOTFOUND, "unknown downstream %q", name)
	}
	if err != nil {
		return err
	}
	before := d.Knobs()
	if before == demo.Knobs(k) {
		return nil // nothing changes: nothing to audit
	}
	if err := d.Set(demo.Knobs(k)); err != nil {
		return ui.Errorf(ui.EINVALID, "%v", err)
	}
	_, err = f.store.AppendAudit(store.AuditEntry{
		At: f.clock.Now(), Actor: resilience.ActorFrom(ctx), Action: "faults", Pipeline: name,
		From: knobText(before), To: knobText(demo.Knobs(k)),
	})
	return err
}

func knobText(k demo.Knobs) string {
	return fmt.Sprintf("error_rate=%g latency_ms=%d jitter_ms=%d outage=%t", k.ErrorRate, k.LatencyMS, k.JitterMS, k.Outage)
}

// uiScenarios starts and stops the demo's scenarios, auditing each.
type uiScenarios struct {
	demo  *demo.Demo
	store *store.Store
	clock resilience.Clock
}

func (u uiScenarios) Scenarios() []ui.Scenario {
	var out []ui.Scenario
	for _, sc := range u.demo.Scenarios() {
		out = append(out, ui.Scenario(sc))
	}
	return out
}

func (u uiScenarios) SetScenario(ctx context.Context, name string, running bool) error {
	var before bool
	var downstream string
	for _, sc := range u.demo.Scenarios() {
		if sc.Name == name {
			before, downstream = sc.Running, sc.Downstream
		}
	}
	op, action := u.demo.StopScenario, "scenario.stop"
	if running {
		op, action = u.demo.StartScenario, "scenario.start"
	}
	switch err := op(name); {
	case errors.Is(err, demo.ErrUnknownScenario):
		return ui.Errorf(ui.ENOTFOUND, "unknown scenario %q", name)
	case errors.Is(err, demo.ErrScenarioConflict):
		return ui.Errorf(ui.ECONFLICT, "%v", err)
	case err != nil:
		return err
	}
	if before == running {
		return nil // nothing changed: nothing to audit
	}
	_, err := u.store.AppendAudit(store.AuditEntry{
		At: u.clock.Now(), Actor: resilience.ActorFrom(ctx), Action: action, Pipeline: downstream,
		From: scenarioWord(name, before), To: scenarioWord(name, running),
	})
	return err
}

func scenarioWord(name string, running bool) string {
	if running {
		return name + " running"
	}
	return name + " stopped"
}
