package ui

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// failureWindow is the span over which failed credentials are counted.
const failureWindow = time.Minute

// maxTrackedClients bounds the client addresses a limiter remembers in one
// window; failures from further addresses count toward the total only.
const maxTrackedClients = 10_000

// failureLimiter counts failed credentials (a wrong admin token at the
// login form or as a Bearer token) per client address and in total, in
// fixed windows of failureWindow. Once a client, or everyone together, has
// failed its limit in a window, further attempts are refused with 429
// until the window ends, without looking at the token, so that guessing
// gains nothing. It is safe for concurrent use.
type failureLimiter struct {
	perClient, total int

	mu     sync.Mutex
	start  time.Time // of the current window
	counts map[string]*clientFailures
	all    int
	// loggedAll says the total limit's refusal was logged in this window.
	loggedAll bool
}

type clientFailures struct {
	n      int
	logged bool
}

func newFailureLimiter(perClient, total int) *failureLimiter {
	return &failureLimiter{perClient: perClient, total: total, counts: map[string]*clientFailures{}}
}

// roll starts a new window when the current one has ended. l.mu is held.
func (l *failureLimiter) roll(now time.Time) {
	if now.Sub(l.start) >= failureWindow || now.Before(l.start) {
		l.start = now.Truncate(failureWindow)
		clear(l.counts)
		l.all, l.loggedAll = 0, false
	}
}

// refusal says whether client may not try now: retry is when it may again,
// and first is true the first time in the window that the client (or, for
// the total, anyone) is refused, to log it once.
func (l *failureLimiter) refusal(client string, now time.Time) (retry time.Duration, first, refused bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll(now)
	retry = l.start.Add(failureWindow).Sub(now)
	if c := l.counts[client]; c != nil && c.n >= l.perClient {
		first, c.logged = !c.logged, true
		return retry, first, true
	}
	if l.all >= l.total {
		first, l.loggedAll = !l.loggedAll, true
		return retry, first, true
	}
	return 0, false, false
}

// fail counts a failed attempt of client.
func (l *failureLimiter) fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll(now)
	l.all++
	c := l.counts[client]
	if c == nil {
		if len(l.counts) >= maxTrackedClients {
			return
		}
		c = &clientFailures{}
		l.counts[client] = c
	}
	c.n++
}

// clientAddr is the address the request came from: the peer of the
// connection, never a header a client can set. Behind a reverse proxy every
// client shares the proxy's address, and the per-client limit acts as a
// second total.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// tooManyFailures answers 429 with Retry-After when the request's client,
// or everyone, has failed too often in this window, logging the first
// refusal of each window. It returns nil when the request may try.
func (s *Server) tooManyFailures(c echo.Context) error {
	client := clientAddr(c.Request())
	retry, first, refused := s.failures.refusal(client, s.clock.Now())
	if !refused {
		return nil
	}
	if first {
		s.log.Warn("ui: refusing credentials after too many failed attempts",
			"client", client, "path", c.Request().URL.Path, "retry_after", retry.Round(time.Second))
	}
	secs := int((retry + time.Second - 1) / time.Second)
	c.Response().Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	return Errorf(ETOOMANY, "too many failed attempts: try again in %d s", max(secs, 1))
}

// failed counts a failed attempt of the request's client.
func (s *Server) failed(c echo.Context) {
	s.failures.fail(clientAddr(c.Request()), s.clock.Now())
}
