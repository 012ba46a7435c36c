package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/ui/templates"
)

// fleetKillSwitchBody is the body of
// PUT /api/v1/fleet/{service}/pipelines/{name}/policies/{policy}: that of
// a single app's kill switch, plus the instance of a narrower scope.
type fleetKillSwitchBody struct {
	Enabled  *bool  `json:"enabled"`
	Reason   string `json:"reason"`
	Duration string `json:"duration"`
	Instance string `json:"instance,omitempty"`
}

// registerFleetKillSwitches mounts the fleet's kill switch routes.
func (s *Server) registerFleetKillSwitches(e *echo.Echo) {
	h, admin, form := s.securityHeaders, s.requireAdmin, s.limitForm
	e.PUT("/api/v1/fleet/:service/pipelines/:name/policies/:policy", s.apiFleetKillSwitch, h, admin)
	e.POST("/fleet/:service/pipelines/:name/policies/:policy", s.fleetKillSwitchForm, h, form, admin)
}

// applyFleetKillSwitch validates b for the service, pipeline and policy of
// the request's route and writes it: switching off sets the fleet's
// switch of the scope, switching on releases it.
func (s *Server) applyFleetKillSwitch(c echo.Context, b fleetKillSwitchBody) (fleet.Override, KillSwitchRequest, error) {
	ctx := c.Request().Context()
	service, name := c.Param("service"), c.Param("name")
	req := KillSwitchRequest{Pipeline: name, Reason: strings.TrimSpace(b.Reason), Actor: actorOf(ctx)}
	sv, pv, err := s.fleetPipeline(service, name)
	if err != nil {
		return fleet.Override{}, req, err
	}
	if b.Instance != "" {
		if _, err := fleetInstance(sv, b.Instance); err != nil {
			return fleet.Override{}, req, err
		}
	}
	if err := validKillSwitch(&req, c.Param("policy"), killSwitchBody{Enabled: b.Enabled, Reason: b.Reason, Duration: b.Duration}); err != nil {
		return fleet.Override{}, req, err
	}
	o := fleet.Override{Service: service, Pipeline: name, Instance: b.Instance, Policy: req.Policy.String(), Reason: req.Reason, Actor: req.Actor}
	if req.Enabled {
		// Switching on releases the fleet's switch, whatever the instances
		// report: one may have left.
		return o, req, fleetError(s.cfg.Fleet.Release(ctx, o))
	}
	if !pv.Policies.Has(req.Policy.String()) {
		return o, req, Errorf(ECONFLICT, "pipeline %q of service %q has no %s on any instance (it has %s)",
			name, service, req.Policy, orNone(strings.Join(pv.Policies.Names(), ", ")))
	}
	if req.Duration > 0 {
		o.Until = s.clock.Now().Add(req.Duration)
	}
	o, err = s.cfg.Fleet.SetOverride(ctx, o)
	return o, req, fleetError(err)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// apiFleetKillSwitch handles
// PUT /api/v1/fleet/{service}/pipelines/{name}/policies/{policy}.
func (s *Server) apiFleetKillSwitch(c echo.Context) error {
	var b fleetKillSwitchBody
	if err := decodeJSON(c, &b); err != nil {
		return s.fail(c, err)
	}
	o, req, err := s.applyFleetKillSwitch(c, b)
	if err != nil {
		return s.fail(c, err)
	}
	out := fleetKillSwitchJSON{
		Service: o.Service, Pipeline: o.Pipeline, Instance: o.Instance, Policy: o.Policy,
		Enabled: req.Enabled, Reason: o.Reason, Actor: o.Actor, Revision: o.Revision,
	}
	if !o.Until.IsZero() {
		u := o.Until.UTC()
		out.Until = &u
		out.Duration = req.Duration.String()
	}
	return c.JSON(http.StatusOK, out)
}

// fleetKillSwitchForm handles the kill switch forms of a service page.
func (s *Server) fleetKillSwitchForm(c echo.Context) error {
	enabled := c.FormValue("enabled") == "true"
	b := fleetKillSwitchBody{Enabled: &enabled, Reason: c.FormValue("reason"), Duration: c.FormValue("duration"), Instance: c.FormValue("instance")}
	if _, _, err := s.applyFleetKillSwitch(c, b); err != nil {
		return s.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, serviceURL(c.Param("service")))
}

// fleetKillSwitchJSON is a fleet kill switch as the API shows it.
type fleetKillSwitchJSON struct {
	Service  string     `json:"service"`
	Pipeline string     `json:"pipeline"`
	Instance string     `json:"instance,omitempty"`
	Policy   string     `json:"policy"`
	Enabled  bool       `json:"enabled"`
	Reason   string     `json:"reason"`
	Actor    string     `json:"actor"`
	At       *time.Time `json:"at,omitempty"`
	Duration string     `json:"duration,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
	Revision uint64     `json:"revision,omitempty"`
}

func fleetKillSwitchOf(o fleet.Override) fleetKillSwitchJSON {
	at := o.At.UTC()
	out := fleetKillSwitchJSON{
		Service: o.Service, Pipeline: o.Pipeline, Instance: o.Instance, Policy: o.Policy,
		Reason: o.Reason, Actor: o.Actor, At: &at, Revision: o.Revision,
	}
	if !o.Until.IsZero() {
		u := o.Until.UTC()
		out.Until = &u
	}
	return out
}

// policyCountText says how many instances run a policy switched off:
// "off on 2 of 3 (2 by the fleet)", "on on all 3".
func policyCountText(c fleet.PolicyCount) string {
	if c.Off == 0 {
		return "on on all " + strconv.Itoa(c.Instances)
	}
	t := "off on " + strconv.Itoa(c.Off) + " of " + strconv.Itoa(c.Instances)
	switch c.FleetOff {
	case 0:
		t += " (their own switch)"
	case c.Off:
		t += " (by the fleet)"
	default:
		t += " (" + strconv.Itoa(c.FleetOff) + " by the fleet)"
	}
	return t
}

// fleetPolicies builds the kill switch section of a service page: per
// pipeline and kind of policy, what the instances report, the fleet's
// switches in force and, for an admin, a form to switch it off for a
// scope that has no switch yet and one to switch each on.
func (s *Server) fleetPolicies(sv fleet.ServiceView, overrides []fleet.Override, instanceIDs []string) []templates.FleetPolicy {
	var out []templates.FleetPolicy
	now := s.clock.Now()
	for _, p := range sv.Pipelines {
		for _, c := range p.PolicyCounts() {
			fp := templates.FleetPolicy{
				Pipeline: p.Name, Policy: c.Policy, Off: c.Off > 0, Text: policyCountText(c),
				Action: "/fleet/" + url.PathEscape(sv.Name) + "/pipelines/" + url.PathEscape(p.Name) + "/policies/" + c.Policy,
			}
			taken := map[string]bool{}
			for _, o := range overrides {
				if o.Service != sv.Name || o.Pipeline != p.Name || o.Policy != c.Policy {
					continue
				}
				taken[o.Instance] = true
				sw := templates.FleetSwitch{Scope: scopeOf(o.Instance), Instance: o.Instance, Actor: o.Actor, Reason: o.Reason, Until: "until switched on"}
				if !o.Until.IsZero() {
					sw.Until = "until " + s.stamp(o.Until)
					if !o.Active(now) {
						sw.Until += " (ended)"
					}
				}
				fp.Switches = append(fp.Switches, sw)
			}
			if !taken[""] {
				fp.Scopes = append(fp.Scopes, templates.FleetScope{Label: "whole service"})
			}
			for _, id := range instanceIDs {
				if !taken[id] {
					fp.Scopes = append(fp.Scopes, templates.FleetScope{Value: id, Label: "instance " + id})
				}
			}
			out = append(out, fp)
		}
	}
	return out
}

// instancePolicies lists what an instance reports of its pipelines'
// policies.
func instancePolicies(sv fleet.ServiceView, id string) []templates.InstancePolicy {
	var out []templates.InstancePolicy
	for _, p := range sv.Pipelines {
		for _, b := range p.Breakers {
			if b.Instance != id {
				continue
			}
			for _, name := range b.Policies.Names() {
				ip := templates.InstancePolicy{Pipeline: p.Name, Policy: name, State: "on"}
				switch {
				case b.FleetOff.Has(name):
					ip.State, ip.Off = "off by the fleet", true
				case b.Off.Has(name):
					ip.State, ip.Off = "off by its own switch", true
				}
				out = append(out, ip)
			}
		}
	}
	return out
}

// policiesOffText is the kill switch column of the fleet page: the kinds
// of policy switched off somewhere ("retry off on 3 of 3"), or "".
func policiesOffText(p fleet.PipelineView) string {
	var parts []string
	for _, c := range p.PolicyCounts() {
		if c.Off > 0 {
			parts = append(parts, c.Policy+" off on "+strconv.Itoa(c.Off)+" of "+strconv.Itoa(c.Instances))
		}
	}
	return strings.Join(parts, " · ")
}
