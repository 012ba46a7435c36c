package ui

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/ui/templates"
)

// Scenario is a demo scenario: a fault an operator starts and stops, and
// what to expect while it runs. It is the JSON of
// GET /api/v1/demo/scenarios.
type Scenario struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Does says what the scenario does; Expect what happens on the
	// dashboard and when.
	Does   string `json:"does"`
	Expect string `json:"expect"`
	// Downstream is the downstream and pipeline it acts on.
	Downstream string `json:"downstream"`
	// Running is set while it runs, since Since.
	Running bool      `json:"running"`
	Since   time.Time `json:"since,omitzero"`
}

// Scenarios are the demo's scenarios.
type Scenarios interface {
	// Scenarios lists them in the order the overview shows them.
	Scenarios() []Scenario
	// SetScenario starts (running) or stops the named scenario; the actor
	// is in ctx. An unknown name is an ENOTFOUND *Error, a scenario that
	// cannot start while another runs on its downstream an ECONFLICT one.
	SetScenario(ctx context.Context, name string, running bool) error
}

// scenario returns the named scenario, or an ENOTFOUND error.
func (s *Server) scenario(name string) (Scenario, error) {
	if s.cfg.Scenarios == nil {
		return Scenario{}, Errorf(ENOTFOUND, "no demo is running")
	}
	for _, sc := range s.cfg.Scenarios.Scenarios() {
		if sc.Name == name {
			return sc, nil
		}
	}
	return Scenario{}, Errorf(ENOTFOUND, "unknown scenario %q", name)
}

func (s *Server) setScenario(ctx context.Context, name string, running bool) (Scenario, error) {
	if _, err := s.scenario(name); err != nil {
		return Scenario{}, err
	}
	err := s.cfg.Scenarios.SetScenario(ctx, name, running)
	s.changed()
	if err != nil {
		return Scenario{}, err
	}
	return s.scenario(name)
}

// scenarioForm handles the start and stop buttons of the overview.
func (s *Server) scenarioForm(c echo.Context) error {
	var running bool
	switch v := c.FormValue("running"); v {
	case "true":
		running = true
	case "false":
	default:
		return s.fail(c, Errorf(EINVALID, "running = %q: want true or false", v))
	}
	if _, err := s.setScenario(c.Request().Context(), c.Param("name"), running); err != nil {
		return s.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, safeNext(c.FormValue("back")))
}

// apiScenarios handles GET /api/v1/demo/scenarios.
func (s *Server) apiScenarios(c echo.Context) error {
	if s.cfg.Scenarios == nil {
		return s.fail(c, Errorf(ENOTFOUND, "no demo is running"))
	}
	list := s.cfg.Scenarios.Scenarios()
	if list == nil {
		list = []Scenario{}
	}
	for i := range list {
		list[i].Since = list[i].Since.UTC()
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"scenarios": list})
}

// apiSetScenario handles PUT /api/v1/demo/scenarios/{name} with
// {"running": true|false}.
func (s *Server) apiSetScenario(c echo.Context) error {
	if _, err := s.scenario(c.Param("name")); err != nil {
		return s.fail(c, err)
	}
	var body struct {
		Running *bool `json:"running"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return s.fail(c, err)
	}
	if body.Running == nil {
		return s.fail(c, Errorf(EINVALID, "running is required: true starts the scenario, false stops it"))
	}
	sc, err := s.setScenario(c.Request().Context(), c.Param("name"), *body.Running)
	if err != nil {
		return s.fail(c, err)
	}
	sc.Since = sc.Since.UTC()
	return c.JSON(http.StatusOK, sc)
}

// scenariosView builds the overview's scenario panel; nil outside the demo.
func (s *Server) scenariosView(p templates.Page) *templates.ScenarioPanel {
	if s.cfg.Scenarios == nil {
		return nil
	}
	panel := &templates.ScenarioPanel{LoggedIn: p.LoggedIn, CSRF: p.CSRF, Login: "/login?next=" + url.QueryEscape("/")}
	for _, sc := range s.cfg.Scenarios.Scenarios() {
		v := templates.ScenarioView{
			Name: sc.Name, Title: sc.Title, Does: sc.Does, Expect: sc.Expect,
			Action:   "/demo/scenarios/" + url.PathEscape(sc.Name),
			Pipeline: "/pipelines/" + url.PathEscape(sc.Downstream), Downstream: sc.Downstream,
			Running: sc.Running,
		}
		if sc.Running {
			v.Since = "running since " + s.clockTime(sc.Since)
		}
		panel.Items = append(panel.Items, v)
	}
	return panel
}
