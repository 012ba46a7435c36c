package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/fusebox-dev/fusebox/gateway"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/ui"
)

// proxyConfig is the gateway: routes that send requests through the
// pipelines of the file to their upstreams, served on Listen.
type proxyConfig struct {
	// Listen is the gateway's listen address, separate from the
	// dashboard's addr. Required with routes.
	Listen string `yaml:"listen"`
	// Routes are matched against each request; at most one may match.
	Routes []routeConfig `yaml:"routes"`
}

// routeConfig is one route; see gateway.Route for each field.
type routeConfig struct {
	Name        string   `yaml:"name"`
	Host        string   `yaml:"host"`
	PathPrefix  string   `yaml:"path_prefix"`
	Methods     []string `yaml:"methods"`
	StripPrefix bool     `yaml:"strip_prefix"`
	// Upstream is the base URL; empty means the pipeline's upstream.
	Upstream string `yaml:"upstream"`
	// Pipeline names a pipeline of the file. Required.
	Pipeline       string          `yaml:"pipeline"`
	MaxReplayBytes int64           `yaml:"max_replay_bytes"`
	Fallback       *fallbackConfig `yaml:"fallback"`
}

type fallbackConfig struct {
	Static *staticConfig `yaml:"static"`
	Stale  *staleConfig  `yaml:"stale"`
}

type staticConfig struct {
	// Status is the status code; zero means 200.
	Status int `yaml:"status"`
	// ContentType is the Content-Type; empty means text/plain; charset=utf-8.
	ContentType string            `yaml:"content_type"`
	Headers     map[string]string `yaml:"headers"`
	Body        string            `yaml:"body"`
}

type staleConfig struct {
	MaxAge       time.Duration `yaml:"max_age"`
	MaxEntries   int           `yaml:"max_entries"`
	MaxBodyBytes int64         `yaml:"max_body_bytes"`
}

// validateProxy checks the gateway's settings and routes; add records a
// problem at a field path.
func (c *fileConfig) validateProxy(add func(path, msg string)) {
	px := c.Proxy
	if px == nil {
		return
	}
	if len(px.Routes) == 0 {
		add("proxy.routes", "at least one route is required")
	}
	if px.Listen == "" {
		add("proxy.listen", "is required, such as 127.0.0.1:9000 (the gateway listens apart from the dashboard's addr)")
	} else if _, _, err := net.SplitHostPort(px.Listen); err != nil {
		add("proxy.listen", fmt.Sprintf("%q is not host:port", px.Listen))
	}
	index := map[string]int{}
	for i, p := range c.Pipelines {
		index[p.Name] = i
	}
	routes := c.routeSpecs(nil)
	for i, rc := range px.Routes {
		path := fmt.Sprintf("proxy.routes[%d]", i)
		switch j, ok := index[rc.Pipeline]; {
		case rc.Pipeline == "":
			add(path+".pipeline", "is required: the name of a pipeline of this file")
		case !ok:
			add(path+".pipeline", fmt.Sprintf("unknown pipeline %q (known: %s)", rc.Pipeline, strings.Join(c.configuredNames(), ", ")))
		case rc.Upstream == "" && c.Pipelines[j].Upstream == "":
			add(path+".upstream", fmt.Sprintf("is required (or set pipelines[%d].upstream)", j))
			routes[i].Upstream = "http://upstream.invalid" // reported once
		}
	}
	err := gateway.CheckRoutes(routes)
	if err == nil {
		return
	}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *gateway.FieldError
		if !errors.As(e, &fe) {
			add("proxy.routes", e.Error())
			continue
		}
		rc := px.Routes[fe.Route]
		p := fmt.Sprintf("proxy.routes[%d].%s", fe.Route, fe.Field)
		if fe.Field == "upstream" && rc.Upstream == "" {
			if j, ok := index[rc.Pipeline]; ok { // inherited from the pipeline
				p = fmt.Sprintf("pipelines[%d].upstream", j)
			}
		}
		add(p, fe.Msg)
	}
}

