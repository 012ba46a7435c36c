// Package gateway puts Fusebox in front of any HTTP dependency: a reverse
// proxy whose routes each send their requests through a resilience
// pipeline, so that callers in any language get its retries, timeouts,
// breaker, bulkhead and fallbacks, and the pipeline's observers (the
// dashboard, metrics, SLOs) see real traffic.
//
// Forwarding is net/http/httputil.ReverseProxy over a
// resiliencehttp.Transport: hop-by-hop headers are removed, X-Forwarded-For,
// -Host and -Proto are set, responses are streamed, protocol upgrades
// (WebSocket) are passed through and never retried, and a client that goes
// away cancels the upstream attempt. Only requests that can be sent again
// are retried: an idempotent method or an Idempotency-Key header, and a
// body of at most Route.MaxReplayBytes.
//
// When the pipeline refuses a call (breaker open, bulkhead full, retry
// budget spent) the gateway answers at once with 503 and an
// application/problem+json body naming the route, the pipeline and the
// reason, with Retry-After when the breaker knows when it will let a call
// through again.
package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencehttp"
)

// Config configures a Gateway.
type Config struct {
	// Routes are the routes to serve; see SetRoutes. Empty serves none:
	// every request is answered 404 until SetRoutes is called.
	Routes []Route
	// Transport makes the upstream requests of every attempt. Nil means a
	// clone of http.DefaultTransport that keeps up to 256 idle connections
	// per upstream, which Close closes.
	Transport http.RoundTripper
	// Logger receives what the clients do not see (a response cut off
	// while it was copied, say). Nil discards it.
	Logger *slog.Logger
}

// Gateway is an http.Handler that sends each request to the route that
// matches it. It is safe for concurrent use; SetRoutes replaces the route
// table while requests are served.
type Gateway struct {
	base  http.RoundTripper
	log   *slog.Logger
	bufs  *bufferPool
	table atomic.Pointer[table]
	// mu serialises SetRoutes so that the stale caches of routes that keep
	// their name are carried over from the table being replaced.
	mu sync.Mutex
}

// New returns a Gateway serving cfg.Routes, or the problems of the routes
// as SetRoutes reports them.
func New(cfg Config) (*Gateway, error) {
	g := &Gateway{base: cfg.Transport, log: cfg.Logger, bufs: &bufferPool{}}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 1024
		tr.MaxIdleConnsPerHost = 256
		g.base = tr
	}
	g.table.Store(&table{})
	if err := g.SetRoutes(cfg.Routes); err != nil {
		return nil, err
	}
	return g, nil
}

