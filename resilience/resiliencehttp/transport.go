package resiliencehttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// drainLimit bounds how much of a discarded response body is read so that
// its connection can be reused; a longer body costs more to read than a new
// connection, so it is closed unread.
const drainLimit = 64 << 10

// Transport is an http.RoundTripper that runs every request through a
// resilience.Pipeline, one call of the pipeline per request and one attempt
// of the underlying RoundTripper per attempt of the call. See the package
// documentation for what counts as a failure, what is retried and what
// RoundTrip returns.
//
// A Transport is safe for concurrent use. The zero value has no pipeline:
// its RoundTrip fails.
type Transport struct {
	p    *resilience.Pipeline
	next http.RoundTripper
	// hedged is set when p has a Hedge: replayable requests are then
	// hedged (hedge.go).
	hedged bool
}

// NewTransport returns a Transport that sends requests through p with next;
// a nil next means http.DefaultTransport. A nil p makes every RoundTrip fail
// with an error saying so.
func NewTransport(p *resilience.Pipeline, next http.RoundTripper) *Transport {
	return &Transport{p: p, next: next, hedged: p != nil && hedges(p)}
}

// Pipeline returns the pipeline requests run through.
func (t *Transport) Pipeline() *resilience.Pipeline { return t.p }

func (t *Transport) transport() http.RoundTripper {
	if t.next == nil {
		return http.DefaultTransport
	}
	return t.next
}

// CloseIdleConnections closes the idle connections of the underlying
// RoundTripper if it has such a method, as http.Client.CloseIdleConnections
// expects.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.transport().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// RoundTrip sends req through the pipeline. It returns the response of the
// last attempt, failed or not, with a nil error when the call ended with
// that response, and otherwise a nil response and the error that ended the
// call (a transport error, a *resilience.RetryError, a
// *resilience.TimeoutError, resilience.ErrOpen, …). It closes req.Body, as
// the RoundTripper contract asks, also when no attempt is made.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.p == nil {
		closeRequestBody(req)
		return nil, errors.New("resiliencehttp: Transport.Pipeline is nil: build the Transport with NewTransport and a pipeline")
	}
	if t.hedged && replayable(req) {
		return t.roundTripHedged(req)
	}
	c := &roundTrip{next: t.transport(), clock: t.p.Clock(), req: req, replayable: replayable(req)}
	ctx := req.Context()
	if t.hedged {
		// The body cannot be sent twice at once: the call is not hedged.
		ctx = resilience.WithoutHedging(ctx)
	}
	err := resilience.Run(ctx, t.p, c.attempt)
	return c.result(err)
}

// StatusError is the error a pipeline sees for a response whose status is
// a failure: 408, 429 and 5xx (retryable) or any other 4xx (permanent).
// Policies and observers receive it; the caller of RoundTrip receives the
// response itself.
type StatusError struct {
	// StatusCode is the response's status code, such as 503.
	StatusCode int
	// Status is the response's status line, such as "503 Service Unavailable".
	Status string
}

func (e *StatusError) Error() string {
	status := e.Status
	if status == "" {
		status = strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode)
	}
	return "resiliencehttp: response status " + status
}

// roundTrip is the state of one RoundTrip. The pipeline makes the attempts
// of a call one after another, never at once, so it needs no lock.
type roundTrip struct {
	next       http.RoundTripper
	clock      resilience.Clock
	req        *http.Request
	replayable bool
	// sent counts the attempts handed to next; the first sends req.Body,
	// the others a body from req.GetBody.
	sent int
	// resp is the response of the latest attempt if it produced one, and
	// status its *StatusError when it is a failure.
	resp   *http.Response
	status *StatusError
}