func (c *fileConfig) configuredNames() []string {
	names := make([]string, 0, len(c.Pipelines))
	for _, p := range c.Pipelines {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// routeSpecs turns the configured routes into gateway routes, each with
// the pipeline lookup gives (nil when lookup is nil or returns nil). A
// route without an upstream takes its pipeline's.
func (c *fileConfig) routeSpecs(lookup func(name string) *resilience.Pipeline) []gateway.Route {
	if c.Proxy == nil {
		return nil
	}
	upstreams := map[string]string{}
	for _, p := range c.Pipelines {
		upstreams[p.Name] = p.Upstream
	}
	out := make([]gateway.Route, len(c.Proxy.Routes))
	for i, rc := range c.Proxy.Routes {
		r := gateway.Route{
			Name: rc.Name, Host: rc.Host, PathPrefix: rc.PathPrefix, Methods: rc.Methods,
			StripPrefix: rc.StripPrefix, Upstream: rc.Upstream, MaxReplayBytes: rc.MaxReplayBytes,
		}
		if r.Upstream == "" {
			r.Upstream = upstreams[rc.Pipeline]
		}
		if lookup != nil {
			r.Pipeline = lookup(rc.Pipeline)
		}
		if fb := rc.Fallback; fb != nil {
			if s := fb.Static; s != nil {
				h := make(http.Header, len(s.Headers)+1)
				for k, v := range s.Headers {
					h.Set(k, v)
				}
				ct := s.ContentType
				if ct == "" {
					ct = "text/plain; charset=utf-8"
				}
				h.Set("Content-Type", ct)
				r.Static = &gateway.StaticResponse{Status: s.Status, Header: h, Body: []byte(s.Body)}
			}
			if s := fb.Stale; s != nil {
				r.Stale = &gateway.StaleConfig{MaxAge: s.MaxAge, MaxEntries: s.MaxEntries, MaxBodyBytes: s.MaxBodyBytes}
			}
		}
		out[i] = r
	}
	return out
}

// gatewayServer is the gateway of a running app, on its own listener.
// Its methods do nothing on a nil *gatewayServer (no proxy configured).
type gatewayServer struct {
	gw       *gateway.Gateway
	server   *http.Server
	listener net.Listener
}

// buildGateway builds the gateway over the registry's pipelines and
// listens on proxy.listen, or does nothing without a proxy section.
func (a *app) buildGateway() error {
	if a.cfg.Proxy == nil {
		return nil
	}
	routes, err := a.gatewayRoutes(a.cfg)
	if err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Config{Routes: routes, Logger: a.log.With("component", "gateway")})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.Proxy.Listen)
	if err != nil {
		_ = gw.Close()
		return fmt.Errorf("proxy.listen: listening on %s: %w", a.cfg.Proxy.Listen, err)
	}
	a.gateway = &gatewayServer{
		gw:       gw,
		listener: ln,
		server:   &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
	}
	return nil
}

// gatewayRoutes resolves the routes of cfg against the app's registry: the
// route table a configuration reload hands to (*gateway.Gateway).SetRoutes.
func (a *app) gatewayRoutes(cfg *fileConfig) ([]gateway.Route, error) {
	var missing []string
	routes := cfg.routeSpecs(func(name string) *resilience.Pipeline {
		p, err := a.registry.Get(name)
		if err != nil {
			missing = append(missing, name)
			return nil
		}
		return p
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("proxy.routes: unknown pipelines %s", strings.Join(missing, ", "))
	}
	return routes, nil
}

// serve serves the gateway until shutdown; its error, if any, goes to failed.
func (g *gatewayServer) serve(log *slog.Logger, failed chan<- error) {
	if g == nil {
		return
	}
	log.Info("gateway listening", "url", "http://"+g.Addr(), "routes", len(g.gw.Routes()))
	go func() {
		if err := g.server.Serve(g.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("gateway: %w", err)
		}
	}()
}

// shutdown stops accepting requests and waits for those in flight until
// ctx ends, then cuts the rest.
func (g *gatewayServer) shutdown(ctx context.Context) {
	if g == nil {
		return
	}
	if err := g.server.Shutdown(ctx); err != nil {
		_ = g.server.Close()
	}
	_ = g.gw.Close()
}

// close releases the listener of a gateway that never served.
func (g *gatewayServer) close() {
	if g == nil {
		return
	}
	_ = g.listener.Close()
	_ = g.gw.Close()
}

// Addr returns the gateway's listen address.
func (g *gatewayServer) Addr() string { return g.listener.Addr().String() }

// uiRoutes lists the gateway's routes for the dashboard.
type uiRoutes struct{ gw *gateway.Gateway }

func (u uiRoutes) Routes() []ui.GatewayRoute {
	list := u.gw.Routes()
	out := make([]ui.GatewayRoute, len(list))
	for i, r := range list {
		out[i] = ui.GatewayRoute{
			Name: r.Name, Host: r.Host, PathPrefix: r.PathPrefix, Methods: r.Methods,
			StripPrefix: r.StripPrefix, Upstream: r.Upstream, Pipeline: r.Pipeline, Fallback: r.Fallback,
		}
	}
	return out
}
