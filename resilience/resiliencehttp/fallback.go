package resiliencehttp

import (
	"context"
	"net/http"

	"github.com/fusebox-dev/fusebox/resilience"
)

// FallbackFunc answers for a request whose call failed. err is the error
// that ended the call: a transport error, a *resilience.RetryError, a
// *resilience.TimeoutError, resilience.ErrOpen, or a *StatusError when the
// call ended with a failed response. It returns a response to hand to the
// caller instead, or a nil response to decline (the call then ends as it
// would have without a fallback).
type FallbackFunc func(req *http.Request, err error) *http.Response

// RoundTripFallback is RoundTrip with a fallback: when the call fails,
// fallback is asked for a response. If it gives one, that response is
// returned with a nil error, the call counts as a success and the pipeline
// reports a resilience.KindFallback event (as resilience.DoFallback does);
// the failed response, if any, is drained and closed. If it declines, the
// result is RoundTrip's. A nil fallback declines.
func (t *Transport) RoundTripFallback(req *http.Request, fallback FallbackFunc) (*http.Response, error) {
	if t.p == nil {
		return t.RoundTrip(req)
	}
	var answer *http.Response
	fb := func(_ context.Context, err error) (struct{}, error) {
		if fallback == nil {
			return struct{}{}, err
		}
		if answer = fallback(req, err); answer == nil {
			return struct{}{}, err
		}
		return struct{}{}, nil
	}
	if t.hedged && replayable(req) {
		h := &hedgedTrip{t: t, req: req}
		_, err := resilience.DoFallback(req.Context(), t.p, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, h.attempt(ctx)
		}, fb)
		if answer == nil {
			return h.result(err)
		}
		h.discard()
		return answer, nil
	}
	c := &roundTrip{next: t.transport(), clock: t.p.Clock(), req: req, replayable: replayable(req)}
	ctx := req.Context()
	if t.hedged {
		// The body cannot be sent twice at once: the call is not hedged.
		ctx = resilience.WithoutHedging(ctx)
	}
	_, err := resilience.DoFallback(ctx, t.p, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.attempt(ctx)
	}, fb)
	if answer == nil {
		return c.result(err)
	}
	if c.sent == 0 {
		closeRequestBody(req)
	}
	c.discard()
	return answer, nil
}
