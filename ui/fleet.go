package ui

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/ui/templates"
)

// FleetHub is what the fleet pages and API read and change (*fleet.Hub).
type FleetHub interface {
	// Fleet returns every service; Service one, or an error wrapping
	// fleet.ErrUnknownService.
	Fleet() fleet.FleetView
	Service(name string) (fleet.ServiceView, error)
	// SetOverride and Release write the overrides bucket (breaker
	// overrides and kill switches) and the audit.
	SetOverride(ctx context.Context, o fleet.Override) (fleet.Override, error)
	Release(ctx context.Context, o fleet.Override) error
	// Overrides lists the bucket; Audit the last entries of the stream.
	Overrides(ctx context.Context) ([]fleet.Override, error)
	Audit(ctx context.Context, limit int) ([]fleet.AuditEntry, error)
	// RecentEvents asks an instance for a pipeline's recent events.
	RecentEvents(ctx context.Context, service, instance, pipeline string, limit int) ([]fleet.Event, error)
}

// fleetTopic prefixes the live-update topics of the fleet pages: "fleet:"
// for every service, "fleet:NAME" for one.
const fleetTopic = "fleet:"

// eventsTimeout bounds the wait for an instance's recent events.
const eventsTimeout = 2 * time.Second

// registerFleet mounts the fleet pages and API when Config.Fleet is set.
func (s *Server) registerFleet(e *echo.Echo) {
	if s.cfg.Fleet == nil {
		return
	}
	h, admin, form := s.securityHeaders, s.requireAdmin, s.limitForm
	e.GET("/fleet", s.fleetPage, h)
	e.GET("/fleet/audit", s.fleetAuditPage, h)
	e.GET("/fleet/:service", s.fleetServicePage, h)
	e.GET("/fleet/:service/instances/:instance", s.fleetInstancePage, h)
	e.POST("/fleet/:service/pipelines/:name/breaker", s.fleetOverrideForm, h, form, admin)
	e.GET("/api/v1/fleet", s.apiFleet, h)
	e.GET("/api/v1/fleet/:service/pipelines", s.apiFleetPipelines, h)
	e.PUT("/api/v1/fleet/:service/pipelines/:name/breaker", s.apiFleetOverride, h, admin)
	e.GET("/api/v1/fleet/audit", s.apiFleetAudit, h)
	s.registerFleetKillSwitches(e)
}

// fleetError gives the fleet's errors their codes.
func fleetError(err error) error {
	switch {
	case errors.Is(err, fleet.ErrUnknownService), errors.Is(err, fleet.ErrUnknownPipeline):
		return Errorf(ENOTFOUND, "%s", strings.TrimPrefix(err.Error(), "fleet: "))
	case errors.Is(err, fleet.ErrInvalidOverride), errors.Is(err, fleet.ErrInvalidName):
		return Errorf(EINVALID, "%s", strings.TrimPrefix(err.Error(), "fleet: "))
	}
	return err
}

func serviceURL(name string) string { return "/fleet/" + url.PathEscape(name) }

func instanceURL(service, id, pipeline string) string {
	u := serviceURL(service) + "/instances/" + url.PathEscape(id)
	if pipeline != "" {
		u += "?pipeline=" + url.QueryEscape(pipeline)
	}
	return u
}

