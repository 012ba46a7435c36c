package gateway_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/gateway"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func TestStaticFallbackAnswersWhenTheUpstreamIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	p, rec := pipeline(t, "recommendations", nil, retry(t, 2))
	_, url, client := front(t, gateway.Route{
		Name: "recs", PathPrefix: "/", Upstream: down, Pipeline: p,
		Static: &gateway.StaticResponse{Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"items":[]}`)},
	})

	resp, body := get(t, client, url+"/for/alice")

	if resp.StatusCode != 200 || body != `{"items":[]}` || resp.Header.Get("X-Fusebox-Fallback") != "static" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("response %d %q %v, want the static fallback", resp.StatusCode, body, resp.Header)
	}
	if n := rec.count(resilience.KindFallback); n != 1 {
		t.Errorf("%d fallback events, want 1", n)
	}
}

func TestStaticFallbackLeavesAClientErrorAlone(t *testing.T) {
	up := newUpstream(t, status(404))
	p, _ := pipeline(t, "recommendations", nil, retry(t, 2))
	_, url, client := front(t, gateway.Route{Name: "recs", PathPrefix: "/", Upstream: up.URL, Pipeline: p, Static: &gateway.StaticResponse{Body: []byte("fallback")}})

	resp, body := get(t, client, url+"/nobody")

	if resp.StatusCode != 404 || body == "fallback" {
		t.Errorf("response %d %q, want the upstream's 404", resp.StatusCode, body)
	}
}

func TestStaleFallbackServesTheLastGoodResponseOfTheURLWhileFresh(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	up := newUpstream(t, sequence(text("alice: 3 items"), text("bob: 1 item"), status(503)))
	p, rec := pipeline(t, "recommendations", clock)
	_, url, client := front(t, gateway.Route{
		Name: "recs", PathPrefix: "/", Upstream: up.URL, Pipeline: p,
		Stale: &gateway.StaleConfig{MaxAge: time.Minute},
	})
	get(t, client, url+"/for/alice")
	get(t, client, url+"/for/bob")
	clock.Advance(30 * time.Second)

	resp, body := get(t, client, url+"/for/alice")

	if resp.StatusCode != 200 || body != "alice: 3 items" || resp.Header.Get("X-Fusebox-Fallback") != "stale" || resp.Header.Get("Age") != "30" {
		t.Errorf("response %d %q (fallback %q, Age %q), want alice's stale 200 aged 30s", resp.StatusCode, body, resp.Header.Get("X-Fusebox-Fallback"), resp.Header.Get("Age"))
	}
	if n := rec.count(resilience.KindFallback); n != 1 {
		t.Errorf("%d fallback events, want 1", n)
	}
	if resp, _ := get(t, client, url+"/for/carol"); resp.StatusCode != 503 {
		t.Errorf("a URL never seen: %d, want the upstream's 503", resp.StatusCode)
	}
	clock.Advance(31 * time.Second)
	if resp, _ := get(t, client, url+"/for/alice"); resp.StatusCode != 503 {
		t.Errorf("after MaxAge: %d, want the upstream's 503", resp.StatusCode)
	}
}

func TestStaleFallbackDoesNotKeepABodyLargerThanItsLimit(t *testing.T) {
	up := newUpstream(t, sequence(text("0123456789abcdef"), status(503)))
	p, _ := pipeline(t, "recommendations", nil)
	_, url, client := front(t, gateway.Route{
		Name: "recs", PathPrefix: "/", Upstream: up.URL, Pipeline: p,
		Stale: &gateway.StaleConfig{MaxAge: time.Minute, MaxBodyBytes: 8},
	})
	if _, body := get(t, client, url+"/big"); body != "0123456789abcdef" {
		t.Fatalf("first response %q, want the whole body passed on", body)
	}

	if resp, _ := get(t, client, url+"/big"); resp.StatusCode != 503 {
		t.Errorf("response %d, want the 503: a body over the limit is not kept", resp.StatusCode)
	}
}

func TestStaleFallbackIsForGETOnly(t *testing.T) {
	up := newUpstream(t, sequence(text("ok"), status(503)))
	p, _ := pipeline(t, "recommendations", nil)
	_, url, client := front(t, gateway.Route{Name: "recs", PathPrefix: "/", Upstream: up.URL, Pipeline: p, Stale: &gateway.StaleConfig{MaxAge: time.Minute}})
	get(t, client, url+"/x")

	if resp, _ := do(t, client, http.MethodDelete, url+"/x", nil, ""); resp.StatusCode != 503 {
		t.Errorf("DELETE answered %d, want the upstream's 503", resp.StatusCode)
	}
}
