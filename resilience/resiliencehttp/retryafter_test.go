package resiliencehttp

import (
	"math"
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"delta-seconds are seconds", "120", 2 * time.Minute, true},
		{"zero seconds means at once", "0", 0, true},
		{"surrounding spaces are ignored", " 5 ", 5 * time.Second, true},
		{"an HTTP-date is measured from now", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"an RFC 850 date is accepted", now.Add(time.Minute).Format(time.RFC850), time.Minute, true},
		{"a date in the past means at once", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"too many seconds saturate", "99999999999999999999", math.MaxInt64, true},
		{"an empty value is no hint", "", 0, false},
		{"a negative number is no hint", "-5", 0, false},
		{"a signed number is no hint", "+5", 0, false},
		{"a fraction is no hint", "1.5", 0, false},
		{"words are no hint", "tomorrow", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.value, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestReplayable(t *testing.T) {
	tests := []struct {
		name   string
		method string
		header string
		want   bool
	}{
		{"GET is idempotent", http.MethodGet, "", true},
		{"an empty method means GET", "", "", true},
		{"HEAD is idempotent", http.MethodHead, "", true},
		{"OPTIONS is idempotent", http.MethodOptions, "", true},
		{"PUT is idempotent", http.MethodPut, "", true},
		{"DELETE is idempotent", http.MethodDelete, "", true},
		{"TRACE is idempotent", http.MethodTrace, "", true},
		{"POST is not", http.MethodPost, "", false},
		{"PATCH is not", http.MethodPatch, "", false},
		{"CONNECT is not", http.MethodConnect, "", false},
		{"POST with Idempotency-Key is", http.MethodPost, "Idempotency-Key", true},
		{"PATCH with X-Idempotency-Key is", http.MethodPatch, "X-Idempotency-Key", true},
		{"GET asking for a protocol upgrade is not", http.MethodGet, "Upgrade", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &http.Request{Method: tt.method, Header: http.Header{}}
			if tt.header != "" {
				req.Header.Set(tt.header, "k1")
			}
			if got := replayable(req); got != tt.want {
				t.Errorf("replayable(%s, %q) = %v, want %v", tt.method, tt.header, got, tt.want)
			}
		})
	}
}

func TestNewTransportDefaultsToDefaultTransport(t *testing.T) {
	if got := NewTransport(nil, nil).transport(); got != http.DefaultTransport {
		t.Fatalf("transport() = %v, want http.DefaultTransport", got)
	}
}
