package ui

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// guard bounds a wait for something the test caused; it is a deadline
// for failure, never a pause for correctness.
const guard = 10 * time.Second

type sseEvent struct{ name, data string }

// readEvent reads the next named event of a stream.
// readEvent reads the next event other than "nav" and "charts", which
// come with every update (see readAnyEvent and TestLivePartsUpdate).
func readEvent(t *testing.T, r *bufio.Reader) sseEvent {
	t.Helper()
	for {
		if e := readAnyEvent(t, r); e.name != "nav" && e.name != "charts" {
			return e
		}
	}
}

// readAnyEvent reads the next event.
func readAnyEvent(t *testing.T, r *bufio.Reader) sseEvent {
	t.Helper()
	var ev sseEvent
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name != "" {
				ev.data = strings.Join(data, "\n")
				return ev
			}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

// stream opens GET path on a live test server.
func stream(t *testing.T, ts *httptest.Server, path string) (*bufio.Reader, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return bufio.NewReader(resp.Body), func() { cancel(); _ = resp.Body.Close() }
}

func TestEventsSendsTheTilesAndTheirUpdates(t *testing.T) {
	ev := newEnv(t)
	ts := httptest.NewServer(ev.e)
	defer ts.Close()
	r, done := stream(t, ts, "/events")
	defer done()

	for _, name := range []string{"payments", "search"} {
		e := readEvent(t, r)
		if e.name != "tile" || !strings.HasPrefix(e.data, `<section id="tile-`+name+`"`) {
			t.Fatalf("initial event %q: %.80s", e.name, e.data)
		}
	}
	if e := readEvent(t, r); e.name != "pipelines" || !strings.Contains(e.data, "<li>payments</li><li>search</li>") {
		t.Fatalf("after the tiles %q: %.200s", e.name, e.data)
	}
	ev.stats.update("search", func(ps *telemetry.PipelineSnapshot) {
		ps.Breaker.State = resilience.StateHalfOpen
	})
	readEvent(t, r) // payments first, then search
	e := readEvent(t, r)
	if e.name != "tile" || !strings.Contains(e.data, `id="tile-search"`) || !strings.Contains(e.data, "HALF-OPEN") {
		t.Fatalf("update %q: %s", e.name, e.data)
	}
}

func TestEventsForAPipelineSendItsHeaderAndCalls(t *testing.T) {
	ev := newEnv(t)
	ts := httptest.NewServer(ev.e)
	defer ts.Close()
	r, done := stream(t, ts, "/events?pipeline=payments")
	defer done()
	if e := readEvent(t, r); e.name != "header" || !strings.Contains(e.data, `id="header-payments"`) {
		t.Fatalf("first event %q: %.80s", e.name, e.data)
	}
	if e := readEvent(t, r); e.name != "calls" || !strings.Contains(e.data, `id="calls-payments"`) {
		t.Fatalf("second event %q: %.80s", e.name, e.data)
	}

	// A change of state reaches the page at once.
	ctx := resilience.WithActor(context.Background(), "ana")
	ev.stats.update("payments", func(ps *telemetry.PipelineSnapshot) { ps.Breaker.State = resilience.StateForcedOpen })
	if err := ev.reg.Override(ctx, "payments", resilience.StateForcedOpen, "vendor incident", time.Time{}); err != nil {
		t.Fatal(err)
	}
	e := readEvent(t, r)
	if e.name != "header" || !strings.Contains(e.data, "FORCED OPEN") {
		t.Fatalf("update %q: %s", e.name, e.data)
	}
}

func TestEventsForAnUnknownPipelineIsNotFound(t *testing.T) {
	ev := newEnv(t)
	if rec := ev.do(req{method: "GET", path: "/events?pipeline=nope"}); rec.Code != 404 {
		t.Fatalf("status %d, want 404", rec.Code)
	}
}

func TestEventsRefuseStreamsBeyondTheLimit(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.MaxStreams = 1 })
	ts := httptest.NewServer(ev.e)
	defer ts.Close()
	r, done := stream(t, ts, "/events")
	defer done()
	readEvent(t, r)
	resp, err := ts.Client().Get(ts.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second stream: status %d, want 503", resp.StatusCode)
	}
}

