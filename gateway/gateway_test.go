package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/gateway"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// problemBody is the JSON of a problem response.
type problemBody struct {
	Type, Title, Detail, Route, Pipeline, Reason string
	Status                                       int
}

func readProblem(t *testing.T, resp *http.Response, body string) problemBody {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json (body %q)", ct, body)
	}
	var p problemBody
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	if p.Status != resp.StatusCode {
		t.Errorf("problem status %d, response status %d", p.Status, resp.StatusCode)
	}
	return p
}

var epoch = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

func TestGatewayForwardsToTheRouteWithItsPrefixStrippedAndForwardedHeaders(t *testing.T) {
	var got *http.Request
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		w.Header().Set("Connection", "X-Upstream-Hop")
		w.Header().Set("X-Upstream-Hop", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Item", "7")
		_, _ = io.WriteString(w, "item 7")
	})
	p, _ := pipeline(t, "inventory", nil, retry(t, 3))
	_, url, client := front(t, gateway.Route{Name: "inventory-api", PathPrefix: "/inventory/", StripPrefix: true, Upstream: up.URL + "/v1", Pipeline: p})

	resp, body := do(t, client, http.MethodGet, url+"/inventory/items/7?fields=all", http.Header{
		"Connection":       {"X-Client-Hop"},
		"X-Client-Hop":     {"secret"},
		"Keep-Alive":       {"timeout=5"},
		"Proxy-Connection": {"keep-alive"},
		"X-Forwarded-For":  {"203.0.113.9"},
		"X-Request-Id":     {"r-1"},
	}, "")

	if resp.StatusCode != 200 || body != "item 7" || resp.Header.Get("X-Item") != "7" {
		t.Fatalf("response %d %q, X-Item %q; want the upstream's 200 \"item 7\"", resp.StatusCode, body, resp.Header.Get("X-Item"))
	}
	if got.URL.Path != "/v1/items/7" || got.URL.RawQuery != "fields=all" {
		t.Errorf("upstream saw %s?%s, want /v1/items/7?fields=all", got.URL.Path, got.URL.RawQuery)
	}
	for _, h := range []string{"X-Client-Hop", "Keep-Alive", "Proxy-Connection"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("upstream saw hop-by-hop header %s: %q", h, v)
		}
	}
	if v := got.Header.Get("X-Request-Id"); v != "r-1" {
		t.Errorf("upstream saw X-Request-Id %q, want it passed on", v)
	}
	if v := got.Header.Get("X-Forwarded-For"); v != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the client's appended", v)
	}
	if v := got.Header.Get("X-Forwarded-Host"); v != strings.TrimPrefix(url, "http://") {
		t.Errorf("X-Forwarded-Host = %q, want the gateway's host", v)
	}
	if v := got.Header.Get("X-Forwarded-Proto"); v != "http" {
		t.Errorf("X-Forwarded-Proto = %q, want http", v)
	}
	for _, h := range []string{"X-Upstream-Hop", "Keep-Alive"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("client saw hop-by-hop header %s: %q", h, v)
		}
	}
}

func TestGatewayAnswersARequestNoRouteMatchesWith404(t *testing.T) {
	up := newUpstream(t, text("ok"))
	p, _ := pipeline(t, "inventory", nil)
	_, url, client := front(t, gateway.Route{Name: "inventory-api", PathPrefix: "/inventory/", Methods: []string{"GET"}, Upstream: up.URL, Pipeline: p})

	for _, tc := range []struct{ method, path string }{{"GET", "/payments/1"}, {"POST", "/inventory/1"}} {
		resp, body := do(t, client, tc.method, url+tc.path, nil, "")
		if resp.StatusCode != 404 || readProblem(t, resp, body).Reason != "no_route" {
			t.Errorf("%s %s = %d %s, want a 404 no_route problem", tc.method, tc.path, resp.StatusCode, body)
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Errorf("upstream saw %d requests, want none", n)
	}
}

func TestGatewayRetriesAnUpstreamThatRefusesConnectionsThenAnswers502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	p, rec := pipeline(t, "inventory", nil, retry(t, 3))
	_, url, client := front(t, gateway.Route{Name: "inventory-api", PathPrefix: "/", Upstream: down, Pipeline: p})

	resp, body := get(t, client, url+"/items/1")

	pr := readProblem(t, resp, body)
	if resp.StatusCode != 502 || pr.Reason != "upstream_unreachable" || pr.Route != "inventory-api" || pr.Pipeline != "inventory" {
		t.Errorf("response %d %+v, want 502 upstream_unreachable naming the route and pipeline", resp.StatusCode, pr)
	}
	if n := rec.count(resilience.KindAttemptEnd); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

// hang is an upstream that holds every request until the request is
// cancelled, and tells arrived and cancelled about each.
func hang(arrived, cancelled chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
		cancelled <- struct{}{}
	}
}

