package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// The error codes of an *Error. Each maps to one HTTP status in
// statusOf, the only place where errors become statuses.
const (
	EINVALID      = "invalid"      // 400: a malformed body, an unknown state, a missing field
	EUNAUTHORIZED = "unauthorized" // 401: no or wrong credentials
	EFORBIDDEN    = "forbidden"    // 403: a missing or bad CSRF token
	ENOTFOUND     = "not_found"    // 404: an unknown pipeline or downstream
	ETOOLARGE     = "too_large"    // 413: a body over the route's limit
	ECONFLICT     = "conflict"     // 409: the action does not apply (a pipeline without a breaker)
	ETOOMANY      = "too_many"     // 429: too many failed logins, too many live streams from one client
	EUNAVAILABLE  = "unavailable"  // 503: not ready, too many live streams
	EINTERNAL     = "internal"     // 500: anything else; its message is not shown
)

// Error is an error with a code that says which HTTP status answers it and
// a message safe to show to the client. Implementations of Controls and
// Faults may return one (see Errorf) to choose the status; other errors map
// as statusOf says.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("ui: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

var codeStatus = map[string]int{
	EINVALID:      http.StatusBadRequest,
	EUNAUTHORIZED: http.StatusUnauthorized,
	EFORBIDDEN:    http.StatusForbidden,
	ENOTFOUND:     http.StatusNotFound,
	ETOOLARGE:     http.StatusRequestEntityTooLarge,
	ECONFLICT:     http.StatusConflict,
	ETOOMANY:      http.StatusTooManyRequests,
	EUNAVAILABLE:  http.StatusServiceUnavailable,
	EINTERNAL:     http.StatusInternalServerError,
}

// plain is the message of an error of another package without the
// package's name in front ("resilience: unknown pipeline" becomes "unknown
// pipeline"): the client reads about its request, not about the code.
func plain(err error) string {
	msg := err.Error()
	for _, prefix := range []string{"resilience: ", "telemetry: ", "alerting: ", "store: "} {
		msg = strings.ReplaceAll(msg, prefix, "")
	}
	return msg
}

// statusOf maps an error to the HTTP status and the message to show. It is
// the one place where errors become statuses: an *Error by its code; the
// sentinels of the packages the handlers call by meaning; anything else is
// a 500 whose message hides the cause (it is logged instead).
func statusOf(err error) (status int, msg string) {
	var e *Error
	switch {
	case errors.As(err, &e):
		if s, ok := codeStatus[e.Code]; ok {
			return s, e.Message
		}
		return http.StatusInternalServerError, "internal error"
	case errors.Is(err, resilience.ErrUnknownPipeline), errors.Is(err, telemetry.ErrUnknownPipeline):
		return http.StatusNotFound, plain(err)
	case errors.Is(err, resilience.ErrNoBreaker), errors.Is(err, resilience.ErrNoPolicy):
		return http.StatusConflict, plain(err)
	case errors.Is(err, alerting.ErrInvalidPayload):
		return http.StatusBadRequest, plain(err)
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the body exceeds %d bytes", tooLarge.Limit)
	}
	return http.StatusInternalServerError, "internal error"
}