// SetRoutes checks routes as CheckRoutes does, plus that each has a
// Pipeline, and replaces the route table with them in one step: a request
// is served wholly by the old table or wholly by the new one. On error the
// table in force stays. A route that keeps its name, pipeline and stale
// settings keeps its remembered responses.
func (g *Gateway) SetRoutes(routes []Route) error {
	var errs []error
	if err := CheckRoutes(routes); err != nil {
		errs = append(errs, err)
	}
	for i, r := range routes {
		if r.Pipeline == nil {
			errs = append(errs, &FieldError{Route: i, Field: "pipeline", Msg: "is required"})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.table.Load()
	t := &table{routes: make([]*route, 0, len(routes))}
	for _, r := range routes {
		rt, err := g.newRoute(r, old.byName(r.Name))
		if err != nil {
			return err
		}
		t.routes = append(t.routes, rt)
	}
	g.table.Store(t)
	return nil
}

// RouteInfo describes a route in force.
type RouteInfo struct {
	Name        string   `json:"name"`
	Host        string   `json:"host,omitempty"`
	PathPrefix  string   `json:"path_prefix"`
	Methods     []string `json:"methods,omitempty"`
	StripPrefix bool     `json:"strip_prefix"`
	Upstream    string   `json:"upstream"`
	Pipeline    string   `json:"pipeline"`
	// Fallback lists the route's fallbacks: "stale", "static", both
	// ("stale, static") or "".
	Fallback string `json:"fallback,omitempty"`
}

// Routes describes the routes in force, in the order they were given.
func (g *Gateway) Routes() []RouteInfo {
	t := g.table.Load()
	out := make([]RouteInfo, len(t.routes))
	for i, rt := range t.routes {
		r := &rt.Route
		var fb []string
		if r.Stale != nil {
			fb = append(fb, "stale")
		}
		if r.Static != nil {
			fb = append(fb, "static")
		}
		out[i] = RouteInfo{
			Name: r.Name, Host: r.Host, PathPrefix: r.PathPrefix, Methods: append([]string(nil), r.Methods...),
			StripPrefix: r.StripPrefix, Upstream: r.Upstream, Pipeline: r.Pipeline.Name(), Fallback: strings.Join(fb, ", "),
		}
	}
	return out
}

// Close closes the idle upstream connections of the transport New made;
// with a Transport of the caller's, it closes that one's if it can. It
// returns nil.
func (g *Gateway) Close() error {
	if c, ok := g.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	return nil
}

// ServeHTTP sends r to the route that matches it, or answers 404 with a
// problem body when none does.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := g.table.Load().match(r)
	if rt == nil {
		writeProblem(w, problem{
			Status: http.StatusNotFound, Reason: "no_route",
			Detail: fmt.Sprintf("no route matches %s %s", r.Method, r.URL.Path),
		}, 0)
		return
	}
	rt.serve(w, r)
}

// table is an immutable list of routes; at most one matches a request.
type table struct {
	routes []*route
}

func (t *table) match(r *http.Request) *route {
	for _, rt := range t.routes {
		if rt.matches(r) {
			return rt
		}
	}
	return nil
}

func (t *table) byName(name string) *route {
	for _, rt := range t.routes {
		if rt.Name == name {
			return rt
		}
	}
	return nil
}

// route is a Route ready to serve.
type route struct {
	Route
	proxy     *httputil.ReverseProxy
	transport *resiliencehttp.Transport
	stale     *staleCache
	maxReplay int64
	clock     resilience.Clock
}

func (g *Gateway) newRoute(r Route, prev *route) (*route, error) {
	target, err := parseUpstream(r.Upstream)
	if err != nil { // checked already
		return nil, err
	}
	r.Methods = append([]string(nil), r.Methods...)
	rt := &route{Route: r, transport: resiliencehttp.NewTransport(r.Pipeline, g.base), clock: r.Pipeline.Clock(), maxReplay: r.MaxReplayBytes}
	if rt.maxReplay == 0 {
		rt.maxReplay = DefaultMaxReplayBytes
	}
	if r.Stale != nil {
		if prev != nil && prev.stale != nil && prev.Pipeline == r.Pipeline && *prev.Stale == *r.Stale {
			rt.stale = prev.stale
		} else if rt.stale, err = newStaleCache(*r.Stale); err != nil {
			return nil, err
		}
	}
	prefix, strip := r.PathPrefix, r.StripPrefix
	rt.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if strip {
				stripPrefix(pr.Out, prefix)
			}
			pr.SetURL(target)
			// The client's own X-Forwarded-For (from proxies before this
			// one) is kept and the client's address appended, as nginx's
			// $proxy_add_x_forwarded_for does.
			if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
				pr.Out.Header["X-Forwarded-For"] = prior
			}
			pr.SetXForwarded()
		},
		Transport:    rt,
		ErrorHandler: rt.fail,
		ErrorLog:     slog.NewLogLogger(g.log.With("route", r.Name).Handler(), slog.LevelWarn),
		BufferPool:   g.bufs,
	}
	return rt, nil
}

