package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/gateway"
	"github.com/fusebox-dev/fusebox/resilience"
)

// stubUpstream answers every request at once without a network, so the
// benchmarks measure the proxies, not the loopback.
type stubUpstream struct{}

const stubBody = `{"id":"7","name":"widget","stock":42,"warehouse":"north-3","ok":true}`

func (stubUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(stubBody)),
		ContentLength: int64(len(stubBody)), Request: req,
	}, nil
}

// pool lends 32 KiB copy buffers, as the gateway's pool does.
type pool struct{ p sync.Pool }

func (b *pool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *pool) Put(buf []byte) { b.p.Put(&buf) }

// BenchmarkProxy compares the gateway (a pipeline of breaker, retry and
// per-attempt timeout) with a bare httputil.ReverseProxy, with and without
// a pool of copy buffers, over the same
// upstream stub: the gateway's own cost per request.
func BenchmarkProxy(b *testing.B) {
	target, _ := url.Parse("http://upstream.test")
	bare := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport: stubUpstream{},
	}
	pooled := &httputil.ReverseProxy{
		Rewrite:    bare.Rewrite,
		Transport:  stubUpstream{},
		BufferPool: &pool{},
	}
	br, _ := resilience.NewBreaker(resilience.BreakerConfig{})
	rt, _ := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 3})
	to, _ := resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second})
	p, err := resilience.New("inventory", resilience.Config{Policies: []resilience.Policy{br, rt, to}})
	if err != nil {
		b.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{
		Routes:    []gateway.Route{{Name: "inventory-api", PathPrefix: "/", Upstream: target.String(), Pipeline: p}},
		Transport: stubUpstream{},
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"impl=bare", bare}, {"impl=bare-pooled", pooled}, {"impl=gateway", gw}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodGet, "/items/7", nil)
					w := httptest.NewRecorder()
					tc.h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		})
	}
}
