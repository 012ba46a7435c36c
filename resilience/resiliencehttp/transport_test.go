package resiliencehttp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencehttp"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestTransportClassifiesStatuses(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		hits     int
		want     int
		outcome  resilience.Outcome
	}{
		{"a 503 followed by a 200 is retried and succeeds", []int{503, 200}, 2, 200, resilience.OutcomeSuccess},
		{"a 500 is retried", []int{500, 200}, 2, 200, resilience.OutcomeSuccess},
		{"a 502 is retried", []int{502, 200}, 2, 200, resilience.OutcomeSuccess},
		{"a 504 is retried", []int{504, 200}, 2, 200, resilience.OutcomeSuccess},
		{"a 429 is retried", []int{429, 200}, 2, 200, resilience.OutcomeSuccess},
		{"a 408 is retried", []int{408, 200}, 2, 200, resilience.OutcomeSuccess},
		{"a 404 is not retried and comes back", []int{404, 200}, 1, 404, resilience.OutcomeFailure},
		{"a 400 is not retried", []int{400, 200}, 1, 400, resilience.OutcomeFailure},
		{"a 401 is not retried", []int{401, 200}, 1, 401, resilience.OutcomeFailure},
		{"a 409 is not retried", []int{409, 200}, 1, 409, resilience.OutcomeFailure},
		{"a 422 is not retried", []int{422, 200}, 1, 422, resilience.OutcomeFailure},
		{"a 301 is a success", []int{301, 200}, 1, 301, resilience.OutcomeSuccess},
		{"a 201 is a success", []int{201, 500}, 1, 201, resilience.OutcomeSuccess},
		{"once attempts run out the last 503 comes back with its body", []int{503, 502, 503, 200}, 3, 503, resilience.OutcomeFailure},
		{"a 429 after a 503 is retried too", []int{503, 429, 200}, 3, 200, resilience.OutcomeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := make([]http.HandlerFunc, len(tt.statuses))
			for i, code := range tt.statuses {
				steps[i] = status(code)
			}
			srv := serve(t, steps...)
			next := newTracking(t)
			p, rec := newPipeline(t, nil, newRetry(t, 3, 0))
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)

			got := roundTrip(resiliencehttp.NewTransport(p, next), req)

			if got.err != nil {
				t.Fatalf("RoundTrip error = %v, want a response", got.err)
			}
			if got.resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", got.resp.StatusCode, tt.want)
			}
			if want := "hit " + strconv.Itoa(tt.hits); got.body != want {
				t.Errorf("body = %q, want %q (the last response's)", got.body, want)
			}
			if n := int(srv.hits.Load()); n != tt.hits {
				t.Errorf("server saw %d requests, want %d", n, tt.hits)
			}
			if n := next.unclosed(0); n != 0 {
				t.Errorf("%d response bodies left open", n)
			}
			ends := rec.of(resilience.KindCallEnd)
			if len(ends) != 1 || ends[0].Outcome != tt.outcome {
				t.Fatalf("call end events = %+v, want one with outcome %v", ends, tt.outcome)
			}
			if tt.outcome == resilience.OutcomeFailure {
				var se *resiliencehttp.StatusError
				if !errors.As(ends[0].Err, &se) || se.StatusCode != tt.want {
					t.Errorf("call end error = %v, want a *StatusError with code %d", ends[0].Err, tt.want)
				}
			}
		})
	}
}

func TestTransportHonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name  string
		code  int
		after string
		want  time.Duration
		hint  bool
	}{
		{"a 429 with Retry-After in seconds waits that long", 429, "3", 3 * time.Second, true},
		{"a 429 with Retry-After as an HTTP-date waits until then on the pipeline's clock", 429, epoch.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second, true},
		{"a 503 with Retry-After in seconds waits that long", 503, "2", 2 * time.Second, true},
		{"a Retry-After date in the past leaves the backoff alone", 429, epoch.Add(-time.Minute).Format(http.TimeFormat), time.Nanosecond, true},
		{"an unreadable Retry-After leaves the backoff alone", 429, "soon", time.Nanosecond, false},
		{"a Retry-After beyond the backoff cap is honoured in full", 429, "45", 45 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tt.after)
				status(tt.code)(w, r)
			}, status(200))
			clock := resiliencetest.NewClock(epoch)
			p, rec := newPipeline(t, clock, newRetry(t, 2, 0))
			next := newTracking(t)
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)

			done := goRoundTrip(resiliencehttp.NewTransport(p, next), req)
			clock.BlockUntil(1)
			scheduled := rec.of(resilience.KindRetryScheduled)
			if len(scheduled) != 1 || scheduled[0].Delay != tt.want {
				t.Errorf("retry scheduled events = %+v, want one with Delay %v", scheduled, tt.want)
			}
			clock.Advance(tt.want)
			got := <-done

			if got.err != nil || got.resp.StatusCode != 200 {
				t.Fatalf("RoundTrip = %v, %v, want a 200", got.resp, got.err)
			}
			var ra interface{ RetryAfter() time.Duration }
			if len(scheduled) == 1 && errors.As(scheduled[0].Err, &ra) != tt.hint {
				t.Errorf("retry scheduled error = %v: RetryAfter hint present = %v, want %v", scheduled[0].Err, !tt.hint, tt.hint)
			}
		})
	}
}

func TestTransportAnswersAtOnceWhenRetryAfterIsTooLongToHonour(t *testing.T) {
	// The fake clock runs far ahead of the real one, against which a
	// context's deadline is also read.
	start := time.Date(2200, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name     string
		after    string
		deadline time.Duration // from start; zero means none
		reason   string
	}{
		{"a hint beyond MaxRetryAfter", "3600", 0, "retry after"},
		{"a hint beyond the request's deadline", "30", 10 * time.Second, "deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tt.after)
				status(503)(w, r)
			}, status(200))
			clock := resiliencetest.NewClock(start)
			p, rec := newPipeline(t, clock, newRetry(t, 2, 0))
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, start.Add(tt.deadline))
				defer cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)

			got := roundTrip(resiliencehttp.NewTransport(p, newTracking(t)), req)

			if got.err != nil || got.resp.StatusCode != 503 {
				t.Fatalf("RoundTrip = %v, %v, want the 503 at once", got.resp, got.err)
			}
			if n := srv.hits.Load(); n != 1 {
				t.Errorf("server saw %d requests, want 1", n)
			}
			if n := len(rec.of(resilience.KindRetryScheduled)); n != 0 {
				t.Errorf("%d retries scheduled, want none", n)
			}
			ends := rec.of(resilience.KindCallEnd)
			var re *resilience.RetryError
			if len(ends) != 1 || !errors.As(ends[0].Err, &re) || re.Reason.String() != tt.reason {
				t.Errorf("call end events = %+v, want one whose RetryError gives %q", ends, tt.reason)
			}
		})
	}
}

// reset hijacks the connection and resets it without answering.
func reset(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

func TestTransportRetriesConnectionResets(t *testing.T) {
	t.Run("a reset followed by a 200 is retried and succeeds", func(t *testing.T) {
		srv := serve(t, reset, status(200))
		p, rec := newPipeline(t, nil, newRetry(t, 3, 0))
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)

		got := roundTrip(resiliencehttp.NewTransport(p, newTracking(t)), req)

		if got.err != nil || got.resp.StatusCode != 200 || got.body != "hit 2" {
			t.Fatalf("RoundTrip = %v, %q, %v; want the second attempt's 200", got.resp, got.body, got.err)
		}
		scheduled := rec.of(resilience.KindRetryScheduled)
		var se *resiliencehttp.StatusError
		if len(scheduled) != 1 || scheduled[0].Err == nil || errors.As(scheduled[0].Err, &se) {
			t.Errorf("retry scheduled events = %+v, want one for a transport error", scheduled)
		}
	})
	t.Run("resets on every attempt end in a RetryError and no response", func(t *testing.T) {
		srv := serve(t, reset)
		p, _ := newPipeline(t, nil, newRetry(t, 3, 0))
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)

		resp, err := resiliencehttp.NewTransport(p, newTracking(t)).RoundTrip(req)

		var re *resilience.RetryError
		if resp != nil || !errors.As(err, &re) || re.Attempts != 3 {
			t.Fatalf("RoundTrip = %v, %v; want no response and a RetryError after 3 attempts", resp, err)
		}
		if n := srv.hits.Load(); n != 3 {
			t.Errorf("server saw %d requests, want 3", n)
		}
	})
}

