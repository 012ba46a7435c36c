package ui

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/resilience"
)

// OverrideState is the state an operator asks a breaker for.
type OverrideState string

// The override states.
const (
	OverrideForcedOpen   OverrideState = "forced_open"   // reject every call
	OverrideForcedClosed OverrideState = "forced_closed" // let every call through
	OverrideAuto         OverrideState = "auto"          // back to the state machine
)

// Breaker returns the resilience state of a forced override; ok is false
// for OverrideAuto (and for an unknown state).
func (o OverrideState) Breaker() (st resilience.State, ok bool) {
	switch o {
	case OverrideForcedOpen:
		return resilience.StateForcedOpen, true
	case OverrideForcedClosed:
		return resilience.StateForcedClosed, true
	}
	return 0, false
}

// OverrideRequest is a validated request to override a breaker.
type OverrideRequest struct {
	Pipeline string
	State    OverrideState
	// Reason is what the operator wrote; never empty.
	Reason string
	// Actor is who asks: the name given at login, or "api" for the Bearer
	// token. The request's context carries it too (resilience.ActorFrom).
	Actor string
	// Duration is how long a forced state holds before it reverts by
	// itself; zero holds until reverted. Always zero for OverrideAuto.
	Duration time.Duration
	// Until, when not zero, is the end of the override in force, kept
	// (duration "keep"): the override ends then, however little is left,
	// and Duration is what was left of it when the request was validated.
	Until time.Time
}

// Controls applies breaker overrides: cmd/app forces the registry's breaker,
// persists the override and appends to the audit log.
type Controls interface {
	// Override applies req. An unknown pipeline is an error wrapping
	// resilience.ErrUnknownPipeline (404), a pipeline without a breaker
	// one wrapping resilience.ErrNoBreaker (409); an *Error chooses its
	// own status; anything else is a 500.
	Override(ctx context.Context, req OverrideRequest) error
}

// AuditEntry is one entry of the audit log.
type AuditEntry struct {
	At time.Time `json:"at"`
	// Actor is who acted; Action what ("override", "auto", "expired",
	// "faults").
	Actor    string `json:"actor"`
	Action   string `json:"action"`
	Pipeline string `json:"pipeline,omitempty"`
	// From and To are the states (or settings) before and after.
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Until is when a time-boxed override runs out; zero when it does not.
	Until time.Time `json:"until,omitzero"`
}

// AuditLog lists the audit log.
type AuditLog interface {
	// Entries returns up to limit entries, newest first.
	Entries(ctx context.Context, limit int) ([]AuditEntry, error)
}

// Knobs are the fault settings of a simulated downstream. The JSON form is
// the body of PUT /api/v1/demo/downstreams/{name}.
type Knobs struct {
	// ErrorRate in [0, 1] is the share of calls that fail.
	ErrorRate float64 `json:"error_rate"`
	// LatencyMS and JitterMS, from 0 to MaxDelayMS, are the added latency
	// and its spread in milliseconds.
	LatencyMS int `json:"latency_ms"`
	JitterMS  int `json:"jitter_ms"`
	// Outage makes every call fail.
	Outage bool `json:"outage"`
}

// MaxDelayMS bounds Knobs.LatencyMS and Knobs.JitterMS: one minute.
const MaxDelayMS = 60_000

// validate returns an EINVALID *Error naming the first knob out of range.
func (k Knobs) validate() error {
	switch {
	case !(k.ErrorRate >= 0 && k.ErrorRate <= 1):
		return Errorf(EINVALID, "error_rate = %v: must be between 0 and 1", k.ErrorRate)
	case k.LatencyMS < 0 || k.LatencyMS > MaxDelayMS:
		return Errorf(EINVALID, "latency_ms = %d: must be between 0 and %d", k.LatencyMS, MaxDelayMS)
	case k.JitterMS < 0 || k.JitterMS > MaxDelayMS:
		return Errorf(EINVALID, "jitter_ms = %d: must be between 0 and %d", k.JitterMS, MaxDelayMS)
	}
	return nil
}

// Downstream is a simulated downstream of the demo and its knobs.
type Downstream struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Knobs       Knobs  `json:"knobs"`
	// Scenario names the demo scenario running on the downstream, which
	// overrides Knobs while it holds; "" when none runs.
	Scenario string `json:"scenario,omitempty"`
}

// Faults are the demo's fault knobs.
type Faults interface {
	// Downstreams lists the simulated downstreams, sorted by name.
	Downstreams() []Downstream
	// Set changes the knobs of the named downstream (the handlers validate
	// them first). The actor is in ctx (resilience.ActorFrom).
	Set(ctx context.Context, name string, k Knobs) error
}

// MaxReason bounds an override's reason, in bytes.
const MaxReason = 500

