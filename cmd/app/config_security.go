package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/fusebox-dev/fusebox/ui"
)

// httpConfig is the `http` section: the server's timeouts. Each zero value
// means the default in its comment.
type httpConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers. Zero: 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included, so that a
	// client sending a byte at a time cannot hold a connection. Zero: 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds a response from the end of the request's headers.
	// Live-update streams are exempt: each of their writes has 10s of its
	// own instead, and a client that stops reading is dropped. Zero: 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection idle that long. Zero: 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout is the grace period in-flight requests get at
	// SIGINT or SIGTERM (a second signal ends it at once). Zero: 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// uiSettings is the `ui` section.
type uiSettings struct {
	// RequireLogin makes the dashboard, its live stream and the GET API
	// need a login (or the Bearer token). Unset: required when the app
	// listens on an address other than loopback, open on loopback.
	RequireLogin *bool `yaml:"require_login"`
	// SessionTTL is how long a login lasts. Zero: 12h.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// MaxLoginFailures is how many wrong admin tokens one client address
	// may send in a minute before it is answered 429. Zero: 10.
	MaxLoginFailures int `yaml:"max_login_failures"`
	// MaxLoginFailuresTotal is the same bound for all clients together.
	// Zero: 100.
	MaxLoginFailuresTotal int `yaml:"max_login_failures_total"`
	// MaxStreams bounds the live-update streams open at once. Zero: 1000.
	MaxStreams int `yaml:"max_streams"`
	// MaxStreamsPerClient bounds those of one client address. Zero: 10.
	MaxStreamsPerClient int `yaml:"max_streams_per_client"`
}

// validateSecurity checks the http and ui sections.
func (c *fileConfig) validateSecurity(add func(path, msg string)) {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"http.read_header_timeout", c.HTTP.ReadHeaderTimeout},
		{"http.read_timeout", c.HTTP.ReadTimeout},
		{"http.write_timeout", c.HTTP.WriteTimeout},
		{"http.idle_timeout", c.HTTP.IdleTimeout},
		{"http.shutdown_timeout", c.HTTP.ShutdownTimeout},
	} {
		if d.v < 0 || d.v > time.Hour {
			add(d.key, fmt.Sprintf("%v is outside [0, 1h] (0 means the default)", d.v))
		}
	}
	if t := c.UI.SessionTTL; t != 0 && (t < time.Minute || t > 30*24*time.Hour) {
		add("ui.session_ttl", fmt.Sprintf("%v is outside [1m, 720h]", t))
	}
	for _, n := range []struct {
		key      string
		v, limit int
	}{
		{"ui.max_login_failures", c.UI.MaxLoginFailures, 10_000},
		{"ui.max_login_failures_total", c.UI.MaxLoginFailuresTotal, 1_000_000},
		{"ui.max_streams", c.UI.MaxStreams, 100_000},
		{"ui.max_streams_per_client", c.UI.MaxStreamsPerClient, 100_000},
	} {
		if n.v < 0 || n.v > n.limit {
			add(n.key, fmt.Sprintf("%d is outside [0, %d] (0 means the default)", n.v, n.limit))
		}
	}
}

// orDefault returns d, or def when d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// newServer returns the HTTP server of handler with the configured
// timeouts.
func (c *httpConfig) newServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: orDefault(c.ReadHeaderTimeout, 10*time.Second),
		ReadTimeout:       orDefault(c.ReadTimeout, 30*time.Second),
		WriteTimeout:      orDefault(c.WriteTimeout, 30*time.Second),
		IdleTimeout:       orDefault(c.IdleTimeout, 2*time.Minute),
	}
}

// shutdownTimeout is the grace period of a shutdown.
func (c *httpConfig) shutdownTimeout() time.Duration {
	return orDefault(c.ShutdownTimeout, 10*time.Second)
}

// apply sets the ui section on cfg; addr is the listen address, whose
// kind decides whether a login is required when require_login is unset.
func (u uiSettings) apply(cfg *ui.Config, addr string) {
	cfg.RequireLogin = !loopback(addr)
	if u.RequireLogin != nil {
		cfg.RequireLogin = *u.RequireLogin
	}
	cfg.SessionTTL = u.SessionTTL
	cfg.MaxLoginFailures = u.MaxLoginFailures
	cfg.MaxLoginFailuresTotal = u.MaxLoginFailuresTotal
	cfg.MaxStreams = u.MaxStreams
	cfg.MaxStreamsPerClient = u.MaxStreamsPerClient
}

// loopback reports whether addr ("host:port") listens on loopback only:
// "localhost" or a loopback IP. An empty host listens everywhere.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
