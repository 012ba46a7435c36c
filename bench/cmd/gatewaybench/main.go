// Command gatewaybench runs one of the servers that bench/gateway.sh puts
// under wrk, each in a process of its own so that its memory can be read
// apart: the upstream, a bare httputil.ReverseProxy (with a pool of copy
// buffers, like the gateway's), and the Fusebox
// gateway with a pipeline of retry, breaker and timeout reporting to a
// telemetry.Aggregator, as the app builds it.
//
//	gatewaybench upstream -addr 127.0.0.1:9200
//	gatewaybench bare     -addr 127.0.0.1:9201 -upstream http://127.0.0.1:9200
//	gatewaybench gateway  -addr 127.0.0.1:9202 -upstream http://127.0.0.1:9200
//
// Every server listens on loopback only and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/fusebox-dev/fusebox/gateway"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("want a mode: upstream, bare or gateway")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	up := fs.String("upstream", "http://127.0.0.1:9200", "upstream URL")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var h http.Handler
	switch args[0] {
	case "upstream":
		body := []byte(`{"id":"7","name":"widget","stock":42,"warehouse":"north-3","ok":true}` + "\n")
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
	case "bare":
		target, err := url.Parse(*up)
		if err != nil {
			return err
		}
		h = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.SetXForwarded()
			},
			Transport:  transport(),
			BufferPool: &bufferPool{},
		}
	case "gateway":
		g, err := newGateway(*up)
		if err != nil {
			return err
		}
		defer g.Close()
		h = g
	default:
		return fmt.Errorf("unknown mode %q: want upstream, bare or gateway", args[0])
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bufferPool lends the bare proxy 32 KiB copy buffers, as the gateway's
// does, so that neither allocates one per request.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// transport is the upstream transport of both proxies: the gateway's
// default settings, so the two differ only in what runs around it.
func transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 256
	return tr
}

// newGateway builds the gateway of examples/gateway.yaml's inventory
// route: retry with a budget, breaker, per-attempt timeout, observed by an
// aggregator.
func newGateway(upstream string) (*gateway.Gateway, error) {
	agg, err := telemetry.NewAggregator(telemetry.AggregatorConfig{})
	if err != nil {
		return nil, err
	}
	retry, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 3,
		Backoff:     resilience.BackoffConfig{Base: 50 * time.Millisecond, Max: 2 * time.Second, Jitter: resilience.JitterFull},
		Budget:      resilience.BudgetConfig{Ratio: 0.2, MinPerSecond: 5},
	})
	if err != nil {
		return nil, err
	}
	breaker, err := resilience.NewBreaker(resilience.BreakerConfig{Window: resilience.WindowTime, WindowDuration: 10 * time.Second, MinimumCalls: 10})
	if err != nil {
		return nil, err
	}
	timeout, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second})
	if err != nil {
		return nil, err
	}
	p, err := resilience.New("inventory", resilience.Config{
		Policies:  []resilience.Policy{breaker, retry, timeout},
		Observers: []resilience.Observer{agg},
	})
	if err != nil {
		return nil, err
	}
	return gateway.New(gateway.Config{
		Routes:    []gateway.Route{{Name: "inventory-api", PathPrefix: "/", Upstream: upstream, Pipeline: p}},
		Transport: transport(),
	})
}