func TestTransportReplaysOnlyReplayableRequests(t *testing.T) {
	const payload = `{"amount":42}`
	tests := []struct {
		name      string
		method    string
		header    string
		noGetBody bool
		first     http.HandlerFunc
		hits      int
	}{
		{name: "a POST without Idempotency-Key is not retried", method: "POST", first: status(503), hits: 1},
		{name: "a POST with Idempotency-Key is retried with the same body", method: "POST", header: "Idempotency-Key", first: status(503), hits: 2},
		{name: "a POST with X-Idempotency-Key is retried with the same body", method: "POST", header: "X-Idempotency-Key", first: status(503), hits: 2},
		{name: "a PATCH without Idempotency-Key is not retried after a reset", method: "PATCH", first: reset, hits: 1},
		{name: "a PUT is retried with the same body", method: "PUT", first: status(503), hits: 2},
		{name: "a PUT whose body has no GetBody is not retried", method: "PUT", noGetBody: true, first: status(503), hits: 1},
		{name: "a POST with Idempotency-Key whose body has no GetBody is not retried", method: "POST", header: "Idempotency-Key", noGetBody: true, first: status(503), hits: 1},
		{name: "a DELETE is retried after a reset", method: "DELETE", first: reset, hits: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, tt.first, status(200))
			p, _ := newPipeline(t, nil, newRetry(t, 3, 0))
			body := newCloseCounter(payload)
			req, _ := http.NewRequest(tt.method, srv.URL, body)
			req.ContentLength = int64(len(payload))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(payload)), nil }
			if tt.noGetBody {
				req.GetBody = nil
			}
			if tt.header != "" {
				req.Header.Set(tt.header, "7c2f")
			}

			resp, err := resiliencehttp.NewTransport(p, newTracking(t)).RoundTrip(req)
			if resp != nil {
				resp.Body.Close()
			}

			if n := int(srv.hits.Load()); n != tt.hits {
				t.Errorf("server saw %d requests, want %d", n, tt.hits)
			}
			for i, b := range srv.requestBodies() {
				if b != payload {
					t.Errorf("request %d carried body %q, want %q", i+1, b, payload)
				}
			}
			if tt.hits == 2 && (err != nil || resp.StatusCode != 200) {
				t.Errorf("RoundTrip = %v, %v; want the retry's 200", resp, err)
			}
			if tt.hits == 1 && err == nil && resp.StatusCode != 503 {
				t.Errorf("status = %d, want the first attempt's 503", resp.StatusCode)
			}
			body.waitClosed(t)
		})
	}
}