// MinOverrideDuration and MaxOverrideDuration bound a time-boxed override:
// a shorter one would end before anyone noticed it (and could end before
// it is applied), a longer one should be an explicit "until reverted".
const (
	MinOverrideDuration = time.Minute
	MaxOverrideDuration = 7 * 24 * time.Hour
)

// overrideBody is the JSON body of PUT /api/v1/pipelines/{name}/breaker.
type overrideBody struct {
	State    string `json:"state"`
	Reason   string `json:"reason"`
	Duration string `json:"duration,omitempty"`
}

// overrideRequest validates an override.
func (s *Server) overrideRequest(ctx context.Context, name string, b overrideBody) (OverrideRequest, error) {
	req := OverrideRequest{Pipeline: name, State: OverrideState(b.State), Reason: strings.TrimSpace(b.Reason), Actor: actorOf(ctx)}
	switch req.State {
	case OverrideForcedOpen, OverrideForcedClosed, OverrideAuto:
	default:
		return req, Errorf(EINVALID, "state = %q: want forced_open, forced_closed or auto", b.State)
	}
	if req.Reason == "" {
		return req, Errorf(EINVALID, "reason is required")
	}
	if len(req.Reason) > MaxReason {
		return req, Errorf(EINVALID, "reason is %d bytes long: at most %d", len(req.Reason), MaxReason)
	}
	if b.Duration == keepDuration {
		// The form's default when an override with an end is in force:
		// the same state keeps the same end.
		return s.keepOverride(req)
	}
	if b.Duration != "" {
		d, err := time.ParseDuration(b.Duration)
		if err != nil || d < MinOverrideDuration || d > MaxOverrideDuration {
			return req, Errorf(EINVALID, "duration = %q: want a duration from 1m to 168h (7 days), such as 15m or 1h", b.Duration)
		}
		if req.State == OverrideAuto {
			return req, Errorf(EINVALID, "duration = %q: only a forced state takes a duration", b.Duration)
		}
		req.Duration = d
	}
	return req, nil
}

// keepDuration is the override form's duration that keeps the end of the
// override in force.
const keepDuration = "keep"

// keepOverride sets req to end when the override in force ends. It is an
// error unless req asks for the state in force and that override has an
// end still ahead.
func (s *Server) keepOverride(req OverrideRequest) (OverrideRequest, error) {
	want, forced := req.State.Breaker()
	if s.cfg.Registry != nil && forced {
		if p, err := s.cfg.Registry.Get(req.Pipeline); err == nil && p.Breaker() != nil {
			if ov := p.Breaker().Metrics().Override; ov != nil && ov.State == want && !ov.Until.IsZero() {
				if d := ov.Until.Sub(s.clock.Now()); d > 0 {
					req.Duration, req.Until = d, ov.Until
					return req, nil
				}
			}
		}
	}
	return req, Errorf(EINVALID, "duration = %q: keeps the end of the override in force, and there is none for %s", keepDuration, req.State)
}

// knownPipeline returns an ENOTFOUND error for a pipeline the dashboard
// does not know.
func (s *Server) knownPipeline(name string) error {
	if s.cfg.Registry != nil {
		if _, err := s.cfg.Registry.Get(name); err == nil {
			return nil
		}
	}
	if _, err := s.cfg.Stats.Pipeline(name); err != nil {
		return Errorf(ENOTFOUND, "unknown pipeline %q", name)
	}
	return nil
}

func (s *Server) applyOverride(c echo.Context, b overrideBody) (OverrideRequest, error) {
	ctx := c.Request().Context()
	name := c.Param("name")
	if s.cfg.Controls == nil {
		return OverrideRequest{}, Errorf(ECONFLICT, "manual breaker control is not enabled")
	}
	if err := s.knownPipeline(name); err != nil {
		return OverrideRequest{}, err
	}
	req, err := s.overrideRequest(ctx, name, b)
	if err != nil {
		return req, err
	}
	err = s.cfg.Controls.Override(ctx, req)
	s.changed() // even a failed override may have changed something
	if err != nil {
		return req, err
	}
	return req, nil
}

