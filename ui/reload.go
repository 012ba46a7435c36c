package ui

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
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
	// Notes are changes that take effect only at the next start.
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
