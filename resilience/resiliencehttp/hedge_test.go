package resiliencehttp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencehttp"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func TestTransportHedgesAReplayableRequest(t *testing.T) {
	var n atomic.Int32
	arrived := make(chan int32, 4)
	cut := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		arrived <- i
		if i == 1 {
			<-r.Context().Done() // the slow first attempt, cancelled once the hedge wins
			cut <- struct{}{}
			return
		}
		_, _ = io.WriteString(w, "hedge")
	}))
	defer srv.Close()
	clk := resiliencetest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h, err := resilience.NewHedge(resilience.HedgeConfig{Delay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("hedged", resilience.Config{Policies: []resilience.Policy{h}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: resiliencehttp.NewTransport(p, nil)}
	type answer struct {
		body string
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := client.Get(srv.URL)
		if err != nil {
			done <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{string(b), err}
	}()
	<-arrived
	clk.BlockUntil(1)
	clk.Advance(50 * time.Millisecond)
	a := <-done
	if a.err != nil || a.body != "hedge" {
		t.Fatalf("GET = %q, %v; want the hedge's answer", a.body, a.err)
	}
	<-cut
	if c := h.Counts(); c.Started != 1 || c.Won != 1 || c.Canceled != 1 {
		t.Errorf("hedge counts %+v, want one started, won, and the first attempt cancelled", c)
	}

	// A request that is not replayable is not hedged.
	n.Store(1) // every request now answers at once
	resp, err := client.Post(srv.URL, "text/plain", io.NopCloser(strings.NewReader("x")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := h.Counts(); c.Started != 1 {
		t.Errorf("a POST without GetBody was hedged: %+v", c)
	}
}

func TestTransportHedgesARequestWithAFallback(t *testing.T) {
	var n atomic.Int32
	arrived := make(chan int32, 8)
	var failing atomic.Bool
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		arrived <- i
		switch {
		case r.Method == http.MethodPost:
			<-release
			_, _ = io.WriteString(w, "posted")
		case failing.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
		case i == 1:
			<-r.Context().Done() // the slow first attempt, cancelled once the hedge wins
		default:
			_, _ = io.WriteString(w, "hedge")
		}
	}))
	defer srv.Close()
	clk := resiliencetest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h, err := resilience.NewHedge(resilience.HedgeConfig{Delay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("hedged", resilience.Config{Policies: []resilience.Policy{h}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	tr := resiliencehttp.NewTransport(p, nil)
	fallback := func(*http.Request, error) *http.Response {
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("fallback")), Header: http.Header{}}
	}
	send := func(req *http.Request) (string, error) {
		resp, err := tr.RoundTripFallback(req, fallback)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	type answer struct {
		body string
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		body, err := send(req)
		done <- answer{body, err}
	}()
	<-arrived
	clk.BlockUntil(1)
	clk.Advance(50 * time.Millisecond)
	if a := <-done; a.err != nil || a.body != "hedge" {
		t.Fatalf("GET = %q, %v; want the hedge's answer", a.body, a.err)
	}
	if c := h.Counts(); c.Started != 1 || c.Won != 1 {
		t.Errorf("hedge counts %+v, want one hedge started and won", c)
	}

	// When every attempt fails, the fallback answers.
	failing.Store(true)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if body, err := send(req); err != nil || body != "fallback" {
		t.Errorf("a failed GET = %q, %v; want the fallback's answer", body, err)
	}

	// A request that is not replayable is not hedged, with a fallback too:
	// however long it takes, it is sent once.
	for len(arrived) > 0 {
		<-arrived
	}
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, io.NopCloser(strings.NewReader("x")))
		body, err := send(req)
		done <- answer{body, err}
	}()
	<-arrived
	clk.Advance(time.Hour)
	close(release)
	if a := <-done; a.err != nil || a.body != "posted" {
		t.Errorf("POST = %q, %v; want its answer", a.body, a.err)
	}
	if c := h.Counts(); c.Started != 1 || len(arrived) != 0 {
		t.Errorf("a POST without GetBody was hedged: %+v, %d more requests", c, len(arrived))
	}
}
