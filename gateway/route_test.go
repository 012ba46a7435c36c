package gateway_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fusebox-dev/fusebox/gateway"
)

func TestCheckRoutesNamesTheFieldOfEachProblem(t *testing.T) {
	ok := gateway.Route{Name: "a", PathPrefix: "/a/", Upstream: "http://127.0.0.1:9100"}
	tests := []struct {
		name   string
		routes []gateway.Route
		field  string
		msg    string
	}{
		{"a route needs a name", []gateway.Route{{PathPrefix: "/", Upstream: ok.Upstream}}, "name", "required"},
		{"names are unique", []gateway.Route{ok, {Name: "a", PathPrefix: "/b/", Upstream: ok.Upstream}}, "name", "routes[0]"},
		{"a prefix begins with a slash", []gateway.Route{{Name: "a", PathPrefix: "a/", Upstream: ok.Upstream}}, "path_prefix", "must begin"},
		{"an upstream is an http URL", []gateway.Route{{Name: "a", PathPrefix: "/", Upstream: "ftp://x"}}, "upstream", "http or https"},
		{"an upstream has a host", []gateway.Route{{Name: "a", PathPrefix: "/", Upstream: "http://"}}, "upstream", "no host"},
		{"an upstream is required", []gateway.Route{{Name: "a", PathPrefix: "/"}}, "upstream", "required"},
		{"an upstream is a URL", []gateway.Route{{Name: "a", PathPrefix: "/", Upstream: "http://a b:x"}}, "upstream", "not a URL"},
		{"methods are in capitals", []gateway.Route{{Name: "a", PathPrefix: "/", Upstream: ok.Upstream, Methods: []string{"get"}}}, "methods[0]", "capitals"},
		{"a host has no port", []gateway.Route{{Name: "a", PathPrefix: "/", Upstream: ok.Upstream, Host: "api:80"}}, "host", "not a host"},
		{"a stale max age is positive", []gateway.Route{{Name: "a", PathPrefix: "/", Upstream: ok.Upstream, Stale: &gateway.StaleConfig{}}}, "fallback.stale.max_age", "positive"},
		{"a static status is final", []gateway.Route{{Name: "a", PathPrefix: "/", Upstream: ok.Upstream, Static: &gateway.StaticResponse{Status: 101}}}, "fallback.static.status", "final"},
		{"the same prefix twice overlaps", []gateway.Route{ok, {Name: "b", PathPrefix: "/a/", Upstream: ok.Upstream}}, "path_prefix", "overlaps routes[0]"},
		{"a prefix of another overlaps", []gateway.Route{ok, {Name: "b", PathPrefix: "/", Upstream: ok.Upstream}}, "path_prefix", "overlaps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := gateway.CheckRoutes(tt.routes)
			var fe *gateway.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("CheckRoutes = %v, want a *FieldError", err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("error %v, want field %s with %q", fe, tt.field, tt.msg)
			}
		})
	}
}

func TestCheckRoutesAcceptsRoutesThatCannotMatchTheSameRequest(t *testing.T) {
	up := "http://127.0.0.1:9100/base"
	routes := []gateway.Route{
		{Name: "a", PathPrefix: "/a/", Upstream: up},
		{Name: "b", PathPrefix: "/b/", Upstream: up},
		{Name: "a-other-host", Host: "api.example.com", PathPrefix: "/x/", Upstream: up},
		{Name: "a-second-host", Host: "www.example.com", PathPrefix: "/x/", Upstream: up},
		{Name: "reads", PathPrefix: "/c/", Methods: []string{"GET", "HEAD"}, Upstream: up},
		{Name: "writes", PathPrefix: "/c/", Methods: []string{"POST"}, Upstream: up},
	}
	if err := gateway.CheckRoutes(routes); err != nil {
		t.Errorf("CheckRoutes = %v, want nil", err)
	}
}

func TestSetRoutesSwapsTheTableAndKeepsItOnError(t *testing.T) {
	one := newUpstream(t, text("one"))
	two := newUpstream(t, text("two"))
	p, _ := pipeline(t, "inventory", nil)
	g, url, client := front(t, gateway.Route{Name: "inv", PathPrefix: "/", Upstream: one.URL, Pipeline: p})

	if err := g.SetRoutes([]gateway.Route{{Name: "inv", PathPrefix: "/", Upstream: two.URL}}); err == nil || !strings.Contains(err.Error(), "pipeline: is required") {
		t.Fatalf("SetRoutes without a pipeline = %v, want an error naming the field", err)
	}
	if _, body := get(t, client, url+"/"); body != "one" {
		t.Errorf("after a refused swap the gateway answered %q, want the old route's", body)
	}
	if err := g.SetRoutes([]gateway.Route{{Name: "inv", PathPrefix: "/", Upstream: two.URL, Pipeline: p}}); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, client, url+"/"); body != "two" {
		t.Errorf("after the swap the gateway answered %q, want the new route's", body)
	}
	if r := g.Routes(); len(r) != 1 || r[0].Upstream != two.URL || r[0].Pipeline != "inventory" {
		t.Errorf("Routes() = %+v", r)
	}
}