func TestGatewayCutsSlowAttemptsAndRetriesThem(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	arrived, cancelled := make(chan struct{}, 4), make(chan struct{}, 4)
	up := newUpstream(t, hang(arrived, cancelled))
	p, rec := pipeline(t, "inventory", clock, retry(t, 2), timeout(t, 100*time.Millisecond))
	_, url, client := front(t, gateway.Route{Name: "inventory-api", PathPrefix: "/", Upstream: up.URL, Pipeline: p})

	done := make(chan struct{})
	var resp *http.Response
	var body string
	go func() {
		defer close(done)
		resp, body = get(t, client, url+"/slow")
	}()
	for attempt := 1; attempt <= 2; attempt++ {
		<-arrived
		clock.BlockUntil(1)
		clock.Advance(100 * time.Millisecond)
		<-cancelled
		if attempt == 1 {
			// Between the attempts: the backoff of a nanosecond (or, had it
			// already passed, the second attempt's timer, which a
			// millisecond does not end).
			clock.BlockUntil(1)
			clock.Advance(time.Millisecond)
		}
	}
	if n := rec.count(resilience.KindAttemptEnd); n > 2 {
		t.Errorf("%d attempts ended, want 2", n)
	}
	<-done

	if pr := readProblem(t, resp, body); resp.StatusCode != 504 || pr.Reason != "timeout" {
		t.Errorf("response %d %+v, want a 504 timeout problem", resp.StatusCode, pr)
	}
	if n := up.hits.Load(); n != 2 {
		t.Errorf("upstream saw %d requests, want 2 (each cut after 100ms)", n)
	}
}

func TestGatewayCutsACallThatRunsPastItsTotalTimeout(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	arrived, cancelled := make(chan struct{}, 4), make(chan struct{}, 4)
	up := newUpstream(t, hang(arrived, cancelled))
	p, _ := pipeline(t, "inventory", clock, timeout(t, time.Second), retry(t, 5))
	_, url, client := front(t, gateway.Route{Name: "inventory-api", PathPrefix: "/", Upstream: up.URL, Pipeline: p})

	done := make(chan struct{})
	var resp *http.Response
	var body string
	go func() {
		defer close(done)
		resp, body = get(t, client, url+"/slow")
	}()
	<-arrived
	clock.BlockUntil(1)
	clock.Advance(time.Second)
	<-cancelled
	<-done

	if pr := readProblem(t, resp, body); resp.StatusCode != 504 || pr.Reason != "timeout" {
		t.Errorf("response %d %+v, want a 504 timeout problem", resp.StatusCode, pr)
	}
	if n := up.hits.Load(); n != 1 {
		t.Errorf("upstream saw %d requests, want 1: the call's timeout ends the retries", n)
	}
}