// overrideForm handles the override form of the detail page.
func (s *Server) overrideForm(c echo.Context) error {
	b := overrideBody{State: c.FormValue("state"), Reason: c.FormValue("reason"), Duration: c.FormValue("duration")}
	if _, err := s.applyOverride(c, b); err != nil {
		return s.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/pipelines/"+url.PathEscape(c.Param("name")))
}

// apiOverride handles PUT /api/v1/pipelines/{name}/breaker.
func (s *Server) apiOverride(c echo.Context) error {
	if err := s.knownPipeline(c.Param("name")); err != nil {
		return s.fail(c, err)
	}
	var b overrideBody
	if err := decodeJSON(c, &b); err != nil {
		return s.fail(c, err)
	}
	req, err := s.applyOverride(c, b)
	if err != nil {
		return s.fail(c, err)
	}
	out := map[string]any{"pipeline": req.Pipeline, "state": req.State, "reason": req.Reason, "actor": req.Actor}
	switch {
	case !req.Until.IsZero():
		out["duration"] = req.Duration.String()
		out["until"] = req.Until.UTC()
	case req.Duration > 0:
		out["duration"] = req.Duration.String()
		out["until"] = s.clock.Now().Add(req.Duration).UTC()
	}
	return c.JSON(http.StatusOK, out)
}

// maxBody bounds the JSON bodies the API reads.
const maxBody = 64 << 10

// decodeJSON reads one JSON object into v: a body over 64 KiB is an
// ETOOLARGE error; malformed JSON, a key given twice, an unknown field, a
// value of the wrong type or trailing data an EINVALID one that names the
// field in the body's terms.
func decodeJSON(c echo.Context, v any) error {
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return Errorf(EINVALID, "Content-Type = %q: want application/json", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return Errorf(ETOOLARGE, "the body is larger than %d bytes", maxBody)
		}
		return Errorf(EINVALID, "reading the body: %v", err)
	}
	return parseJSON(body, v, true)
}

// downstream returns the named downstream, or an error: ENOTFOUND outside
// the demo or for an unknown name.
func (s *Server) downstream(name string) (Downstream, error) {
	if s.cfg.Faults == nil {
		return Downstream{}, Errorf(ENOTFOUND, "no demo is running")
	}
	for _, d := range s.cfg.Faults.Downstreams() {
		if d.Name == name {
			return d, nil
		}
	}
	return Downstream{}, Errorf(ENOTFOUND, "unknown downstream %q", name)
}

func (s *Server) setKnobs(c echo.Context, name string, k Knobs) (Downstream, error) {
	d, err := s.downstream(name)
	if err != nil {
		return d, err
	}
	if err := k.validate(); err != nil {
		return d, err
	}
	err = s.cfg.Faults.Set(c.Request().Context(), name, k)
	s.changed()
	if err != nil {
		return d, err
	}
	d.Knobs = k
	return d, nil
}

// knobsForm handles the fault sliders of the detail page.
func (s *Server) knobsForm(c echo.Context) error {
	k, err := formKnobs(c)
	if err == nil {
		_, err = s.setKnobs(c, c.Param("name"), k)
	}
	if err != nil {
		return s.fail(c, err)
	}
	back := safeNext(c.FormValue("back"))
	if back == "/" {
		if ref := c.Request().Header.Get("Referer"); ref != "" {
			if u, perr := url.Parse(ref); perr == nil {
				back = safeNext(u.Path)
			}
		}
	}
	return c.Redirect(http.StatusSeeOther, back)
}

// formKnobs reads the knobs of the sliders form.
func formKnobs(c echo.Context) (Knobs, error) {
	var k Knobs
	rate, err := strconv.ParseFloat(c.FormValue("error_rate"), 64)
	if err != nil || math.IsNaN(rate) {
		return k, Errorf(EINVALID, "error_rate = %q: want a number between 0 and 1", c.FormValue("error_rate"))
	}
	k.ErrorRate = rate
	for _, f := range []struct {
		name string
		dst  *int
	}{{"latency_ms", &k.LatencyMS}, {"jitter_ms", &k.JitterMS}} {
		v := c.FormValue(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return k, Errorf(EINVALID, "%s = %q: want a whole number of milliseconds", f.name, v)
		}
		*f.dst = n
	}
	switch v := c.FormValue("outage"); v {
	case "", "false", "off":
	case "true", "on":
		k.Outage = true
	default:
		return k, Errorf(EINVALID, "outage = %q: want true or false", v)
	}
	return k, nil
}

// apiDownstreams handles GET /api/v1/demo/downstreams.
func (s *Server) apiDownstreams(c echo.Context) error {
	if s.cfg.Faults == nil {
		return s.fail(c, Errorf(ENOTFOUND, "no demo is running"))
	}
	ds := s.cfg.Faults.Downstreams()
	if ds == nil {
		ds = []Downstream{}
	}
	return c.JSON(http.StatusOK, map[string]any{"downstreams": ds})
}

// apiSetKnobs handles PUT /api/v1/demo/downstreams/{name}.
func (s *Server) apiSetKnobs(c echo.Context) error {
	cur, err := s.downstream(c.Param("name"))
	if err != nil {
		return s.fail(c, err)
	}
	// Fields the body leaves out keep their current values.
	k := cur.Knobs
	if err := decodeJSON(c, &k); err != nil {
		return s.fail(c, err)
	}
	d, err := s.setKnobs(c, c.Param("name"), k)
	if err != nil {
		return s.fail(c, err)
	}
	return c.JSON(http.StatusOK, d)
}

// changed invalidates the cached bodies and asks for a live update, after
// the server changed something itself.
func (s *Server) changed() {
	s.gen.bump()
	s.hub.poke()
}