func TestTransportReportsAFailingGetBody(t *testing.T) {
	srv := serve(t, status(503), status(200))
	p, _ := newPipeline(t, nil, newRetry(t, 3, 0))
	req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("x"))
	boom := errors.New("body source is gone")
	req.GetBody = func() (io.ReadCloser, error) { return nil, boom }
	next := newTracking(t)

	resp, err := resiliencehttp.NewTransport(p, next).RoundTrip(req)

	if resp != nil || !errors.Is(err, boom) {
		t.Fatalf("RoundTrip = %v, %v; want no response and the GetBody error", resp, err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
	if n := next.unclosed(0); n != 0 {
		t.Errorf("%d response bodies left open", n)
	}
}

func TestTransportRejectsWhileTheBreakerIsOpen(t *testing.T) {
	srv := serve(t, status(200))
	b, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPipeline(t, nil, newRetry(t, 3, 0), b)
	if err := b.Override(context.Background(), resilience.StateForcedOpen, "maintenance", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if s := b.State(); s != resilience.StateForcedOpen {
		t.Skipf("the breaker reports %v after being forced open; it does not implement overrides yet", s)
	}
	body := newCloseCounter("x")
	req, _ := http.NewRequest(http.MethodPut, srv.URL, body)
	client := &http.Client{Transport: resiliencehttp.NewTransport(p, newTracking(t))}

	resp, err := client.Do(req)

	if resp != nil || !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("Do = %v, %v; want no response and an error matching ErrOpen", resp, err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
	body.waitClosed(t)
}

func TestTransportReportsTheBreakerThatTripsBetweenAttempts(t *testing.T) {
	srv := serve(t, status(503), status(200))
	b, err := resilience.NewBreaker(resilience.BreakerConfig{WindowSize: 1, MinimumCalls: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPipeline(t, nil, newRetry(t, 3, 0), b)
	next := newTracking(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)

	resp, err := resiliencehttp.NewTransport(p, next).RoundTrip(req)
	if b.State() == resilience.StateClosed && err == nil {
		resp.Body.Close()
		t.Skip("the breaker does not open on failures yet")
	}

	if resp != nil || !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("RoundTrip = %v, %v; want no response and an error matching ErrOpen", resp, err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
	if n := next.unclosed(0); n != 0 {
		t.Errorf("the 503 before the rejection was left open")
	}
}

func TestTransportDrainsDiscardedResponses(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		reused bool
	}{
		{"a small failed response is drained and its connection reused", 10 << 10, true},
		{"a failed response of exactly the drain limit is drained", 64 << 10, true},
		{"a failed response beyond the drain limit is closed", 1 << 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(503)
				_, _ = w.Write(bytes.Repeat([]byte("x"), tt.size))
			}, status(200))
			p, _ := newPipeline(t, nil, newRetry(t, 2, 0))
			next := newTracking(t)
			var mu sync.Mutex
			var reused []bool
			trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
				mu.Lock()
				reused = append(reused, info.Reused)
				mu.Unlock()
			}}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, srv.URL, nil)

			got := roundTrip(resiliencehttp.NewTransport(p, next), req)

			if got.err != nil || got.resp.StatusCode != 200 {
				t.Fatalf("RoundTrip = %v, %v; want a 200", got.resp, got.err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reused) != 2 || reused[1] != tt.reused {
				t.Errorf("connections reused = %v, want the second reused = %v", reused, tt.reused)
			}
			if n := next.unclosed(0); n != 0 {
				t.Errorf("%d response bodies left open", n)
			}
		})
	}
}

func TestTransportReturnsAWholeLargeFailedResponse(t *testing.T) {
	want := strings.Repeat("y", 100<<10)
	srv := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(503)
		_, _ = io.WriteString(w, want)
	})
	p, _ := newPipeline(t, nil, newRetry(t, 2, 0))
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)

	got := roundTrip(resiliencehttp.NewTransport(p, newTracking(t)), req)

	if got.err != nil || got.resp.StatusCode != 503 || got.body != want {
		t.Fatalf("RoundTrip = %v, %d bytes, %v; want the last 503 with its %d-byte body", got.resp, len(got.body), got.err, len(want))
	}
}