// attempt is the function the pipeline calls: one request to next.
func (c *roundTrip) attempt(ctx context.Context) error {
	c.discard()
	body := c.req.Body
	if c.sent > 0 && body != nil && body != http.NoBody {
		if c.req.GetBody == nil {
			return resilience.Permanent(errors.New("resiliencehttp: the request body cannot be sent again: Request.GetBody is nil"))
		}
		b, err := c.req.GetBody()
		if err != nil {
			return resilience.Permanent(fmt.Errorf("resiliencehttp: replaying the request body: %w", err))
		}
		body = b
	}
	c.sent++

	// The attempt's context ends when the attempt returns (a Timeout
	// cancels it), but the caller reads the body after that. So unless the
	// pipeline gave the attempt the caller's own context, the request goes
	// out with a context of its own, derived from the caller's, that the
	// attempt's context cancels only while the attempt is in progress.
	sendCtx := ctx
	var cancel context.CancelCauseFunc
	var stop func() bool
	if caller := c.req.Context(); ctx.Done() != caller.Done() {
		sendCtx, cancel = context.WithCancelCause(caller)
		stop = context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	}
	// A shallow copy: the attempt changes only the context and the body,
	// never the header, so the header map is shared, not copied.
	r := c.req.WithContext(sendCtx)
	r.Body = body
	resp, err := c.next.RoundTrip(r)
	if err == nil && resp == nil {
		err = errors.New("resiliencehttp: the RoundTripper returned neither a response nor an error")
	}

	var result error
	var status *StatusError
	if err != nil {
		result = err
	} else if status = statusError(resp); status != nil {
		result = status
		if retryable(resp.StatusCode) && c.replayable {
			if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.clock.Now()); ok {
				result = resilience.RetryAfterError(status, d)
			}
			// Read the body now, while the attempt's timeout still
			// applies, so that the connection is free during the backoff.
			buffer(resp)
		}
	}

	if cancel != nil {
		if !stop() {
			// The attempt's context ended before the response was whole:
			// the attempt failed, and what arrived of the body is cut off.
			cancel(nil)
			if resp != nil && resp.Body != nil {
				_ = resp.Body.Close()
			}
			return c.permanentUnlessReplayable(context.Cause(ctx))
		}
		if resp == nil {
			cancel(nil)
		} else {
			resp.Body = cancelOnClose(resp.Body, cancel)
		}
	}
	c.resp, c.status = resp, status
	switch {
	case result == nil:
		return nil
	case status != nil && !retryable(status.StatusCode):
		return resilience.Permanent(result)
	}
	return c.permanentUnlessReplayable(result)
}

func (c *roundTrip) permanentUnlessReplayable(err error) error {
	if c.replayable {
		return err
	}
	return resilience.Permanent(err)
}

// result turns what the pipeline returned into what RoundTrip returns.
func (c *roundTrip) result(err error) (*http.Response, error) {
	if c.sent == 0 {
		closeRequestBody(c.req)
	}
	if c.resp != nil {
		var se *StatusError
		if (err == nil && c.status == nil) || (c.status != nil && errors.As(err, &se) && se == c.status) {
			return c.resp, nil
		}
		c.discard()
	}
	if err == nil {
		err = errors.New("resiliencehttp: the pipeline ended the call without a response")
	}
	return nil, err
}

// discard drains and closes the latest response, which will not reach the caller.
func (c *roundTrip) discard() {
	if c.resp != nil {
		discard(c.resp)
		c.resp, c.status = nil, nil
	}
}

func discard(resp *http.Response) {
	if resp.Body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
	_ = resp.Body.Close()
}

// buffer reads the body of a failed response into memory, up to
// drainLimit, and closes it, so that the response can be kept (it may turn
// out to be the last) without holding its connection. A longer body stays
// open behind what was read.
func buffer(resp *http.Response) {
	body := resp.Body
	if body == nil || body == http.NoBody {
		return
	}
	buf, err := io.ReadAll(io.LimitReader(body, drainLimit+1))
	switch {
	case err != nil:
		_ = body.Close()
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(buf), errReader{err}))
	case len(buf) <= drainLimit:
		_ = body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(buf))
	default:
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(buf), body), body}
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type readCloser struct {
	io.Reader
	io.Closer
}

// cancelOnClose returns body with a Close that also calls cancel.
func cancelOnClose(body io.ReadCloser, cancel context.CancelCauseFunc) io.ReadCloser {
	if body == nil || body == http.NoBody {
		cancel(nil)
		return body
	}
	b := &cancelBody{ReadCloser: body, cancel: cancel}
	if w, ok := body.(io.Writer); ok {
		// A 101 Switching Protocols body is written to as well.
		return &cancelWriteBody{cancelBody: b, w: w}
	}
	return b
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

type cancelWriteBody struct {
	*cancelBody
	w io.Writer
}

func (b *cancelWriteBody) Write(p []byte) (int, error) { return b.w.Write(p) }

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// statusError returns the error for a failed response, or nil.
func statusError(resp *http.Response) *StatusError {
	if resp.StatusCode < 400 {
		return nil
	}
	return &StatusError{StatusCode: resp.StatusCode, Status: resp.Status}
}

// retryable reports whether a failed status is worth another attempt.
func retryable(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// replayable reports whether req may be sent more than once: it asks for
// no protocol upgrade, its method is idempotent or it carries an
// idempotency key, and its body, if any, can be produced again.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	if _, upgrade := req.Header["Upgrade"]; upgrade {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// parseRetryAfter reads a Retry-After value: delta-seconds or an HTTP-date,
// which is measured from now (a date in the past means no wait). ok is
// false when v is empty or neither.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) {
			return math.MaxInt64, true // too many digits: as long as can be
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
