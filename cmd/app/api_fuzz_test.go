package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// apiRoutes are the routes that take a JSON body, with the method.
var apiRoutes = []struct{ method, path string }{
	{"PUT", "/api/v1/pipelines/payments/breaker"},
	{"PUT", "/api/v1/pipelines/inventory/breaker"},
	{"PUT", "/api/v1/demo/downstreams/payments"},
	{"POST", "/api/v1/alertmanager"},
	{"PUT", "/api/v1/pipelines/payments/policies/retry"},
}

// FuzzAPIBodies sends arbitrary bodies, with the admin token, to every
// route of the JSON API that takes one, through the whole app (the real
// overrides, store, demo and alert manager): no body may make it panic or
// answer 5xx. The seeds run in every go test; fuzz with
//
//	go test ./cmd/app -run '^$' -fuzz FuzzAPIBodies -fuzztime 30s
func FuzzAPIBodies(f *testing.F) {
	seeds := []string{
		`{"state":"forced_open","reason":"failover"}`,
		`{"state":"forced_closed","reason":"x","duration":"1us"}`,
		`{"state":"forced_closed","reason":"x","duration":"2ms"}`,
		`{"state":"forced_open","reason":"x","duration":"15m"}`,
		`{"state":"auto","reason":"done"}`,
		`{"state":"auto","reason":"x","duration":"1h"}`,
		`{"state":"forced_open","state":"auto","reason":"x"}`,
		`{"state":1,"reason":["x"]}`,
		`{"error_rate":0.5,"latency_ms":120,"outage":true}`,
		`{"error_rate":1e309}`,
		`{"latency_ms":-1,"jitter_ms":99999999999}`,
		`{}`,
		``,
		`[]`,
		`null`,
		`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"X"},"startsAt":"2026-11-26T10:00:00Z"}]}`,
		`{"version":"4","status":"resolved","alerts":[{"status":"resolved","labels":{"alertname":"X","a":"1","a":"2"}}]}`,
		`{"version":"4","alerts":"nope"}`,
		`{"enabled":false,"reason":"retry storm","duration":"10m"}`,
		`{"enabled":true,"reason":"x","duration":"1us"}`,
		"{\"reason\":\"\u0000\\ud800\",\"state\":\"forced_open\"}",
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	a, err := newApp(context.Background(), options{Addr: "127.0.0.1:0", DataDir: f.TempDir(), AdminToken: testToken})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = a.Close() })
	h := a.server.Handler
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := apiRoutes[int(route)%len(apiRoutes)]
		req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusOK && !bytes.Contains(rec.Body.Bytes(), []byte(`"error"`)) {
			t.Fatalf("%s %s %q: %d without an error message: %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
	})
}