// fleetServiceView formats a service; withInstances adds its instance list.
func (s *Server) fleetServiceView(sv fleet.ServiceView, now time.Time, withInstances bool) templates.FleetService {
	v := templates.FleetService{
		Name: sv.Name, URL: serviceURL(sv.Name),
		Up: strconv.Itoa(sv.Up), Stale: strconv.Itoa(sv.Stale), Gone: strconv.Itoa(sv.Gone),
	}
	var open, total int
	for _, p := range sv.Pipelines {
		fp := templates.FleetPipeline{
			Service: sv.Name, Name: p.Name,
			OpenText: strconv.Itoa(p.Open) + " of " + strconv.Itoa(p.Instances) + " open", AnyOpen: p.Open > 0, HasBreaker: p.HasBreaker,
			CallsPerSec: fmtRate(p.CallsPerSecond), RetriesPerSec: fmtRate(p.RetriesPerSecond), RejectedPerSec: fmtRate(p.RejectionsPerSecond),
			Success: "–", P50: "–", P99: "–",
			Window: fmtSpanWords(p.Window, 0), LatencyWindow: fmtSpanWords(p.LatencyWindow, 0),
			PoliciesOff: policiesOffText(p),
		}
		if !p.HasBreaker {
			fp.OpenText = "no breaker"
		}
		if p.Counts.CallCount() > 0 {
			fp.Success = fmtPct(p.SuccessRate)
		}
		if p.Latency.Count > 0 {
			fp.P50, fp.P99 = fmtDur(p.Latency.P50), fmtDur(p.Latency.P99)
		}
		if withInstances || len(p.Breakers) <= maxStripCells {
			for _, b := range p.Breakers {
				fp.Strip = append(fp.Strip, s.fleetBreaker(sv.Name, p.Name, b))
			}
		} else {
			fp.Strip = stripSummary(sv.Name, p)
		}
		if p.HasBreaker {
			open += p.Open
			total += p.Instances
		}
		v.Pipelines = append(v.Pipelines, fp)
	}
	if open > 0 {
		v.Open = strconv.Itoa(open) + " of " + strconv.Itoa(total) + " breakers open"
	}
	if withInstances {
		for _, in := range sv.Instances {
			v.Instances = append(v.Instances, templates.FleetInstance{
				ID: in.ID, State: in.State.String(), LastSeen: s.clockTime(in.LastSeen),
				Age: fmtDur(in.Age.Round(100 * time.Millisecond)), URL: instanceURL(sv.Name, in.ID, ""),
				Lost: strconv.FormatUint(in.Lost, 10),
			})
		}
	}
	return v
}

// maxStripCells is the most instances the fleet page shows a cell each
// for; a pipeline on more has a cell per breaker state with its count (the
// service's page still shows every instance).
const maxStripCells = 24

// stripSummary is the strip of a pipeline on many instances: one cell per
// breaker state, with the number of instances in it.
func stripSummary(service string, p fleet.PipelineView) []templates.FleetBreaker {
	var counts [resilience.NumStates]int
	none := 0
	for _, b := range p.Breakers {
		if b.NoBreaker {
			none++
			continue
		}
		counts[b.State]++
	}
	var out []templates.FleetBreaker
	for st, n := range counts {
		if n == 0 {
			continue
		}
		state := resilience.State(st)
		out = append(out, templates.FleetBreaker{
			Instance: state.String(), Word: stateWord(state) + " " + strconv.Itoa(n), Class: stateClass(state), Wide: true,
			Title: strconv.Itoa(n) + " instances " + state.String(), URL: serviceURL(service),
		})
	}
	if none > 0 {
		out = append(out, templates.FleetBreaker{Instance: "none", Word: "no breaker " + strconv.Itoa(none), Class: "no-breaker", Wide: true, Title: strconv.Itoa(none) + " instances without a breaker", URL: serviceURL(service)})
	}
	return out
}

// fleetBreaker is one cell of a strip: the word of the state, never the
// colour alone.
func (s *Server) fleetBreaker(service, pipeline string, b fleet.InstanceBreaker) templates.FleetBreaker {
	word := map[resilience.State]string{
		resilience.StateClosed: "C", resilience.StateOpen: "O", resilience.StateHalfOpen: "H",
		resilience.StateForcedOpen: "FO", resilience.StateForcedClosed: "FC",
	}[b.State]
	if b.NoBreaker {
		return templates.FleetBreaker{Instance: b.Instance, Word: "–", Class: "no-breaker", Title: b.Instance + ": no breaker", URL: instanceURL(service, b.Instance, pipeline)}
	}
	title := b.Instance + ": " + b.State.String()
	if b.InstanceState != fleet.InstanceUp {
		title += " (" + b.InstanceState.String() + ")"
	}
	if b.Override != 0 {
		title += ", fleet override #" + strconv.FormatUint(b.Override, 10)
	}
	return templates.FleetBreaker{Instance: b.Instance, Word: word, Class: stateClass(b.State), Title: title, URL: instanceURL(service, b.Instance, pipeline)}
}

// fleetPage renders GET /fleet.
func (s *Server) fleetPage(c echo.Context) error {
	p := s.page(c, "Fleet", "fleet")
	p.Events = "/events?fleet=" + url.QueryEscape(fleetTopic)
	return s.render(c, http.StatusOK, layout(p, templates.FleetOverviewPage(s.fleetView(""))))
}

// fleetView formats every service ("") or one.
func (s *Server) fleetView(service string) templates.FleetPage {
	fv := s.cfg.Fleet.Fleet()
	var v templates.FleetPage
	for _, sv := range fv.Services {
		if service == "" || sv.Name == service {
			v.Services = append(v.Services, s.fleetServiceView(sv, fv.Time, service != ""))
		}
	}
	return v
}

