package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fusebox-dev/fusebox/gateway"
	"github.com/fusebox-dev/fusebox/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// upstream is a real HTTP server that counts its requests.
type upstream struct {
	*httptest.Server
	hits atomic.Int32
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// sequence answers the n-th request (from 0) with steps[n], or the last
// step once they run out.
func sequence(steps ...http.HandlerFunc) http.HandlerFunc {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		steps[min(i, len(steps)-1)](w, r)
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}
}

func text(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, body)
	}
}

// recorder keeps every event of a pipeline.
type recorder struct {
	mu     sync.Mutex
	events []resilience.Event
}

func (r *recorder) Observe(_ context.Context, e resilience.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) count(k resilience.Kind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// pipeline builds a pipeline named name of policies, on clock (nil: the
// system clock), reporting to the returned recorder.
func pipeline(t *testing.T, name string, clock resilience.Clock, policies ...resilience.Policy) (*resilience.Pipeline, *recorder) {
	t.Helper()
	rec := &recorder{}
	p, err := resilience.New(name, resilience.Config{Policies: policies, Observers: []resilience.Observer{rec}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return p, rec
}

func retry(t *testing.T, attempts int) *resilience.Retry {
	t.Helper()
	r, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: attempts,
		Backoff:     resilience.BackoffConfig{Base: time.Nanosecond, Max: time.Millisecond, Jitter: resilience.JitterNone},
		Budget:      resilience.BudgetConfig{Disabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func timeout(t *testing.T, d time.Duration) *resilience.Timeout {
	t.Helper()
	to, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// front starts a gateway with routes (each route's Upstream may be left
// for the caller to fill) on a real listener and returns its URL and a
// client of its own.
func front(t *testing.T, routes ...gateway.Route) (*gateway.Gateway, string, *http.Client) {
	t.Helper()
	tr := &http.Transport{}
	g, err := gateway.New(gateway.Config{Routes: routes, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		srv.Close()
		_ = g.Close()
	})
	return g, srv.URL, client
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	return do(t, c, http.MethodGet, url, nil, "")
}

func do(t *testing.T, c *http.Client, method, url string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}
