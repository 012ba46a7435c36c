package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/fusebox-dev/fusebox/resilience"
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Route    string `json:"route,omitempty"`
	Pipeline string `json:"pipeline,omitempty"`
	// Reason is a stable word for programs: breaker_open,
	// breaker_forced_open, bulkhead_full, concurrency_limit, rate_limited,
	// retry_budget_exhausted, timeout, upstream_unreachable, request_body or
	// no_route.
	Reason string `json:"reason"`
}

// writeProblem answers p as application/problem+json, with Retry-After
// when retryAfter is positive.
func writeProblem(w http.ResponseWriter, p problem, retryAfter int) {
	p.Type = "urn:fusebox:problem:" + p.Reason
	p.Title = http.StatusText(p.Status)
	b, err := json.Marshal(p)
	if err != nil { // a struct of strings and ints always marshals
		http.Error(w, p.Detail, p.Status)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Set("Cache-Control", "no-store")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(b, '\n'))
}

// fail is the ReverseProxy's ErrorHandler: it answers a call that ended
// without a response, which is the one place errors become statuses.
func (rt *route) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client went away; nobody reads an answer. The upstream
		// attempt was cancelled with the request's context.
		w.WriteHeader(499)
		return
	}
	p := problem{Route: rt.Name, Pipeline: rt.Pipeline.Name(), Detail: err.Error()}
	after := 0
	switch {
	case errors.Is(err, resilience.ErrOpen):
		p.Status, p.Reason = http.StatusServiceUnavailable, "breaker_open"
		p.Detail = "the circuit breaker of pipeline " + rt.Pipeline.Name() + " is open: the upstream is not called"
		if b := rt.Pipeline.Breaker(); b != nil {
			m := b.Metrics()
			now := rt.clock.Now()
			switch {
			case m.State == resilience.StateForcedOpen:
				p.Reason = "breaker_forced_open"
				p.Detail = "the circuit breaker of pipeline " + rt.Pipeline.Name() + " is forced open"
				if m.Override != nil {
					if m.Override.Reason != "" {
						p.Detail += ": " + m.Override.Reason
					}
					if !m.Override.Until.IsZero() {
						after = retryAfter(m.Override.Until, now)
					}
				}
			case m.State == resilience.StateOpen && !m.OpenUntil.IsZero():
				after = retryAfter(m.OpenUntil, now)
			}
		}
	case errors.Is(err, resilience.ErrBulkheadFull):
		p.Status, p.Reason = http.StatusServiceUnavailable, "bulkhead_full"
		p.Detail = "pipeline " + rt.Pipeline.Name() + " has no free slot: too many requests in flight"
	case errors.Is(err, resilience.ErrLimitExceeded):
		p.Status, p.Reason = http.StatusServiceUnavailable, "concurrency_limit"
		p.Detail = "pipeline " + rt.Pipeline.Name() + " is at its concurrency limit: too many requests in flight"
	case errors.Is(err, resilience.ErrRateLimited):
		p.Status, p.Reason = http.StatusServiceUnavailable, "rate_limited"
		p.Detail = "pipeline " + rt.Pipeline.Name() + " is over its rate limit"
	case errors.Is(err, resilience.ErrBudgetExhausted):
		p.Status, p.Reason = http.StatusServiceUnavailable, "retry_budget_exhausted"
		p.Detail = "the retry budget of pipeline " + rt.Pipeline.Name() + " is spent: " + err.Error()
	case errors.Is(err, resilience.ErrTimeout):
		p.Status, p.Reason = http.StatusGatewayTimeout, "timeout"
	default:
		p.Status, p.Reason = http.StatusBadGateway, "upstream_unreachable"
	}
	writeProblem(w, p, after)
}
