package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/ui/templates"
)

// KillSwitchRequest is a validated request to switch a kind of policy of a
// pipeline off or back on.
type KillSwitchRequest struct {
	Pipeline string
	// Policy is one of resilience.SwitchablePolicies, parsed from the
	// route.
	Policy resilience.PolicyKind
	// Enabled switches the policy on; false switches it off.
	Enabled bool
	// Reason is what the operator wrote; never empty.
	Reason string
	// Actor is who asks, as for an override.
	Actor string
	// Duration is how long a policy stays off before it comes back on by
	// itself; zero holds until switched on. Always zero when Enabled.
	Duration time.Duration
}

// KillSwitches switches policies off and on: cmd/app applies the request
// to the pipeline, persists it and appends to the audit log. An unknown
// pipeline is an error wrapping resilience.ErrUnknownPipeline (404), a
// pipeline without the policy one wrapping resilience.ErrNoPolicy (409);
// an *Error chooses its own status.
type KillSwitches interface {
	Switch(ctx context.Context, req KillSwitchRequest) error
}

// FleetHeld may be implemented by the KillSwitches and the Controls of an
// app joined to a fleet: it says whether a fleet kill switch holds the
// pipeline's policy off on this instance (policy "" asks of a fleet
// override of its breaker), and whose ("the fleet (whole service)"). The
// pipeline's page shows that, and no form for it: the instance cannot
// change it.
type FleetHeld interface {
	FleetHeld(pipeline, policy string) (by string, held bool)
}

// killSwitchBody is the body of PUT /api/v1/pipelines/{name}/policies/{policy}.
type killSwitchBody struct {
	Enabled  *bool  `json:"enabled"`
	Reason   string `json:"reason"`
	Duration string `json:"duration"`
}

// registerKillSwitches mounts the kill switch routes.
func (s *Server) registerKillSwitches(e *echo.Echo) {
	h, admin, form := s.securityHeaders, s.requireAdmin, s.limitForm
	e.PUT("/api/v1/pipelines/:name/policies/:policy", s.apiKillSwitch, h, admin)
	e.POST("/pipelines/:name/policies/:policy", s.killSwitchForm, h, form, admin)
}

// killSwitchRequest validates a request for the pipeline and policy of c.
func (s *Server) killSwitchRequest(c echo.Context, b killSwitchBody) (KillSwitchRequest, error) {
	ctx := c.Request().Context()
	req := KillSwitchRequest{Pipeline: c.Param("name"), Reason: strings.TrimSpace(b.Reason), Actor: actorOf(ctx)}
	if s.cfg.KillSwitches == nil {
		return req, Errorf(ECONFLICT, "kill switches are not enabled")
	}
	if err := s.knownPipeline(req.Pipeline); err != nil {
		return req, err
	}
	return req, validKillSwitch(&req, c.Param("policy"), b)
}

// validKillSwitch checks the policy (the route's text) and body of a kill
// switch request and fills req with them; the single app's route and the
// hub's share it.
func validKillSwitch(req *KillSwitchRequest, policy string, b killSwitchBody) error {
	kind, err := resilience.ParsePolicyKind(policy)
	if err != nil {
		return Errorf(EINVALID, "policy = %q: want one of %s", policy, resilience.PolicyKindNames(resilience.SwitchablePolicies()))
	}
	req.Policy = kind
	if b.Enabled == nil {
		return Errorf(EINVALID, "enabled is required: true or false")
	}
	req.Enabled = *b.Enabled
	if req.Reason == "" {
		return Errorf(EINVALID, "reason is required")
	}
	if len(req.Reason) > MaxReason {
		return Errorf(EINVALID, "reason is %d bytes long: at most %d", len(req.Reason), MaxReason)
	}
	if b.Duration != "" {
		d, err := time.ParseDuration(b.Duration)
		if err != nil || d < MinOverrideDuration || d > MaxOverrideDuration {
			return Errorf(EINVALID, "duration = %q: want a duration from 1m to 168h (7 days), such as 10m or 1h", b.Duration)
		}
		if req.Enabled {
			return Errorf(EINVALID, "duration = %q: only switching a policy off takes a duration", b.Duration)
		}
		req.Duration = d
	}
	return nil
}

func (s *Server) applyKillSwitch(c echo.Context, b killSwitchBody) (KillSwitchRequest, error) {
	req, err := s.killSwitchRequest(c, b)
	if err != nil {
		return req, err
	}
	err = s.cfg.KillSwitches.Switch(c.Request().Context(), req)
	s.changed()
	return req, err
}

// apiKillSwitch handles PUT /api/v1/pipelines/{name}/policies/{policy}.
func (s *Server) apiKillSwitch(c echo.Context) error {
	var b killSwitchBody
	if err := decodeJSON(c, &b); err != nil {
		return s.fail(c, err)
	}
	req, err := s.applyKillSwitch(c, b)
	if err != nil {
		return s.fail(c, err)
	}
	out := map[string]any{"pipeline": req.Pipeline, "policy": req.Policy, "enabled": req.Enabled, "reason": req.Reason, "actor": req.Actor}
	if req.Duration > 0 {
		out["duration"] = req.Duration.String()
		out["until"] = s.clock.Now().Add(req.Duration).UTC()
	}
	return c.JSON(http.StatusOK, out)
}