// fleetFragments renders the live update of a fleet topic: a "tile" event
// with every service for the fleet page, with the service's section for a
// service's page.
func (s *Server) fleetFragments(ctx context.Context, service string) ([]byte, error) {
	var buf bytes.Buffer
	if service == "" {
		err := writeEvent(ctx, &buf, "tile", templates.FleetServices(s.fleetView("")))
		return buf.Bytes(), err
	}
	for _, sv := range s.fleetView(service).Services {
		if err := writeEvent(ctx, &buf, "tile", templates.FleetServiceView(sv)); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// fleetServicePage renders GET /fleet/{service}.
func (s *Server) fleetServicePage(c echo.Context) error {
	ctx := c.Request().Context()
	name := c.Param("service")
	sv, err := s.cfg.Fleet.Service(name)
	if err != nil {
		return s.fail(c, fleetError(err))
	}
	p := s.page(c, name, "fleet")
	p.Events = "/events?fleet=" + url.QueryEscape(fleetTopic+name)
	v := templates.FleetServicePage{Service: s.fleetServiceView(sv, s.clock.Now(), true), Controls: p.LoggedIn, CSRF: p.CSRF}
	for _, in := range sv.Instances {
		if in.State != fleet.InstanceGone {
			v.InstanceIDs = append(v.InstanceIDs, in.ID)
		}
	}
	overrides, err := s.cfg.Fleet.Overrides(ctx)
	if err != nil {
		return s.fail(c, err)
	}
	for _, o := range overrides {
		if o.Service == name && !o.KillSwitch() {
			v.Overrides = append(v.Overrides, s.fleetOverrideView(o))
		}
	}
	v.Policies = s.fleetPolicies(sv, overrides, v.InstanceIDs)
	return s.render(c, http.StatusOK, layout(p, templates.FleetServicePageView(v)))
}

func (s *Server) fleetOverrideView(o fleet.Override) templates.FleetOverride {
	v := templates.FleetOverride{
		Pipeline: o.Pipeline, Scope: scopeOf(o.Instance), State: o.State.String(),
		Actor: o.Actor, Reason: o.Reason, At: s.stamp(o.At), Until: "until released",
	}
	if !o.Until.IsZero() {
		v.Until = s.stamp(o.Until)
		if !o.Active(s.clock.Now()) {
			v.Until += " (ended)"
		}
	}
	return v
}

func scopeOf(instance string) string {
	if instance == "" {
		return "service"
	}
	return "instance " + instance
}

// fleetPipeline returns the named service's view and that of its named
// pipeline: ENOTFOUND when either is unknown.
func (s *Server) fleetPipeline(service, name string) (fleet.ServiceView, *fleet.PipelineView, error) {
	sv, err := s.cfg.Fleet.Service(service)
	if err != nil {
		return fleet.ServiceView{}, nil, fleetError(err)
	}
	for i := range sv.Pipelines {
		if sv.Pipelines[i].Name == name {
			return sv, &sv.Pipelines[i], nil
		}
	}
	return fleet.ServiceView{}, nil, Errorf(ENOTFOUND, "unknown pipeline %q in service %q", name, service)
}

// fleetInstance returns the instance of sv with the id: ENOTFOUND when
// it has none.
func fleetInstance(sv fleet.ServiceView, id string) (*fleet.InstanceView, error) {
	for i := range sv.Instances {
		if sv.Instances[i].ID == id {
			return &sv.Instances[i], nil
		}
	}
	return nil, Errorf(ENOTFOUND, "unknown instance %q of service %q", id, sv.Name)
}

// fleetInstancePage renders GET /fleet/{service}/instances/{instance}: the
// instance's breakers, and a pipeline's recent events asked of it now.
func (s *Server) fleetInstancePage(c echo.Context) error {
	service, id := c.Param("service"), c.Param("instance")
	sv, err := s.cfg.Fleet.Service(service)
	if err != nil {
		return s.fail(c, fleetError(err))
	}
	in, err := fleetInstance(sv, id)
	if err != nil {
		return s.fail(c, err)
	}
	v := templates.FleetInstancePage{
		Service: service, Instance: id, State: in.State.String(), LastSeen: s.stamp(in.LastSeen),
		ServiceURL: serviceURL(service), Pipeline: c.QueryParam("pipeline"),
	}
	for _, p := range sv.Pipelines {
		for _, b := range p.Breakers {
			if b.Instance == id {
				fb := s.fleetBreaker(service, p.Name, b)
				fb.Instance = p.Name
				v.Breakers = append(v.Breakers, fb)
			}
		}
	}
	v.Policies = instancePolicies(sv, id)
	if v.Pipeline == "" && len(sv.Pipelines) > 0 {
		v.Pipeline = sv.Pipelines[0].Name
	}
	for _, p := range sv.Pipelines {
		v.Pipelines = append(v.Pipelines, templates.FleetPipelineLink{Name: p.Name, URL: instanceURL(service, id, p.Name), Current: p.Name == v.Pipeline})
	}
	if v.Pipeline != "" {
		ctx, cancel := context.WithTimeout(c.Request().Context(), eventsTimeout)
		events, err := s.cfg.Fleet.RecentEvents(ctx, service, id, v.Pipeline, 100)
		cancel()
		if err != nil {
			v.EventsError = "The instance did not answer: " + strings.TrimPrefix(err.Error(), "fleet: ")
		}
		for i := len(events) - 1; i >= 0; i-- { // newest first
			v.Events = append(v.Events, s.fleetEventView(events[i]))
		}
	}
	return s.render(c, http.StatusOK, layout(s.page(c, id, "fleet"), templates.FleetInstancePageView(v)))
}

func (s *Server) fleetEventView(e fleet.Event) templates.FleetEvent {
	v := templates.FleetEvent{Time: s.clockTime(e.Time) + e.Time.Format(".000"), Kind: e.Kind, Call: callID(e.Call), Outcome: e.Outcome}
	if e.Attempt > 0 {
		v.Attempt = strconv.Itoa(e.Attempt)
	}
	if e.Duration > 0 {
		v.Duration = fmtDur(e.Duration)
	}
	var detail []string
	if e.From != "" || e.To != "" {
		detail = append(detail, e.From+" → "+e.To)
	}
	if e.Delay > 0 {
		detail = append(detail, "wait "+fmtDur(e.Delay))
	}
	if e.Reason != "" {
		detail = append(detail, e.Reason)
	}
	if e.Error != "" {
		detail = append(detail, e.Error)
	}
	v.Detail = strings.Join(detail, " · ")
	return v
}

// fleetAuditPage renders GET /fleet/audit from the audit stream.
func (s *Server) fleetAuditPage(c echo.Context) error {
	entries, err := s.cfg.Fleet.Audit(c.Request().Context(), auditPageSize)
	if err != nil {
		return s.fail(c, err)
	}
	var v templates.FleetAudit
	for _, e := range entries {
		v.Entries = append(v.Entries, templates.FleetAuditEntry{
			Seq: strconv.FormatUint(e.Seq, 10), Time: s.stamp(e.Time), Actor: e.Actor, Action: e.Action,
			Service: e.Service, ServiceURL: serviceURL(e.Service), Pipeline: e.Pipeline, Scope: scopeOf(e.Instance),
			State: strings.TrimSpace(e.Policy + " " + e.State), Reason: e.Reason, Until: s.stamp(e.Until),
		})
	}
	return s.render(c, http.StatusOK, layout(s.page(c, "Fleet audit", "fleet"), templates.FleetAuditPage(v)))
}

// fleetOverrideBody is the body of PUT /api/v1/fleet/{service}/pipelines/{name}/breaker:
// that of a single app's override, plus the instance of a narrower scope.
type fleetOverrideBody struct {
	State    string `json:"state"`
	Reason   string `json:"reason"`
	Duration string `json:"duration,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// applyFleetOverride validates and applies b to the pipeline of the
// request's route.
func (s *Server) applyFleetOverride(c echo.Context, b fleetOverrideBody) (fleet.Override, error) {
	ctx := c.Request().Context()
	service, name := c.Param("service"), c.Param("name")
	sv, pv, err := s.fleetPipeline(service, name)
	if err != nil {
		return fleet.Override{}, err
	}
	if !pv.HasBreaker {
		return fleet.Override{}, Errorf(ECONFLICT, "pipeline %q of service %q has no circuit breaker", name, service)
	}
	if b.Instance != "" {
		if _, err := fleetInstance(sv, b.Instance); err != nil {
			return fleet.Override{}, err
		}
	}
	req, err := s.overrideRequest(ctx, name, overrideBody{State: b.State, Reason: b.Reason, Duration: b.Duration})
	if err != nil {
		return fleet.Override{}, err
	}
	o := fleet.Override{Service: service, Pipeline: name, Instance: b.Instance, Reason: req.Reason, Actor: req.Actor}
	st, forced := req.State.Breaker()
	if !forced {
		err := s.cfg.Fleet.Release(ctx, fleet.Override{Service: service, Pipeline: name, Instance: b.Instance, Actor: req.Actor, Reason: req.Reason})
		return o, fleetError(err)
	}
	o.State = st
	switch {
	case !req.Until.IsZero():
		o.Until = req.Until
	case req.Duration > 0:
		o.Until = s.clock.Now().Add(req.Duration)
	}
	o, err = s.cfg.Fleet.SetOverride(ctx, o)
	return o, fleetError(err)
}

// fleetOverrideForm handles the scoped override form of a service page.
func (s *Server) fleetOverrideForm(c echo.Context) error {
	b := fleetOverrideBody{State: c.FormValue("state"), Reason: c.FormValue("reason"), Duration: c.FormValue("duration"), Instance: c.FormValue("instance")}
	if _, err := s.applyFleetOverride(c, b); err != nil {
		return s.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, serviceURL(c.Param("service")))
}

// apiFleetOverride handles PUT /api/v1/fleet/{service}/pipelines/{name}/breaker.
func (s *Server) apiFleetOverride(c echo.Context) error {
	var b fleetOverrideBody
	if err := decodeJSON(c, &b); err != nil {
		return s.fail(c, err)
	}
	o, err := s.applyFleetOverride(c, b)
	if err != nil {
		return s.fail(c, err)
	}
	out := fleetOverrideJSON{
		Service: o.Service, Pipeline: o.Pipeline, Instance: o.Instance, State: "auto",
		Reason: o.Reason, Actor: o.Actor, Revision: o.Revision,
	}
	if o.State.Forced() {
		out.State = o.State.String()
	}
	if !o.Until.IsZero() {
		u := o.Until.UTC()
		out.Until = &u
	}
	return c.JSON(http.StatusOK, out)
}

type fleetOverrideJSON struct {
	Service  string     `json:"service"`
	Pipeline string     `json:"pipeline"`
	Instance string     `json:"instance,omitempty"`
	State    string     `json:"state"`
	Reason   string     `json:"reason"`
	Actor    string     `json:"actor"`
	At       *time.Time `json:"at,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
	Revision uint64     `json:"revision,omitempty"`
}

type fleetJSON struct {
	Time     time.Time         `json:"time"`
	Services []fleetServiceRow `json:"services"`
}

type fleetServiceRow struct {
	Name      string             `json:"name"`
	Up        int                `json:"up"`
	Stale     int                `json:"stale"`
	Gone      int                `json:"gone"`
	Instances []fleetInstanceRow `json:"instances"`
}

type fleetInstanceRow struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`
	LastSeen   time.Time `json:"last_seen"`
	AgeSeconds float64   `json:"age_seconds"`
	Lost       uint64    `json:"lost"`
}

// apiFleet handles GET /api/v1/fleet: services with their instances.
func (s *Server) apiFleet(c echo.Context) error {
	fv := s.cfg.Fleet.Fleet()
	out := fleetJSON{Time: fv.Time.UTC(), Services: []fleetServiceRow{}}
	for _, sv := range fv.Services {
		row := fleetServiceRow{Name: sv.Name, Up: sv.Up, Stale: sv.Stale, Gone: sv.Gone, Instances: []fleetInstanceRow{}}
		for _, in := range sv.Instances {
			row.Instances = append(row.Instances, fleetInstanceRow{
				ID: in.ID, State: in.State.String(), LastSeen: in.LastSeen.UTC(), AgeSeconds: in.Age.Seconds(), Lost: in.Lost,
			})
		}
		out.Services = append(out.Services, row)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

type fleetPipelineJSON struct {
	Name                string              `json:"name"`
	Instances           int                 `json:"instances"`
	Open                int                 `json:"open"`
	HasBreaker          bool                `json:"has_breaker"`
	WindowSeconds       float64             `json:"window_seconds"`
	Calls               outcomesJSON        `json:"calls"`
	CallsPerSecond      float64             `json:"calls_per_second"`
	SuccessRate         *float64            `json:"success_rate"`
	RetriesPerSecond    float64             `json:"retries_per_second"`
	RejectionsPerSecond float64             `json:"rejections_per_second"`
	Latency             fleetLatencyJSON    `json:"latency"`
	Breakers            []fleetBreakerJSON  `json:"breakers"`
	Overrides           []fleetOverrideJSON `json:"overrides"`
	// Policies count the instances by the state of each kind of policy;
	// KillSwitches are the fleet's switches of the pipeline.
	Policies     []fleet.PolicyCount   `json:"policies"`
	KillSwitches []fleetKillSwitchJSON `json:"kill_switches"`
}

type fleetLatencyJSON struct {
	WindowSeconds float64 `json:"window_seconds"`
	Count         uint64  `json:"count"`
	P50Seconds    float64 `json:"p50_seconds"`
	P90Seconds    float64 `json:"p90_seconds"`
	P99Seconds    float64 `json:"p99_seconds"`
}

type fleetBreakerJSON struct {
	Instance       string  `json:"instance"`
	InstanceState  string  `json:"instance_state"`
	State          string  `json:"state"`
	NoBreaker      bool    `json:"no_breaker,omitempty"`
	Override       uint64  `json:"override,omitempty"`
	CallsPerSecond float64 `json:"calls_per_second"`
	// Policies, Off and FleetOff are what the instance reports: its kinds
	// of policy, those switched off, those of them the fleet switched off.
	Policies fleet.PolicySet `json:"policies"`
	Off      fleet.PolicySet `json:"off"`
	FleetOff fleet.PolicySet `json:"fleet_off"`
}

// apiFleetPipelines handles GET /api/v1/fleet/{service}/pipelines.
func (s *Server) apiFleetPipelines(c echo.Context) error {
	name := c.Param("service")
	sv, err := s.cfg.Fleet.Service(name)
	if err != nil {
		return s.fail(c, fleetError(err))
	}
	overrides, err := s.cfg.Fleet.Overrides(c.Request().Context())
	if err != nil {
		return s.fail(c, err)
	}
	out := struct {
		Service   string              `json:"service"`
		Pipelines []fleetPipelineJSON `json:"pipelines"`
	}{Service: name, Pipelines: []fleetPipelineJSON{}}
	for _, p := range sv.Pipelines {
		pj := fleetPipelineJSON{
			Name: p.Name, Instances: p.Instances, Open: p.Open, HasBreaker: p.HasBreaker, WindowSeconds: p.Window.Seconds(),
			Calls: outcomes(p.Counts.Calls), CallsPerSecond: p.CallsPerSecond,
			RetriesPerSecond: p.RetriesPerSecond, RejectionsPerSecond: p.RejectionsPerSecond,
			Latency: fleetLatencyJSON{
				WindowSeconds: p.LatencyWindow.Seconds(), Count: p.Latency.Count,
				P50Seconds: p.Latency.P50.Seconds(), P90Seconds: p.Latency.P90.Seconds(), P99Seconds: p.Latency.P99.Seconds(),
			},
			Breakers: []fleetBreakerJSON{}, Overrides: []fleetOverrideJSON{},
			Policies: p.PolicyCounts(), KillSwitches: []fleetKillSwitchJSON{},
		}
		if p.Counts.CallCount() > 0 {
			r := p.SuccessRate
			pj.SuccessRate = &r
		}
		for _, b := range p.Breakers {
			pj.Breakers = append(pj.Breakers, fleetBreakerJSON{
				Instance: b.Instance, InstanceState: b.InstanceState.String(), State: b.State.String(), NoBreaker: b.NoBreaker,
				Override: b.Override, CallsPerSecond: b.CallsPerSecond,
				Policies: b.Policies, Off: b.Off, FleetOff: b.FleetOff,
			})
		}
		for _, o := range overrides {
			if o.Service != name || o.Pipeline != p.Name {
				continue
			}
			if o.KillSwitch() {
				pj.KillSwitches = append(pj.KillSwitches, fleetKillSwitchOf(o))
				continue
			}
			at := o.At.UTC()
			oj := fleetOverrideJSON{Service: o.Service, Pipeline: o.Pipeline, Instance: o.Instance, State: o.State.String(), Reason: o.Reason, Actor: o.Actor, At: &at, Revision: o.Revision}
			if !o.Until.IsZero() {
				u := o.Until.UTC()
				oj.Until = &u
			}
			pj.Overrides = append(pj.Overrides, oj)
		}
		out.Pipelines = append(out.Pipelines, pj)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// apiFleetAudit handles GET /api/v1/fleet/audit: the stream's last
// entries, newest first.
func (s *Server) apiFleetAudit(c echo.Context) error {
	entries, err := s.cfg.Fleet.Audit(c.Request().Context(), auditPageSize)
	if err != nil {
		return s.fail(c, err)
	}
	if entries == nil {
		entries = []fleet.AuditEntry{}
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": entries})
}
