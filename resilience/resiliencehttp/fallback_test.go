package resiliencehttp_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencehttp"
)

func TestRoundTripFallbackAnswersAFailedCallAndCountsAFallback(t *testing.T) {
	srv := serve(t, status(503))
	p, rec := newPipeline(t, nil, newRetry(t, 2, 0))
	next := newTracking(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	var seen error
	fallback := func(_ *http.Request, err error) *http.Response {
		seen = err
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("from the fallback"))}
	}

	resp, err := resiliencehttp.NewTransport(p, next).RoundTripFallback(req, fallback)

	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("RoundTripFallback = %v, %v; want the fallback's 200", resp, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "from the fallback" {
		t.Errorf("body = %q, want the fallback's", b)
	}
	var se *resiliencehttp.StatusError
	if !errors.As(seen, &se) || se.StatusCode != 503 {
		t.Errorf("the fallback saw %v, want the 503's *StatusError", seen)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("server saw %d requests, want 2 (the retry runs before the fallback)", n)
	}
	if n := len(rec.of(resilience.KindFallback)); n != 1 {
		t.Errorf("%d fallback events, want 1", n)
	}
	if n := next.unclosed(0); n != 0 {
		t.Errorf("%d failed response bodies left open", n)
	}
}

func TestRoundTripFallbackThatDeclinesReturnsTheLastResponse(t *testing.T) {
	srv := serve(t, status(503))
	p, rec := newPipeline(t, nil, newRetry(t, 2, 0))
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)

	resp, err := resiliencehttp.NewTransport(p, newTracking(t)).RoundTripFallback(req, func(*http.Request, error) *http.Response { return nil })

	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("RoundTripFallback = %v, %v; want the last 503", resp, err)
	}
	resp.Body.Close()
	if n := len(rec.of(resilience.KindFallback)); n != 0 {
		t.Errorf("%d fallback events, want none", n)
	}
}

func TestRoundTripFallbackIsNotAskedAfterASuccess(t *testing.T) {
	srv := serve(t, status(200))
	p, _ := newPipeline(t, nil, newRetry(t, 2, 0))
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	asked := false

	resp, err := resiliencehttp.NewTransport(p, newTracking(t)).RoundTripFallback(req, func(*http.Request, error) *http.Response { asked = true; return nil })

	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("RoundTripFallback = %v, %v; want the 200", resp, err)
	}
	resp.Body.Close()
	if asked {
		t.Error("the fallback was asked after a success")
	}
}