// killSwitchForm handles the kill switch form of the detail page.
func (s *Server) killSwitchForm(c echo.Context) error {
	enabled := c.FormValue("enabled") == "true"
	b := killSwitchBody{Enabled: &enabled, Reason: c.FormValue("reason"), Duration: c.FormValue("duration")}
	if _, err := s.applyKillSwitch(c, b); err != nil {
		return s.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/pipelines/"+url.PathEscape(c.Param("name")))
}

// liveJSON is the state of a pipeline's adaptive policies and kill switches
// now: the same readings as fusebox_concurrency_limit,
// fusebox_concurrency_inflight, fusebox_timeout_effective_seconds,
// fusebox_rate_limiter_tokens, fusebox_hedges_total and
// fusebox_policy_enabled.
type liveJSON struct {
	ConcurrencyLimit        *int                    `json:"concurrency_limit,omitempty"`
	ConcurrencyInFlight     *int                    `json:"concurrency_inflight,omitempty"`
	TimeoutEffectiveSeconds *float64                `json:"timeout_effective_seconds,omitempty"`
	RateLimiterTokens       *float64                `json:"rate_limiter_tokens,omitempty"`
	Hedges                  *resilience.HedgeCounts `json:"hedges,omitempty"`
	KillSwitches            []resilience.KillSwitch `json:"kill_switches"`
}

// live reads p's adaptive policies and kill switches.
func live(p *resilience.Pipeline) *liveJSON {
	out := &liveJSON{KillSwitches: p.KillSwitches()}
	if out.KillSwitches == nil {
		out.KillSwitches = []resilience.KillSwitch{}
	}
	for _, pol := range p.Policies() {
		switch pol := pol.(type) {
		case *resilience.AdaptiveLimit:
			l, n := pol.Limit(), pol.InFlight()
			out.ConcurrencyLimit, out.ConcurrencyInFlight = &l, &n
		case *resilience.Timeout:
			if pol.Adaptive() != nil || out.TimeoutEffectiveSeconds == nil {
				d := pol.Effective().Seconds()
				out.TimeoutEffectiveSeconds = &d
			}
		case *resilience.RateLimiter:
			t := pol.Tokens()
			out.RateLimiterTokens = &t
		case *resilience.Hedge:
			n := pol.Counts()
			out.Hedges = &n
		}
	}
	return out
}

// switches builds the policy table of p's detail page.
func (s *Server) switches(p *resilience.Pipeline, loggedIn bool, csrf string) templates.Switches {
	sw := templates.Switches{LoggedIn: loggedIn && s.cfg.KillSwitches != nil, CSRF: csrf}
	off := map[resilience.PolicyKind]resilience.KillSwitch{}
	for _, k := range p.KillSwitches() {
		off[k.Policy] = k
	}
	seen := map[resilience.PolicyKind]bool{}
	for _, pol := range p.Policies() {
		kind := resilience.KindOf(pol)
		if kind == 0 || seen[kind] {
			continue
		}
		seen[kind] = true
		name := kind.String()
		ps := templates.PolicyState{Name: name, Action: "/pipelines/" + url.PathEscape(p.Name()) + "/policies/" + name}
		switch pol := pol.(type) {
		case *resilience.AdaptiveLimit:
			ps.Live = fmt.Sprintf("limit %d, %d in flight", pol.Limit(), pol.InFlight())
			ps.Chart = limitChart(pol)
		case *resilience.Timeout:
			ps.Live = "timeout " + fmtDur(pol.Effective())
			if pol.Adaptive() != nil {
				ps.Live += " (adaptive"
				if pol.Strained() {
					ps.Live += ", shortened: strained"
				}
				ps.Live += ")"
			}
		case *resilience.RateLimiter:
			ps.Live = fmt.Sprintf("%.1f of %d tokens", pol.Tokens(), pol.Config().Burst)
		case *resilience.Hedge:
			n := pol.Counts()
			ps.Live = fmt.Sprintf("%d hedges, %d won, delay %s", n.Started, n.Won, fmtDur(pol.Delay()))
		}
		if k, ok := off[kind]; ok {
			ps.Off = true
			ps.OffText = "by " + k.Actor + ": " + k.Reason
			if fh, ok := s.cfg.KillSwitches.(FleetHeld); ok {
				if by, held := fh.FleetHeld(p.Name(), name); held {
					ps.OffText = "by " + by + ", " + k.Actor + ": " + k.Reason
					ps.Action = "" // switched on from the hub only
				}
			}
			if !k.Until.IsZero() {
				ps.OffText += ", until " + s.clockTime(k.Until)
			}
		}
		sw.Policies = append(sw.Policies, ps)
	}
	return sw
}

// limitChart draws an adaptive limit over its latest changes, ending at
// the limit now.
func limitChart(l *resilience.AdaptiveLimit) *templates.Spark {
	h := l.History()
	vals := make([]float64, 0, len(h)+1)
	for _, p := range h {
		vals = append(vals, float64(p.Limit))
	}
	vals = append(vals, float64(l.Limit()))
	if len(vals) == 1 {
		vals = append(vals, vals[0]) // a flat line at the initial limit
	}
	sp := spark(vals, "")
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	sp.Label = fmt.Sprintf("adaptive limit over its last %d changes: from %s to %s, now %d", len(h), fmtNum(lo), fmtNum(hi), l.Limit())
	return &sp
}
