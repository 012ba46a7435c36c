package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/ui/templates"
)

// ReloadReport says what a configuration reload did, by pipeline name.
type ReloadReport struct {
	Unchanged []string `json:"unchanged"`
	Changed   []string `json:"changed"`
	Added     []string `json:"added"`
	Removed   []string `json:"removed"`
	// Reset lists the changed pipelines whose breaker started afresh
	// because its window changed shape.
	Reset []string `json:"reset"`
	// Notes are changes that take effect only at the next start, one
	// sentence each ("slos changed: applies at the next restart").
	Notes []string `json:"notes,omitempty"`
}

// Reloader re-reads the configuration: cmd/app applies its pipelines. An
// error leaves the configuration in force; one wrapping ErrReloadInvalid
// is the file's fault (400).
type Reloader interface {
	Reload(ctx context.Context, actor string) (ReloadReport, error)
	// Refused returns the error of the latest reload if it was refused,
	// and "" after a reload that succeeded (or none).
	Refused() string
	// Pending returns the changes of the latest reload that applied
	// which take effect only at the next restart, one sentence each.
	Pending() []string
	// Draining reports whether a reload removed the named pipeline while
	// calls were in flight through it, and how many still are: it shows
	// until they have returned.
	Draining(name string) (inFlight int, ok bool)
}

// ErrReloadInvalid is wrapped by the errors of a configuration that
// cannot be applied.
var ErrReloadInvalid = errors.New("the configuration cannot be applied")

// registerReload mounts POST /api/v1/config/reload.
func (s *Server) registerReload(e *echo.Echo) {
	e.POST("/api/v1/config/reload", s.apiReload, s.securityHeaders, s.requireAdmin)
}

func (s *Server) apiReload(c echo.Context) error {
	if s.cfg.Reloader == nil {
		return s.fail(c, Errorf(ECONFLICT, "configuration reload is not enabled"))
	}
	ctx := c.Request().Context()
	rep, err := s.cfg.Reloader.Reload(ctx, actorOf(ctx))
	s.changed()
	if err != nil {
		if errors.Is(err, ErrReloadInvalid) {
			return s.fail(c, Errorf(EINVALID, "%v; the configuration in force stays", err))
		}
		return s.fail(c, err)
	}
	return c.JSON(http.StatusOK, rep)
}

// members is implemented by Stats whose set of pipelines changes while
// the server runs (telemetry.Aggregator.Members): the number changes with
// the set.
type members interface {
	Members() uint64
}

// cacheGen is the generation of the cached overview and list of
// pipelines: it moves on with the server's own changes and with the set
// of pipelines, so that neither is served listing a pipeline that left
// (or missing one that came) while the other does not.
func (s *Server) cacheGen() uint64 {
	g := s.gen.get()
	if m, ok := s.cfg.Stats.(members); ok {
		g += m.Members() // both only grow: the sum moves when either does
	}
	return g
}

// tileNames returns the names of the pipelines of tiles.
func tileNames(tiles []templates.Tile) []string {
	out := make([]string, len(tiles))
	for i, t := range tiles {
		out[i] = t.Name
	}
	return out
}

// goneEvent is the live update of the page of a pipeline that left: its
// data is the sentence the page shows in place of "live".
func goneEvent(name string) []byte {
	return []byte("event: gone\ndata: " + strings.NewReplacer("\r", " ", "\n", " ").Replace(name) + " was removed by a configuration reload\n\n")
}

// drainingJSON is the state of a pipeline a reload removed whose calls in
// flight have not all returned.
type drainingJSON struct {
	InFlight int `json:"in_flight"`
}

// draining returns the state of the named pipeline if a reload removed it
// and it still drains, or nil.
func (s *Server) draining(name string) *drainingJSON {
	if s.cfg.Reloader == nil {
		return nil
	}
	if n, ok := s.cfg.Reloader.Draining(name); ok {
		return &drainingJSON{InFlight: n}
	}
	return nil
}

// drainingText is what a tile says of a draining pipeline.
func drainingText(d *drainingJSON) string {
	if d == nil {
		return ""
	}
	if d.InFlight == 1 {
		return "removed by a configuration reload · 1 call in flight"
	}
	return fmt.Sprintf("removed by a configuration reload · %d calls in flight", d.InFlight)
}
