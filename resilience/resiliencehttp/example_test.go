package resiliencehttp_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencehttp"
)

func Example_transport() {
	// A downstream that is unavailable for its first request.
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "hello")
	}))
	defer srv.Close()

	retry, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 3,
		Backoff:     resilience.BackoffConfig{Base: 10 * time.Millisecond},
	})
	if err != nil {
		log.Fatal(err)
	}
	perAttempt, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: 2 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	attempts := resilience.ObserverFunc(func(_ context.Context, e resilience.Event) {
		if e.Kind == resilience.KindAttemptEnd {
			fmt.Printf("attempt %d: %v %v\n", e.Attempt, e.Outcome, e.Err)
		}
	})
	p, err := resilience.New("greeter", resilience.Config{
		Policies:  []resilience.Policy{retry, perAttempt},
		Observers: []resilience.Observer{attempts},
	})
	if err != nil {
		log.Fatal(err)
	}

	client := &http.Client{Transport: resiliencehttp.NewTransport(p, nil)}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s", resp.Status, body)
	// Output:
	// attempt 1: failure resiliencehttp: response status 503 Service Unavailable
	// attempt 2: success <nil>
	// 200 OK: hello
}
