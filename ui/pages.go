package ui

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"

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
	p.Fleet = s.cfg.Fleet != nil
	if s.cfg.Reloader != nil {
		p.ReloadError = s.cfg.Reloader.Refused()
		p.RestartPending = s.cfg.Reloader.Pending()
	}
	return p
}

// overview renders GET /.
func (s *Server) overview(c echo.Context) error {
	p := s.page(c, "Pipelines", "overview")
	p.Events = "/events"
	body, err := s.tiles.get(s.clock.Now(), s.cfg.CacheTTL, s.cacheGen(), func() ([]byte, error) {
		var buf bytes.Buffer
		err := templates.OverviewPage(overviewView(s.tileViews(s.cfg.Stats.Snapshot()))).Render(c.Request().Context(), &buf)
		return buf.Bytes(), err
	})
	if err != nil {
		return s.fail(c, err)
	}
	if panel := s.scenariosView(p); panel != nil {
		// The panel's buttons depend on the session: it is not cached.
		return s.render(c, http.StatusOK, layout(p, templ.Join(templates.ScenarioPanelView(*panel), s.withRoutes(rawHTML(body)))))
	}
	return s.render(c, http.StatusOK, layout(p, s.withRoutes(rawHTML(body))))
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
		// The page of a demo pipeline shows the knobs of its downstream.
		back := c.Request().URL.Path
		for _, ds := range s.cfg.Faults.Downstreams() {
			if ds.Name == name {
				d.Downstreams = append(d.Downstreams, knobsView(ds, p.LoggedIn, p.CSRF, back))
			}
		}
	}
	return s.render(c, http.StatusOK, layout(p, templates.DetailPage(d)))
}

// knobsView builds the fault form of a downstream. Every field holds the
// stored value exactly, so that saving the form unchanged changes nothing:
// the error rate keeps all its digits, and its slider moves in steps of
// 1 % unless the stored rate falls between them.
func knobsView(d Downstream, loggedIn bool, csrf, back string) templates.Downstream {
	step := "0.01"
	if r := d.Knobs.ErrorRate * 100; r != math.Round(r) || strconv.FormatFloat(math.Round(r)/100, 'f', -1, 64) != strconv.FormatFloat(d.Knobs.ErrorRate, 'f', -1, 64) {
		step = "any"
	}
	return templates.Downstream{
		Name: d.Name, Description: d.Description,
		Action:       "/demo/downstreams/" + url.PathEscape(d.Name),
		CSRF:         csrf,
		LoggedIn:     loggedIn,
		Back:         back,
		Login:        "/login?next=" + url.QueryEscape(back),
		ErrorRate:    strconv.FormatFloat(d.Knobs.ErrorRate, 'f', -1, 64),
		ErrorStep:    step,
		ErrorPercent: fmtKnobPercent(d.Knobs.ErrorRate),
		LatencyMS:    itoa(d.Knobs.LatencyMS),
		JitterMS:     itoa(d.Knobs.JitterMS),
		Outage:       d.Knobs.Outage,
		Scenario:     d.Scenario,
	}
}

// fmtKnobPercent formats an error rate as the slider's label does
// (app.js): a percentage with up to two decimals, "1 %", "25 %", "0.5 %".
func fmtKnobPercent(r float64) string {
	return strconv.FormatFloat(math.Round(r*10000)/100, 'f', -1, 64) + " %"
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