func TestGatewayOpensTheBreakerInA503StormAndThenAnswersWithoutTheUpstream(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	up := newUpstream(t, status(503))
	b, err := resilience.NewBreaker(resilience.BreakerConfig{WindowSize: 10, MinimumCalls: 10, OpenDuration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pipeline(t, "inventory", clock, b)
	_, url, client := front(t, gateway.Route{Name: "inventory-api", PathPrefix: "/", Upstream: up.URL, Pipeline: p})

	for i := range 10 {
		if resp, _ := get(t, client, url+"/items"); resp.StatusCode != 503 || resp.Header.Get("Content-Type") == "application/problem+json" {
			t.Fatalf("call %d: %d %s, want the upstream's own 503", i, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if s := b.State(); s != resilience.StateOpen {
		t.Fatalf("breaker %v after 10 failures, want open", s)
	}
	clock.Advance(10 * time.Second)
	for range 5 {
		resp, body := get(t, client, url+"/items")
		pr := readProblem(t, resp, body)
		if resp.StatusCode != 503 || pr.Reason != "breaker_open" || pr.Route != "inventory-api" || pr.Pipeline != "inventory" {
			t.Errorf("response %d %+v, want a 503 breaker_open problem naming route and pipeline", resp.StatusCode, pr)
		}
		if ra := resp.Header.Get("Retry-After"); ra != "20" {
			t.Errorf("Retry-After = %q, want 20 (the breaker probes 30s after opening, 10s ago)", ra)
		}
	}
	if n := up.hits.Load(); n != 10 {
		t.Errorf("upstream saw %d requests, want 10: none once the breaker opened", n)
	}
}

func TestGatewayNamesAForcedOpenBreakerAndItsReason(t *testing.T) {
	up := newUpstream(t, text("ok"))
	b, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pipeline(t, "inventory", nil, b)
	_, url, client := front(t, gateway.Route{Name: "inventory-api", PathPrefix: "/", Upstream: up.URL, Pipeline: p})
	if err := b.Override(context.Background(), resilience.StateForcedOpen, "maintenance window", time.Time{}); err != nil {
		t.Fatal(err)
	}

	resp, body := get(t, client, url+"/items")

	pr := readProblem(t, resp, body)
	if resp.StatusCode != 503 || pr.Reason != "breaker_forced_open" || !strings.Contains(pr.Detail, "maintenance window") {
		t.Errorf("response %d %+v, want a 503 breaker_forced_open problem with the reason", resp.StatusCode, pr)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After = %q for an override without an end, want none", ra)
	}
	if n := up.hits.Load(); n != 0 {
		t.Errorf("upstream saw %d requests, want none", n)
	}
}

func TestGatewayAnswersARefusalWith503AndItsReason(t *testing.T) {
	for _, tc := range []struct {
		reason string
		policy func() (resilience.Policy, error)
	}{
		{"bulkhead_full", func() (resilience.Policy, error) {
			return resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1})
		}},
		{"concurrency_limit", func() (resilience.Policy, error) {
			return resilience.NewAdaptiveLimit(resilience.AdaptiveLimitConfig{InitialLimit: 1, MinLimit: 1, MaxLimit: 1})
		}},
		{"rate_limited", func() (resilience.Policy, error) {
			return resilience.NewRateLimiter(resilience.RateLimiterConfig{Rate: 0.001, Burst: 1})
		}},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			arrived, cancelled := make(chan struct{}, 4), make(chan struct{}, 4)
			up := newUpstream(t, hang(arrived, cancelled))
			pol, err := tc.policy()
			if err != nil {
				t.Fatal(err)
			}
			p, _ := pipeline(t, "inventory", nil, pol)
			_, url, client := front(t, gateway.Route{Name: "inventory-api", PathPrefix: "/", Upstream: up.URL, Pipeline: p})
			ctx, cancel := context.WithCancel(context.Background())
			first := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/slow", nil)
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				first <- err
			}()
			<-arrived

			resp, body := get(t, client, url+"/other")
			cancel()
			<-cancelled
			<-first

			if pr := readProblem(t, resp, body); resp.StatusCode != 503 || pr.Reason != tc.reason {
				t.Errorf("response %d %+v, want a 503 %s problem", resp.StatusCode, pr, tc.reason)
			}
		})
	}
}

func TestGatewayHonoursRetryAfterOfA429(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	up := newUpstream(t, sequence(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
	}, text("ok")))
	r, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 2,
		Backoff:     resilience.BackoffConfig{Base: time.Millisecond, Max: 10 * time.Second, Jitter: resilience.JitterNone},
		Budget:      resilience.BudgetConfig{Disabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pipeline(t, "inventory", clock, r)
	_, url, client := front(t, gateway.Route{Name: "inventory-api", PathPrefix: "/", Upstream: up.URL, Pipeline: p})

	done := make(chan struct{})
	var resp *http.Response
	var body string
	go func() {
		defer close(done)
		resp, body = get(t, client, url+"/items")
	}()
	clock.BlockUntil(1)
	clock.Advance(2*time.Second - time.Millisecond)
	if n := up.hits.Load(); n != 1 {
		t.Errorf("upstream saw %d requests before Retry-After passed, want 1", n)
	}
	clock.Advance(time.Millisecond)
	<-done

	if resp.StatusCode != 200 || body != "ok" {
		t.Errorf("response %d %q, want the retry's 200", resp.StatusCode, body)
	}
}

