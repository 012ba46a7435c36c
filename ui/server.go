// Package ui is the dashboard and the JSON API of Fusebox: echo handlers
// that render templ components (package ui/templates) from the
// aggregator's snapshots, server-sent live updates, manual breaker controls
// behind an admin login, and the demo's fault knobs.
//
// The package declares the small interfaces it consumes (Stats, Controls,
// AuditLog, Faults, SLOReader, AlertLister, AlertReceiver, WebhookReader);
// cmd/app implements them with the aggregator, the store and the demo, or
// passes telemetry's SLO engine, alert manager and webhook notifier as
// they are, and mounts the routes with (*Server).Register.
package ui

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
	"github.com/fusebox-dev/fusebox/ui/templates"
)

// Stats is what the dashboard reads of the aggregator
// (*telemetry.Aggregator, or an adapter around it).
type Stats interface {
	// Snapshot returns the figures of every pipeline, sorted by name.
	Snapshot() telemetry.Snapshot
	// Pipeline returns the detail of one pipeline, or an error wrapping
	// telemetry.ErrUnknownPipeline.
	Pipeline(name string) (telemetry.PipelineSnapshot, error)
	// Subscribe returns a channel that receives a value when the figures
	// change (it may coalesce changes, and must never block the sender),
	// and a function that ends the subscription.
	Subscribe() (changes <-chan struct{}, cancel func())
}

// Config configures a Server. Stats and AdminToken are required; every
// other field has a documented zero value.
type Config struct {
	// Stats provides the figures. Required.
	Stats Stats
	// Registry describes the policies in force and the overrides' end
	// times. Nil: the pages show no policy settings and every pipeline is
	// taken to have a breaker.
	Registry *resilience.Registry
	// Controls applies breaker overrides. Nil: the override forms are
	// hidden and the override routes answer 501.
	Controls Controls
	// KillSwitches switches policies off and on (killswitch.go). Nil: the
	// kill switch routes answer 409.
	KillSwitches KillSwitches
	// Reloader re-reads the configuration (reload.go). Nil: POST
	// /api/v1/config/reload answers 409.
	Reloader Reloader
	// Audit lists the audit log. Nil: the audit page is empty.
	Audit AuditLog
	// Faults are the demo's fault knobs. Nil outside the demo: no sliders,
	// and the /demo routes answer 404.
	Faults Faults
	// Scenarios are the demo's scenarios. Nil outside the demo: no
	// scenario panel, and the scenario routes answer 404.
	Scenarios Scenarios
	// SLOs reports the SLOs (*alerting.SLOEngine). Nil: no SLO sections,
	// no budget line on the tiles, and /slos says none is configured.
	SLOs SLOReader
	// Alerts lists the alerts (*alerting.AlertManager). Nil when alerting
	// is off: the alerts page says so and GET /api/v1/alerts answers an
	// empty list.
	Alerts AlertLister
	// AlertReceiver takes the webhooks of Alertmanager posted to
	// POST /api/v1/alertmanager (*alerting.AlertManager). Nil: that route
	// answers 404.
	AlertReceiver AlertReceiver
	// Webhooks lists the webhook deliveries and the outbox
	// (*alerting.WebhookNotifier). Nil: the alerts page shows no
	// deliveries.
	Webhooks WebhookReader
	// Sessions keeps the sessions ended by a logout. Nil: they are kept in
	// memory, and a restart forgets them (changing AdminToken still ends
	// every session).
	Sessions Sessions
	// Fleet is the hub of a fleet (*fleet.Hub): its pages under /fleet and
	// its API under /api/v1/fleet. Nil: no fleet routes.
	Fleet FleetHub
	// Routes lists the gateway's routes for the overview and
	// GET /api/v1/routes. Nil: no gateway, no routes section.
	Routes GatewayRoutes
	// Ready reports readiness for GET /readyz. Nil: always ready.
	Ready func(ctx context.Context) error
	// AdminToken is the admin secret: the Bearer token of the API and the
	// password of the login form. Required (cmd/app generates one when
	// none is configured).
	AdminToken string
	// Title is the site title in the header. "" means "Fusebox".
	Title string
	// Clock tells time (sessions, rate limits, displayed durations). Nil
	// means resilience.SystemClock().
	Clock resilience.Clock
	// Logger receives errors the clients do not see. Nil discards them.
	Logger *slog.Logger
	// Secure marks the session cookie Secure: set it when serving TLS.
	Secure bool
	// SessionTTL is how long a login lasts. Zero means 12 hours.
	SessionTTL time.Duration
	// UpdateInterval is the shortest time between two live updates sent to
	// a client. Zero means one second.
	UpdateInterval time.Duration
	// CacheTTL is how long the overview's tiles and the JSON list of
	// pipelines are reused before they are rendered again (overrides and
	// knob changes invalidate them at once). Zero means UpdateInterval; a
	// negative value renders every request.
	CacheTTL time.Duration
	// MaxStreams bounds the concurrent GET /events clients; more are
	// answered 503. Zero means 1,000.
	MaxStreams int
	// MaxStreamsPerClient bounds the concurrent GET /events clients of one
	// client address; more are answered 429. Zero means 10.
	MaxStreamsPerClient int
	// RequireLogin makes the dashboard, its live stream and the GET API
	// need a session or the Bearer token, like the controls. False: they
	// are open to anyone who can reach the address (cmd/app turns it on
	// for a listen address other than loopback unless told otherwise).
	// /login, /static, /healthz and /readyz stay open.
	RequireLogin bool
	// MaxLoginFailures is how many wrong admin tokens (login form or
	// Bearer) one client address may send in a minute; further attempts
	// are answered 429 with Retry-After until the minute ends. Zero means
	// 10.
	MaxLoginFailures int
	// MaxLoginFailuresTotal is the same bound for all clients together.
	// Zero means 100.
	MaxLoginFailuresTotal int
	// Location is the time zone of the times shown on pages. Nil means
	// time.Local.
	Location *time.Location
}

