package ui

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/ui/templates"
)

// GatewayRoute is a route of the gateway: the requests it matches go to
// Upstream through Pipeline.
type GatewayRoute struct {
	Name        string   `json:"name"`
	Host        string   `json:"host,omitempty"`
	PathPrefix  string   `json:"path_prefix"`
	Methods     []string `json:"methods,omitempty"`
	StripPrefix bool     `json:"strip_prefix"`
	Upstream    string   `json:"upstream"`
	Pipeline    string   `json:"pipeline"`
	// Fallback lists the route's fallbacks ("stale", "static"), or is empty.
	Fallback string `json:"fallback,omitempty"`
}

// GatewayRoutes lists the routes of the gateway, in the order they were
// configured.
type GatewayRoutes interface {
	Routes() []GatewayRoute
}

// apiRoutes handles GET /api/v1/routes: the gateway's routes, an empty
// list without a gateway.
func (s *Server) apiRoutes(c echo.Context) error {
	routes := []GatewayRoute{}
	if s.cfg.Routes != nil {
		routes = append(routes, s.cfg.Routes.Routes()...)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"routes": routes})
}

// withRoutes renders body followed by the gateway's routes, if any.
func (s *Server) withRoutes(body templ.Component) templ.Component {
	if s.cfg.Routes == nil {
		return body
	}
	routes := s.cfg.Routes.Routes()
	if len(routes) == 0 {
		return body
	}
	rows := make([]templates.RouteRow, len(routes))
	for i, r := range routes {
		match := r.PathPrefix + "*"
		if r.Host != "" {
			match = r.Host + match
		}
		if len(r.Methods) > 0 {
			match = strings.Join(r.Methods, ",") + " " + match
		}
		if r.StripPrefix {
			match += " (prefix stripped)"
		}
		rows[i] = templates.RouteRow{
			Name: r.Name, Match: match, Upstream: r.Upstream, Pipeline: r.Pipeline,
			PipelineURL: "/pipelines/" + url.PathEscape(r.Pipeline), Fallback: r.Fallback,
		}
	}
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		if err := body.Render(ctx, w); err != nil {
			return err
		}
		return templates.RoutesSection(rows).Render(ctx, w)
	})
}
