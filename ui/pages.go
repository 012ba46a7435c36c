package ui

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/ui/templates"
)

// auditPageSize is the number of audit entries the audit page shows.
const auditPageSize = 200

// page returns the layout's fields for a request.
func (s *Server) page(c echo.Context, heading, nav string) templates.Page {
	p := templates.Page{
		Title: s.cfg.Title, Heading: heading, Nav: nav,
		AppJS: s.assets.url("app.js"), AppCSS: s.assets.url("app.css"),
		Next: url.QueryEscape(c.Request().URL.RequestURI()),
	}
	if session, actor, ok := s.sessionOf(c); ok {
		p.LoggedIn, p.Actor, p.CSRF = true, actor, s.auth.csrf(session)
	}
	p.AlertsFiring = s.firing()
	return p
}

// overview renders GET /.
func (s *Server) overview(c echo.Context) error {
	p := s.page(c, "Pipelines", "overview")
	p.Events = "/events"
	body, err := s.tiles.get(s.clock.Now(), s.cfg.CacheTTL, s.gen.get(), func() ([]byte, error) {
		var buf bytes.Buffer
		err := templates.Overview(s.tileViews(s.cfg.Stats.Snapshot())).Render(c.Request().Context(), &buf)
		return buf.Bytes(), err
	})
	if err != nil {
		return s.fail(c, err)
	}
	return s.render(c, http.StatusOK, layout(p, rawHTML(body)))
}

// detail renders GET /pipelines/{name}.
func (s *Server) detail(c echo.Context) error {
	name := c.Param("name")
	ps, err := s.cfg.Stats.Pipeline(name)
	if err != nil {
		return s.fail(c, err)
	}
	p := s.page(c, name, "")
	p.Events = "/events?pipeline=" + url.QueryEscape(name)
	d := s.detailView(&ps, s.breakerInfo(name), p.LoggedIn, p.CSRF)
	if s.cfg.Faults != nil {
		d.Downstreams = []templates.Downstream{}
		for _, ds := range s.cfg.Faults.Downstreams() {
			d.Downstreams = append(d.Downstreams, knobsView(ds, p.LoggedIn, p.CSRF))
		}
	}
	return s.render(c, http.StatusOK, layout(p, templates.DetailPage(d)))
}

func knobsView(d Downstream, loggedIn bool, csrf string) templates.Downstream {
	return templates.Downstream{
		Name: d.Name, Description: d.Description,
		Action:       "/demo/downstreams/" + url.PathEscape(d.Name),
		CSRF:         csrf,
		LoggedIn:     loggedIn,
		ErrorRate:    fmtNum(d.Knobs.ErrorRate),
		ErrorPercent: strings.TrimSuffix(fmtPct(d.Knobs.ErrorRate), "%") + " %",
		LatencyMS:    itoa(d.Knobs.LatencyMS),
		JitterMS:     itoa(d.Knobs.JitterMS),
		Outage:       d.Knobs.Outage,
	}
}

// auditPage renders GET /audit.
func (s *Server) auditPage(c echo.Context) error {
	entries, err := s.auditEntries(c.Request().Context(), auditPageSize)
	if err != nil {
		return s.fail(c, err)
	}
	var view templates.Audit
	for _, e := range entries {
		row := templates.AuditRow{
			At: s.stamp(e.At), Actor: e.Actor, Action: e.Action, Pipeline: e.Pipeline,
			Reason: e.Reason, Until: s.stamp(e.Until),
		}
		if e.From != "" || e.To != "" {
			row.Change = e.From + " → " + e.To
		}
		view.Entries = append(view.Entries, row)
	}
	return s.render(c, http.StatusOK, layout(s.page(c, "Audit log", "audit"), templates.AuditPage(view)))
}

func (s *Server) auditEntries(ctx context.Context, limit int) ([]AuditEntry, error) {
	if s.cfg.Audit == nil {
		return []AuditEntry{}, nil
	}
	es, err := s.cfg.Audit.Entries(ctx, limit)
	if es == nil {
		es = []AuditEntry{}
	}
	return es, err
}

// healthz answers liveness: the process serves requests.
func (s *Server) healthz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers readiness with Config.Ready.
func (s *Server) readyz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(c.Request().Context()); err != nil {
			s.log.Warn("ui: not ready", "err", err)
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// rawHTML is a component that writes HTML rendered before.
func rawHTML(b []byte) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