// stripPrefix removes prefix from the path of r, keeping it absolute.
func stripPrefix(r *http.Request, prefix string) {
	u := r.URL
	rest := strings.TrimPrefix(u.Path, prefix)
	if !strings.HasPrefix(rest, "/") {
		rest = "/" + rest
	}
	if u.RawPath != "" {
		raw := strings.TrimPrefix(u.RawPath, prefix)
		if raw == u.RawPath { // the prefix is escaped differently in the raw path
			u.RawPath = ""
		} else if u.RawPath = raw; !strings.HasPrefix(raw, "/") {
			u.RawPath = "/" + raw
		}
	}
	u.Path = rest
}

// serve forwards one request.
func (rt *route) serve(w http.ResponseWriter, r *http.Request) {
	if err := rt.prepareBody(r); err != nil {
		writeProblem(w, problem{
			Status: http.StatusBadRequest, Reason: "request_body", Route: rt.Name, Pipeline: rt.Pipeline.Name(),
			Detail: "reading the request body: " + err.Error(),
		}, 0)
		return
	}
	rt.proxy.ServeHTTP(w, r)
}

// prepareBody makes the body of a request that may be retried replayable
// when it fits in maxReplay bytes. A larger body stays a stream, sent once:
// without Request.GetBody the transport does not retry the request.
func (rt *route) prepareBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || rt.maxReplay < 0 {
		return nil
	}
	if r.ContentLength > rt.maxReplay || !mayRetry(r) {
		return nil
	}
	body := r.Body
	buf, err := io.ReadAll(io.LimitReader(body, rt.maxReplay+1))
	if err != nil {
		return err
	}
	if int64(len(buf)) > rt.maxReplay { // a chunked body longer than the limit
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), body), body}
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.ContentLength = int64(len(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	return nil
}

// mayRetry reports whether the transport would send r again: an idempotent
// method or an idempotency key, and no protocol upgrade.
func mayRetry(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return r.Header.Get("Idempotency-Key") != "" || r.Header.Get("X-Idempotency-Key") != ""
}

type readCloser struct {
	io.Reader
	io.Closer
}

// RoundTrip is the route's transport under the ReverseProxy: the
// resiliencehttp transport, with the route's fallbacks when it has any,
// remembering good GET responses when it keeps stale ones.
func (rt *route) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt.Static == nil && rt.stale == nil {
		return rt.transport.RoundTrip(req)
	}
	resp, err := rt.transport.RoundTripFallback(req, rt.fallback)
	if err == nil && rt.stale != nil && req.Method == http.MethodGet && resp.StatusCode/100 == 2 && resp.Header.Get(fallbackHeader) == "" {
		rt.stale.remember(req, resp, rt.clock)
	}
	return resp, err
}

// fallbackHeader marks a response a fallback made: "stale" or "static".
const fallbackHeader = "X-Fusebox-Fallback"

// fallback answers a failed call with a remembered response or the static
// one. It declines a permanent failure (a 4xx other than 408 and 429: the
// upstream answered) and a call the client gave up.
func (rt *route) fallback(req *http.Request, err error) *http.Response {
	var se *resiliencehttp.StatusError
	if errors.As(err, &se) && se.StatusCode < 500 && se.StatusCode != http.StatusTooManyRequests && se.StatusCode != http.StatusRequestTimeout {
		return nil
	}
	if req.Context().Err() != nil {
		return nil
	}
	if rt.stale != nil && req.Method == http.MethodGet {
		if resp := rt.stale.answer(req, rt.clock.Now()); resp != nil {
			return resp
		}
	}
	if s := rt.Static; s != nil {
		h := s.Header.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set(fallbackHeader, "static")
		status := s.Status
		if status == 0 {
			status = http.StatusOK
		}
		return fallbackResponse(req, status, h, s.Body)
	}
	return nil
}

// fallbackResponse is a response to req that a fallback makes up from a
// status, a header and a body, as an upstream's would arrive.
func fallbackResponse(req *http.Request, status int, h http.Header, body []byte) *http.Response {
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// bufferPool lends the ReverseProxy its 32 KiB copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// retryAfter is the whole seconds until t, at least 1.
func retryAfter(t, now time.Time) int {
	d := t.Sub(now)
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
