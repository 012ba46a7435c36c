package resiliencehttp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []resilience.Event
}

func (r *recorder) Observe(_ context.Context, e resilience.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// of returns the events of kind k.
func (r *recorder) of(k resilience.Kind) []resilience.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []resilience.Event
	for _, e := range r.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// newRetry returns a retry policy of n attempts whose backoff is a
// nanosecond without jitter and without a budget, unless base says otherwise.
func newRetry(t *testing.T, n int, base time.Duration) *resilience.Retry {
	t.Helper()
	if base == 0 {
		base = time.Nanosecond
	}
	r, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: n,
		Backoff:     resilience.BackoffConfig{Base: base, Jitter: resilience.JitterNone},
		Budget:      resilience.BudgetConfig{Disabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newTimeout(t *testing.T, d time.Duration) *resilience.Timeout {
	t.Helper()
	to, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// newPipeline builds a pipeline on clock (nil: the system clock) that
// reports to the returned recorder.
func newPipeline(t *testing.T, clock resilience.Clock, policies ...resilience.Policy) (*resilience.Pipeline, *recorder) {
	t.Helper()
	rec := &recorder{}
	p, err := resilience.New("downstream", resilience.Config{
		Policies:  policies,
		Observers: []resilience.Observer{rec},
		Clock:     clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, rec
}

// scripted is a test server whose n-th request (from 0) is served by
// steps[n], or by the last step once they run out.
type scripted struct {
	*httptest.Server
	hits   atomic.Int32
	mu     sync.Mutex
	bodies []string // request bodies, in order
}

func serve(t *testing.T, steps ...http.HandlerFunc) *scripted {
	t.Helper()
	s := &scripted{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.hits.Add(1)) - 1
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		w.Header().Set("X-Hit", strconv.Itoa(n+1))
		steps[min(n, len(steps)-1)](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) requestBodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// status answers with code and the body "hit N", N counting requests from 1.
func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		hit := w.Header().Get("X-Hit")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "hit "+hit)
	}
}

// tracking is a RoundTripper over a fresh http.Transport that records the
// response bodies it hands out and whether they were closed.
type tracking struct {
	tr     *http.Transport
	mu     sync.Mutex
	bodies []*trackedBody
}

func newTracking(t *testing.T) *tracking {
	tr := &tracking{tr: &http.Transport{}}
	t.Cleanup(tr.tr.CloseIdleConnections)
	return tr
}

func (tr *tracking) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tr.tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b := &trackedBody{ReadCloser: resp.Body}
	resp.Body = b
	tr.mu.Lock()
	tr.bodies = append(tr.bodies, b)
	tr.mu.Unlock()
	return resp, nil
}

func (tr *tracking) CloseIdleConnections() { tr.tr.CloseIdleConnections() }

// unclosed returns how many of the bodies handed out, all but the last
// keep of them, are still open.
func (tr *tracking) unclosed(keep int) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, b := range tr.bodies[:max(0, len(tr.bodies)-keep)] {
		if !b.closed.Load() {
			n++
		}
	}
	return n
}

type trackedBody struct {
	io.ReadCloser
	closed atomic.Bool
}

func (b *trackedBody) Close() error {
	b.closed.Store(true)
	return b.ReadCloser.Close()
}

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closes atomic.Int32
	once   sync.Once
	closed chan struct{}
}

func newCloseCounter(s string) *closeCounter {
	return &closeCounter{Reader: strings.NewReader(s), closed: make(chan struct{})}
}

func (c *closeCounter) Close() error {
	c.closes.Add(1)
	c.once.Do(func() { close(c.closed) })
	return nil
}

// waitClosed fails t unless the body is closed exactly once. An
// http.Transport may close a request body from its own goroutine after
// RoundTrip returns, so this waits for the first Close.
func (c *closeCounter) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the request body was never closed")
	}
	if n := c.closes.Load(); n != 1 {
		t.Errorf("request body closed %d times, want once", n)
	}
}

// result is what a RoundTrip run in the background returned.
type result struct {
	resp *http.Response
	body string
	err  error
}

// roundTrip sends req with rt and reads the whole response body.
func roundTrip(rt http.RoundTripper, req *http.Request) result {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{resp: resp, body: string(b), err: err}
}

// goRoundTrip runs roundTrip in the background.
func goRoundTrip(rt http.RoundTripper, req *http.Request) <-chan result {
	ch := make(chan result, 1)
	go func() { ch <- roundTrip(rt, req) }()
	return ch
}
