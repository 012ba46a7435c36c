package resiliencehttp_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencehttp"
)

// okTransport answers every request with a 200 and no body, without I/O,
// so that benchmarks measure the Transport alone.
type okTransport struct{}

func (okTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

func BenchmarkTransport(b *testing.B) {
	retry := func() resilience.Policy {
		r, err := resilience.NewRetry(resilience.RetryConfig{})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	timeout := func() resilience.Policy {
		t, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		return t
	}
	cases := []struct {
		name     string
		policies func() []resilience.Policy
	}{
		{"policies=none", func() []resilience.Policy { return nil }},
		{"policies=retry", func() []resilience.Policy { return []resilience.Policy{retry()} }},
		{"policies=retry,timeout", func() []resilience.Policy { return []resilience.Policy{retry(), timeout()} }},
	}
	for _, bc := range cases {
		newTransport := func(b *testing.B) *resiliencehttp.Transport {
			p, err := resilience.New("bench", resilience.Config{Policies: bc.policies()})
			if err != nil {
				b.Fatal(err)
			}
			return resiliencehttp.NewTransport(p, okTransport{})
		}
		req, _ := http.NewRequest(http.MethodGet, "http://downstream.test/items", nil)
		b.Run(bc.name, func(b *testing.B) {
			tr := newTransport(b)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			tr := newTransport(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := tr.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
				}
			})
		})
	}
}