func TestGatewayRetriesOnlyRequestsThatCanBeSentAgain(t *testing.T) {
	const payload = `{"sku":"A-7","quantity":2}`
	tests := []struct {
		name     string
		method   string
		header   http.Header
		body     string
		maxBytes int64
		hits     int32
	}{
		{name: "a POST without Idempotency-Key is sent once", method: "POST", body: payload, hits: 1},
		{name: "a POST with Idempotency-Key is retried with its body", method: "POST", header: http.Header{"Idempotency-Key": {"k-1"}}, body: payload, hits: 2},
		{name: "a PUT is retried with its body", method: "PUT", body: payload, hits: 2},
		{name: "a PUT whose body is larger than max_replay_bytes is sent once", method: "PUT", body: strings.Repeat("x", 2048), maxBytes: 1024, hits: 1},
		{name: "a PUT whose body fits max_replay_bytes exactly is retried", method: "PUT", body: strings.Repeat("x", 1024), maxBytes: 1024, hits: 2},
		{name: "a GET is retried", method: "GET", hits: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bodies []string
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				bodies = append(bodies, string(b))
				if len(bodies) == 1 {
					w.WriteHeader(503)
					return
				}
				_, _ = io.WriteString(w, "stored")
			})
			p, _ := pipeline(t, "orders", nil, retry(t, 3))
			_, url, client := front(t, gateway.Route{Name: "orders-api", PathPrefix: "/", Upstream: up.URL, Pipeline: p, MaxReplayBytes: tt.maxBytes})

			resp, _ := do(t, client, tt.method, url+"/orders", tt.header, tt.body)

			if n := up.hits.Load(); n != tt.hits {
				t.Fatalf("upstream saw %d requests, want %d", n, tt.hits)
			}
			for i, b := range bodies {
				if b != tt.body {
					t.Errorf("request %d carried %d bytes, want the client's %d", i+1, len(b), len(tt.body))
				}
			}
			want := 200
			if tt.hits == 1 {
				want = 503
			}
			if resp.StatusCode != want {
				t.Errorf("status %d, want %d", resp.StatusCode, want)
			}
		})
	}
}

func TestGatewayCancelsTheUpstreamRequestWhenTheClientGoesAway(t *testing.T) {
	arrived, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	up := newUpstream(t, hang(arrived, cancelled))
	p, rec := pipeline(t, "inventory", nil, retry(t, 3))
	_, url, client := front(t, gateway.Route{Name: "inventory-api", PathPrefix: "/", Upstream: up.URL, Pipeline: p})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/slow", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived

	cancel()

	<-cancelled // the upstream saw its request cancelled
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v, want context.Canceled", err)
	}
	if n := up.hits.Load(); n != 1 {
		t.Errorf("upstream saw %d requests, want 1: a cancelled call is not retried", n)
	}
	_ = rec
}

func TestGatewayStreamsALargeResponseInBoundedMemory(t *testing.T) {
	const size = 256 << 20
	chunk := make([]byte, 64<<10)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	p, _ := pipeline(t, "downloads", nil, retry(t, 3))
	_, url, client := front(t, gateway.Route{Name: "downloads", PathPrefix: "/", Upstream: up.URL, Pipeline: p})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp, err := client.Get(url + "/big")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	runtime.ReadMemStats(&after)

	if err != nil || n != size {
		t.Fatalf("read %d bytes (%v), want %d", n, err, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("streaming %d MiB allocated %d MiB, want under 16 MiB: the body must not be buffered", size>>20, alloc>>20)
	}
}

// websocketEcho is an upstream that accepts an Upgrade: websocket request
// by hijacking the connection and echoing what it reads.
func websocketEcho(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		http.Error(w, "want an upgrade", http.StatusBadRequest)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	_ = rw.Flush()
	_, _ = io.Copy(conn, rw)
}

// upgrade sends a WebSocket handshake to the gateway on a raw connection
// and returns the connection and the response status line.
func upgrade(t *testing.T, url string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, err = io.WriteString(conn, "GET /socket HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, br, resp
}

func TestGatewayPassesAWebSocketUpgradeThrough(t *testing.T) {
	up := newUpstream(t, websocketEcho)
	p, _ := pipeline(t, "chat", nil, retry(t, 3))
	_, url, _ := front(t, gateway.Route{Name: "chat", PathPrefix: "/", Upstream: up.URL, Pipeline: p})

	conn, br, resp := upgrade(t, url)

	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("handshake answered %d (Upgrade %q), want 101 websocket", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
	if _, err := io.WriteString(conn, "ping"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Errorf("read %q (%v) through the upgraded connection, want the echo of ping", buf, err)
	}
}

func TestGatewayNeverRetriesAnUpgrade(t *testing.T) {
	up := newUpstream(t, sequence(status(503), websocketEcho))
	p, _ := pipeline(t, "chat", nil, retry(t, 3))
	_, url, _ := front(t, gateway.Route{Name: "chat", PathPrefix: "/", Upstream: up.URL, Pipeline: p})

	_, _, resp := upgrade(t, url)

	if resp.StatusCode != 503 {
		t.Errorf("handshake answered %d, want the upstream's 503 (not retried)", resp.StatusCode)
	}
	if n := up.hits.Load(); n != 1 {
		t.Errorf("upstream saw %d handshakes, want 1", n)
	}
}