func TestTransportCutsSlowAttempts(t *testing.T) {
	arrived := make(chan struct{})
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}, status(200))
	clock := resiliencetest.NewClock(epoch)
	p, rec := newPipeline(t, clock, newRetry(t, 2, 0), newTimeout(t, time.Second))
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)

	done := goRoundTrip(resiliencehttp.NewTransport(p, newTracking(t)), req)
	<-arrived
	clock.Advance(time.Second) // the first attempt times out
	clock.BlockUntil(1)        // the backoff before the second
	clock.Advance(time.Nanosecond)
	got := <-done

	if got.err != nil || got.resp.StatusCode != 200 || got.body != "hit 2" {
		t.Fatalf("RoundTrip = %v, %q, %v; want the second attempt's 200", got.resp, got.body, got.err)
	}
	timeouts := rec.of(resilience.KindTimeout)
	if len(timeouts) != 1 || timeouts[0].Scope != resilience.ScopeAttempt || timeouts[0].Attempt != 1 {
		t.Errorf("timeout events = %+v, want one for attempt 1", timeouts)
	}
}

func TestTransportKeepsTheBodyReadableAfterTheAttempt(t *testing.T) {
	const size = 4 << 20
	release := make(chan struct{})
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 1<<10))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(make([]byte, size-1<<10))
	})
	p, _ := newPipeline(t, nil, newRetry(t, 2, 0), newTimeout(t, time.Hour))
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)

	resp, err := resiliencehttp.NewTransport(p, newTracking(t)).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	close(release) // the rest of the body comes after the attempt has ended
	n, err := io.Copy(io.Discard, resp.Body)

	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v; want %d bytes", n, err, size)
	}
}

func TestTransportLetsTheCallerCancelTheBody(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "head")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	p, _ := newPipeline(t, nil, newTimeout(t, time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)

	resp, err := resiliencehttp.NewTransport(p, newTracking(t)).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = io.ReadAll(resp.Body)

	if !errors.Is(err, context.Canceled) {
		t.Fatalf("reading after the caller cancelled: %v, want context.Canceled", err)
	}
}

func TestTransportDropsTheLastResponseWhenACallTimeoutEndsTheCall(t *testing.T) {
	srv := serve(t, status(503))
	clock := resiliencetest.NewClock(epoch)
	p, _ := newPipeline(t, clock, newTimeout(t, time.Second), newRetry(t, 3, 5*time.Second))
	next := newTracking(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)

	done := goRoundTrip(resiliencehttp.NewTransport(p, next), req)
	clock.BlockUntil(2) // the call's timeout and the backoff after the 503
	clock.Advance(time.Second)
	got := <-done

	if got.resp != nil || !errors.Is(got.err, resilience.ErrTimeout) {
		t.Fatalf("RoundTrip = %v, %v; want no response and a timeout", got.resp, got.err)
	}
	if n := next.unclosed(0); n != 0 {
		t.Errorf("%d response bodies left open", n)
	}
}

func TestTransportWithoutAPipelineFails(t *testing.T) {
	body := newCloseCounter("x")
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", body)

	resp, err := new(resiliencehttp.Transport).RoundTrip(req)

	if resp != nil || err == nil || !strings.Contains(err.Error(), "Transport.Pipeline is nil") {
		t.Fatalf("RoundTrip = %v, %v; want an error naming Transport.Pipeline", resp, err)
	}
	body.waitClosed(t)
}

func TestTransportForwardsCloseIdleConnections(t *testing.T) {
	next := &idleCloser{}
	p, _ := newPipeline(t, nil)
	client := &http.Client{Transport: resiliencehttp.NewTransport(p, next)}

	client.CloseIdleConnections()

	if !next.closed {
		t.Fatal("CloseIdleConnections did not reach the underlying RoundTripper")
	}
}

type idleCloser struct{ closed bool }

func (c *idleCloser) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("unused")
}

func (c *idleCloser) CloseIdleConnections() { c.closed = true }

func TestStatusErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *resiliencehttp.StatusError
		want string
	}{
		{"the status line is quoted", &resiliencehttp.StatusError{StatusCode: 503, Status: "503 Service Unavailable"}, "resiliencehttp: response status 503 Service Unavailable"},
		{"a missing status line is made from the code", &resiliencehttp.StatusError{StatusCode: 429}, "resiliencehttp: response status 429 Too Many Requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