// Server serves the dashboard and the API. It is safe for concurrent use.
// Close ends the live-update streams (an http.Server's Shutdown does not
// end them by itself).
type Server struct {
	cfg   Config
	log   *slog.Logger
	clock resilience.Clock
	loc   *time.Location
	auth  authenticator
	// failures limits the guessing of the admin token.
	failures *failureLimiter
	sessions Sessions
	assets   assets
	hub      *hub
	bufs     sync.Pool
	// gen counts overrides and knob changes; tiles and list cache the
	// overview's tiles and the API's list of pipelines.
	gen         generation
	tiles, list memo
}

// New returns a Server, or an error naming the first missing or invalid
// field of cfg.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Stats == nil:
		return nil, errors.New("ui: Config.Stats must not be nil")
	case strings.TrimSpace(cfg.AdminToken) == "":
		return nil, errors.New("ui: Config.AdminToken must not be empty")
	case strings.TrimSpace(cfg.AdminToken) != cfg.AdminToken:
		return nil, errors.New("ui: Config.AdminToken must not begin or end with whitespace (presented tokens are trimmed)")
	case repeatsOneChar(cfg.AdminToken):
		return nil, errors.New("ui: Config.AdminToken must not repeat one character")
	case cfg.SessionTTL < 0:
		return nil, errors.New("ui: Config.SessionTTL = " + cfg.SessionTTL.String() + ": must not be negative")
	case cfg.UpdateInterval < 0:
		return nil, errors.New("ui: Config.UpdateInterval = " + cfg.UpdateInterval.String() + ": must not be negative")
	case cfg.MaxStreams < 0 || cfg.MaxStreamsPerClient < 0:
		return nil, errors.New("ui: Config.MaxStreams and MaxStreamsPerClient must not be negative")
	case cfg.MaxLoginFailures < 0 || cfg.MaxLoginFailuresTotal < 0:
		return nil, errors.New("ui: Config.MaxLoginFailures and MaxLoginFailuresTotal must not be negative")
	}
	if cfg.Title == "" {
		cfg.Title = "Fusebox"
	}
	if cfg.Clock == nil {
		cfg.Clock = resilience.SystemClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.UpdateInterval == 0 {
		cfg.UpdateInterval = time.Second
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = cfg.UpdateInterval
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = 1000
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.MaxStreamsPerClient == 0 {
		cfg.MaxStreamsPerClient = 10
	}
	if cfg.Sessions == nil {
		cfg.Sessions = &memorySessions{}
	}
	if cfg.MaxLoginFailures == 0 {
		cfg.MaxLoginFailures = 10
	}
	if cfg.MaxLoginFailuresTotal == 0 {
		cfg.MaxLoginFailuresTotal = 100
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		clock:    cfg.Clock,
		loc:      cfg.Location,
		auth:     newAuthenticator(cfg.AdminToken, cfg.SessionTTL, cfg.Secure),
		failures: newFailureLimiter(cfg.MaxLoginFailures, cfg.MaxLoginFailuresTotal),
		sessions: cfg.Sessions,
		assets:   a,
		bufs:     sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
	s.hub = newHub(s)
	return s, nil
}

// Register mounts every route of the dashboard and the API on e, each with
// the security headers. GET /metrics is not among them.
func (s *Server) Register(e *echo.Echo) {
	h := s.guard
	admin := s.requireAdmin

	e.GET("/", s.overview, h)
	e.GET("/pipelines/:name", s.detail, h)
	e.GET("/alerts", s.alertsPage, h)
	e.GET("/slos", s.slosPage, h)
	e.GET("/audit", s.auditPage, h)
	e.GET("/events", s.events, h)
	e.GET("/static/*", s.static, h)
	e.GET("/login", s.loginForm, h)
	form := s.limitForm
	e.POST("/login", s.login, h, form)
	e.POST("/logout", s.logout, h, form, admin)
	e.POST("/pipelines/:name/breaker", s.overrideForm, h, form, admin)
	e.POST("/demo/downstreams/:name", s.knobsForm, h, form, admin)
	e.POST("/demo/scenarios/:name", s.scenarioForm, h, form, admin)
	e.GET("/healthz", s.healthz, h)
	e.GET("/readyz", s.readyz, h)

	e.GET("/api/v1/pipelines", s.apiPipelines, h)
	e.GET("/api/v1/routes", s.apiRoutes, h)
	e.GET("/api/v1/pipelines/:name", s.apiPipeline, h)
	e.PUT("/api/v1/pipelines/:name/breaker", s.apiOverride, h, admin)
	e.GET("/api/v1/audit", s.apiAudit, h)
	e.GET("/api/v1/alerts", s.apiAlerts, h)
	e.POST("/api/v1/alertmanager", s.apiAlertmanager, h, s.requireBearer)
	e.GET("/api/v1/demo/downstreams", s.apiDownstreams, h)
	e.PUT("/api/v1/demo/downstreams/:name", s.apiSetKnobs, h, admin)
	s.registerFleet(e)
	s.registerKillSwitches(e)
	s.registerReload(e)
	e.GET("/api/v1/demo/scenarios", s.apiScenarios, h)
	e.PUT("/api/v1/demo/scenarios/:name", s.apiSetScenario, h, admin)
}

// Close ends every live-update stream and refuses new ones. Call it when
// the HTTP server shuts down (http.Server.RegisterOnShutdown), since
// streams never go idle by themselves. It returns nil.
func (s *Server) Close() error {
	s.hub.close()
	return nil
}

// contentSecurityPolicy allows the page's own scripts, styles and SSE
// stream only: no inline script or style, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// securityHeaders sets the security headers on every response of the
// routes it wraps, errors included.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		return next(c)
	}
}

