package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// DefaultMaxReplayBytes is the largest request body a route keeps in
// memory to send again on a retry when Route.MaxReplayBytes is zero.
const DefaultMaxReplayBytes = 1 << 20

// Route sends the requests it matches to Upstream through Pipeline: every
// attempt the pipeline makes is one request to the upstream.
type Route struct {
	// Name names the route in problem responses, logs and the dashboard.
	// Required.
	Name string
	// Host, when set, restricts the route to requests whose Host (without
	// its port) equals it, ignoring case. Empty matches every host.
	Host string
	// PathPrefix is the start of the paths the route matches, such as
	// "/inventory/". Required; it must begin with "/".
	PathPrefix string
	// Methods, when set, restricts the route to these methods. Empty
	// matches every method.
	Methods []string
	// StripPrefix removes PathPrefix from the path before it is appended
	// to Upstream's path ("/inventory/items/7" becomes "/items/7").
	StripPrefix bool
	// Upstream is the base URL requests are sent to: http or https, with
	// a host, no query and no fragment. Required.
	Upstream string
	// Pipeline runs every request of the route. Required by SetRoutes and
	// New; CheckRoutes ignores it.
	Pipeline *resilience.Pipeline
	// MaxReplayBytes bounds the request body the route keeps in memory so
	// that it can be sent again on a retry. A larger body is streamed to
	// the upstream once and its request is not retried. Zero means
	// DefaultMaxReplayBytes (1 MiB); negative means no body is kept, so no
	// request with a body is retried.
	MaxReplayBytes int64
	// Static, when set, answers a request whose call failed (a refusal, a
	// transport error, a timeout, or a 5xx, 408 or 429 response) once the
	// pipeline has given up, after Stale. Nil: no static answer.
	Static *StaticResponse
	// Stale, when set, keeps the last good (2xx) response of each GET URL
	// and answers a failed GET with it while it is fresh enough. Nil: no
	// stale answers.
	Stale *StaleConfig
}

// StaticResponse is a fixed answer for a failed call.
type StaticResponse struct {
	// Status is the status code. Zero means 200.
	Status int
	// Header is sent with the response. Nil sends none but those the
	// gateway adds (Content-Length, X-Fusebox-Fallback).
	Header http.Header
	// Body is the response body.
	Body []byte
}

// StaleConfig bounds the last good responses a route keeps.
type StaleConfig struct {
	// MaxAge is the oldest response served. It must be positive.
	MaxAge time.Duration
	// MaxEntries bounds the number of URLs kept. Zero means 256.
	MaxEntries int
	// MaxBodyBytes is the largest body kept; a larger response is passed
	// on but not kept. Zero means 64 KiB. The cache holds at most
	// MaxEntries × MaxBodyBytes bytes of bodies.
	MaxBodyBytes int64
}

// FieldError is a problem with one field of one route. CheckRoutes and
// SetRoutes join one per problem (errors.Join).
type FieldError struct {
	// Route is the route's index in the list.
	Route int
	// Field is the field's name in a configuration file, such as
	// "path_prefix" or "fallback.stale.max_age".
	Field string
	// Msg says what is wrong.
	Msg string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("gateway: routes[%d].%s: %s", e.Route, e.Field, e.Msg)
}

// CheckRoutes checks every field of routes but Pipeline, and that no two
// routes overlap: a request may match at most one route, so two routes with
// the same host (or one without a host), methods in common (or one without
// methods) and one path prefix starting the other are an error. It returns
// nil or the problems joined, each a *FieldError.
func CheckRoutes(routes []Route) error {
	var errs []error
	add := func(i int, field, format string, args ...any) {
		errs = append(errs, &FieldError{Route: i, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	names := map[string]int{}
	for i, r := range routes {
		switch {
		case strings.TrimSpace(r.Name) == "":
			add(i, "name", "is required")
		default:
			if j, dup := names[r.Name]; dup {
				add(i, "name", "%q is the name of routes[%d] too", r.Name, j)
			} else {
				names[r.Name] = i
			}
		}
		switch {
		case r.PathPrefix == "":
			add(i, "path_prefix", "is required (use \"/\" for every path)")
		case !strings.HasPrefix(r.PathPrefix, "/"):
			add(i, "path_prefix", "%q must begin with \"/\"", r.PathPrefix)
		}
		if r.Host != "" && (strings.ContainsAny(r.Host, "/ :@?#") || strings.TrimSpace(r.Host) != r.Host) {
			add(i, "host", "%q is not a host name (no port, scheme or path)", r.Host)
		}
		for j, m := range r.Methods {
			if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t/:") {
				add(i, fmt.Sprintf("methods[%d]", j), "%q is not a method (write it in capitals, such as GET)", m)
			}
		}
		if _, err := parseUpstream(r.Upstream); err != nil {
			add(i, "upstream", "%v", err)
		}
		if r.Static != nil && r.Static.Status != 0 && (r.Static.Status < 200 || r.Static.Status > 599) {
			add(i, "fallback.static.status", "%d is not a final status code (200-599)", r.Static.Status)
		}
		if s := r.Stale; s != nil {
			if s.MaxAge <= 0 {
				add(i, "fallback.stale.max_age", "%v must be positive", s.MaxAge)
			}
			if s.MaxEntries < 0 {
				add(i, "fallback.stale.max_entries", "%d must not be negative", s.MaxEntries)
			}
			if s.MaxBodyBytes < 0 {
				add(i, "fallback.stale.max_body_bytes", "%d must not be negative", s.MaxBodyBytes)
			}
		}
		for j := range i {
			if o := routes[j]; overlap(o, r) {
				add(i, "path_prefix", "%q overlaps routes[%d] (%s %q): a request could match both", r.PathPrefix, j, o.Name, o.PathPrefix)
			}
		}
	}
	return errors.Join(errs...)
}

// overlap reports whether a request could match both a and b.
func overlap(a, b Route) bool {
	if a.PathPrefix == "" || b.PathPrefix == "" {
		return false
	}
	if a.Host != "" && b.Host != "" && !strings.EqualFold(a.Host, b.Host) {
		return false
	}
	if len(a.Methods) > 0 && len(b.Methods) > 0 && !slices.ContainsFunc(a.Methods, func(m string) bool { return slices.Contains(b.Methods, m) }) {
		return false
	}
	return strings.HasPrefix(a.PathPrefix, b.PathPrefix) || strings.HasPrefix(b.PathPrefix, a.PathPrefix)
}

func parseUpstream(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("is required, such as http://127.0.0.1:9100")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q is not a URL: %v", s, errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: the scheme must be http or https", s)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%q has no host", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("%q must have no query, fragment or user info", s)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return nil, fmt.Errorf("%q has an invalid port", s)
		}
	}
	return u, nil
}

// matches reports whether the route takes r.
func (r *Route) matches(req *http.Request) bool {
	if !strings.HasPrefix(req.URL.Path, r.PathPrefix) {
		return false
	}
	if len(r.Methods) > 0 && !slices.Contains(r.Methods, req.Method) {
		return false
	}
	if r.Host != "" {
		host := req.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !strings.EqualFold(host, r.Host) {
			return false
		}
	}
	return true
}
