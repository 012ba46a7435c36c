// Package resiliencehttp runs HTTP requests through a resilience.Pipeline:
// a Transport is an http.RoundTripper whose every attempt is one call of
// the pipeline's function, so the pipeline's retries, timeouts, breaker and
// bulkhead apply to requests and every move is observed.
//
//	retry, _ := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 3})
//	p, _ := resilience.New("inventory", resilience.Config{
//		Policies: []resilience.Policy{retry, breaker, timeout},
//	})
//	client := &http.Client{Transport: resiliencehttp.NewTransport(p, nil)}
//
// # What fails and what is retried
//
// A transport error, a 5xx response, 429 Too Many Requests and 408 Request
// Timeout are retryable failures. Any other 4xx is a permanent failure,
// wrapped with resilience.Permanent so a Retry stops at once. 1xx, 2xx and
// 3xx responses are successes. A failed response is reported to the
// pipeline (its policies and observers) as a *StatusError. A Retry-After
// header on a retryable response, in delta-seconds or as an HTTP-date read
// against the pipeline's clock, becomes a resilience.RetryAfterError hint,
// which the Retry honours even beyond its backoff cap, up to
// RetryConfig.MaxRetryAfter (1 minute by default); a longer hint, or one
// that would outlast the request context's deadline, ends the retries at
// once and the response comes back.
//
// Only requests that can be sent again are retried: those with an
// idempotent method (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) or an
// Idempotency-Key (or X-Idempotency-Key) header, and a body that is absent
// or can be replayed through Request.GetBody (which http.NewRequest sets for
// *bytes.Buffer, *bytes.Reader and *strings.Reader bodies). A request that
// asks for a protocol upgrade (an Upgrade header, as a WebSocket handshake
// has) is never sent twice. The failures of other requests are wrapped with
// resilience.Permanent. A breaker counts
// every failed response, client errors included, unless its
// BreakerConfig.IsFailure says otherwise, for example by not counting a
// *StatusError whose StatusCode is a 4xx other than 408 and 429.
//
// # What RoundTrip returns
//
// When the call ends with a response, that response comes back with a nil
// error even if it is a failure: the last 503 once retries are exhausted, a
// 404 at once. The caller reads its status and body as with a plain
// transport. When the call ends without a response — a transport error, a
// timeout, a rejection — RoundTrip returns a nil response and the
// pipeline's error, so errors.Is(err, resilience.ErrOpen),
// errors.Is(err, resilience.ErrTimeout) and errors.As(err, &retryErr) work
// (through the *url.Error that http.Client adds).
//
// Responses of failed attempts that are retried never reach the caller:
// their bodies are read (up to 64 KiB) and closed so the connection can be
// reused.
//
// # Contexts
//
// Each attempt's request is cancelled when the attempt's context ends, so a
// Timeout inside a Retry cuts a slow attempt and the Retry makes another.
// The cut applies until the response headers (and, for a retryable failure,
// its body) arrive: the body of the response handed to the caller stays
// readable after the attempt ends, until the caller's own context ends or
// the body is closed. The request carries the caller's context values and
// deadline, not the deadline of a pipeline Timeout.
package resiliencehttp