func TestCloseEndsTheStreams(t *testing.T) {
	ev := newEnv(t)
	ts := httptest.NewServer(ev.e)
	defer ts.Close()
	r, done := stream(t, ts, "/events")
	defer done()
	readEvent(t, r)
	readEvent(t, r)
	if err := ev.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after Close: %v", err)
	}
	if n := ev.stats.subscribers(); n != 0 {
		t.Errorf("%d subscriptions left after Close", n)
	}
}

// receive waits for the next message of a client.
func receive(t *testing.T, c *client) []byte {
	t.Helper()
	select {
	case msg := <-c.ch:
		return msg
	case <-time.After(guard):
		t.Fatal("no update arrived")
		return nil
	}
}

func TestHubDropsAStalledClientWithoutDelayingOthers(t *testing.T) {
	ev := newEnv(t)
	h := ev.srv.hub
	stalled, err := h.add("", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	reader, err := h.add("payments", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	defer h.remove(reader)
	for i := range clientBuffer + 1 {
		ev.stats.change()
		if i > 0 { // later changes wait for the end of the interval
			ev.clock.BlockUntil(1)
			ev.clock.Advance(time.Second)
		}
		if msg := receive(t, reader); !strings.Contains(string(msg), `id="header-payments"`) {
			t.Fatalf("update %d: %.80s", i, msg)
		}
	}
	select {
	case <-stalled.gone:
	case <-time.After(guard):
		t.Fatal("the stalled client was not dropped")
	}
	if len(stalled.ch) != clientBuffer {
		t.Errorf("stalled client holds %d updates, want %d", len(stalled.ch), clientBuffer)
	}
}

func TestHubSendsAtMostOneUpdatePerInterval(t *testing.T) {
	ev := newEnv(t)
	h := ev.srv.hub
	c, err := h.add("", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	defer h.remove(c)
	ev.stats.change()
	receive(t, c)
	for range 5 { // a burst of changes within the interval
		ev.stats.change()
	}
	ev.clock.BlockUntil(2) // the idle refresh and the pending update
	if len(c.ch) != 0 {
		t.Fatal("an update was sent within the interval")
	}
	ev.clock.Advance(999 * time.Millisecond)
	if len(c.ch) != 0 {
		t.Fatal("an update was sent before the interval ended")
	}
	ev.clock.Advance(time.Millisecond)
	receive(t, c)
}

func TestHubRefreshesAnIdleViewAfterFiveIntervals(t *testing.T) {
	ev := newEnv(t)
	h := ev.srv.hub
	c, err := h.add("", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	defer h.remove(c)
	ev.stats.change()
	receive(t, c)
	ev.clock.BlockUntil(1) // the idle refresh
	ev.clock.Advance(4 * time.Second)
	if len(c.ch) != 0 {
		t.Fatal("an idle view was refreshed before five intervals")
	}
	ev.clock.Advance(time.Second)
	receive(t, c)
}

func TestHubUnsubscribesAfterTheLastClient(t *testing.T) {
	ev := newEnv(t)
	h := ev.srv.hub
	a, _ := h.add("", "192.0.2.1")
	b, _ := h.add("", "192.0.2.1")
	if n := ev.stats.subscribers(); n != 1 {
		t.Fatalf("%d subscriptions for two clients, want 1", n)
	}
	h.remove(a)
	h.remove(b)
	h.loops.Wait()
	if n := ev.stats.subscribers(); n != 0 {
		t.Fatalf("%d subscriptions after the last client left", n)
	}
	c, _ := h.add("", "192.0.2.1")
	defer h.remove(c)
	if n := ev.stats.subscribers(); n != 1 {
		t.Fatalf("%d subscriptions after a new client, want 1", n)
	}
}