// SecurityHeaders is the middleware Register puts on every route; mount it
// with e.Use to cover the routes of others (and echo's 404s) too.
func (s *Server) SecurityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return s.securityHeaders(next)
}

// render renders comp into a buffer and, only when that succeeded, writes
// it with status: a failed render never sends half a page.
func (s *Server) render(c echo.Context, status int, comp templ.Component) error {
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.bufs.Put(buf)
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// fail answers err: JSON {"error": ...} on /api/ routes, an error page
// elsewhere, with the status statusOf gives. Errors the client does not see
// are logged.
func (s *Server) fail(c echo.Context, err error) error {
	status, msg := statusOf(err)
	if status >= 500 && status != http.StatusServiceUnavailable { // 503s are refusals, logged where they are made
		s.log.Error("ui: request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if c.Response().Committed {
		return nil
	}
	if path := c.Request().URL.Path; strings.HasPrefix(path, "/api/") || path == "/events" {
		// An event stream's client reads no page either.
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(status, map[string]string{"error": msg})
	}
	p := s.page(c, http.StatusText(status), "")
	back := "/"
	if status == http.StatusUnauthorized {
		back = "/login?next=" + c.Request().URL.Path
	}
	body := templates.ProblemPage(templates.Problem{Status: http.StatusText(status), Message: msg, Back: back})
	if rerr := s.render(c, status, layout(p, body)); rerr != nil {
		s.log.Error("ui: rendering an error page", "err", rerr)
		return c.String(status, msg)
	}
	return nil
}

// HTTPErrorHandler answers the errors echo raises itself (an unknown route,
// a wrong method) like the handlers answer theirs: JSON under /api/, a page
// elsewhere. Set it as e.HTTPErrorHandler.
func (s *Server) HTTPErrorHandler(err error, c echo.Context) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg, _ := he.Message.(string)
		if msg == "" {
			msg = http.StatusText(he.Code)
		}
		code := EINTERNAL
		for k, v := range codeStatus {
			if v == he.Code {
				code = k
			}
		}
		if code == EINTERNAL && he.Code != http.StatusInternalServerError {
			if c.Response().Committed {
				return
			}
			if strings.HasPrefix(c.Request().URL.Path, "/api/") {
				_ = c.JSON(he.Code, map[string]string{"error": msg})
			} else {
				_ = c.String(he.Code, msg)
			}
			return
		}
		err = &Error{Code: code, Message: msg}
	}
	_ = s.fail(c, err)
}

// layout wraps a page's body in the layout.
func layout(p templates.Page, body templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		return templates.Layout(p).Render(templ.WithChildren(ctx, body), w)
	})
}
