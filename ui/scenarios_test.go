package ui

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// fakeScenarios runs at most one scenario per downstream.
type fakeScenarios struct {
	mu   sync.Mutex
	list []Scenario
}

func (f *fakeScenarios) Scenarios() []Scenario {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Scenario(nil), f.list...)
}

func (f *fakeScenarios) SetScenario(_ context.Context, name string, running bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.list {
		if f.list[i].Name != name {
			continue
		}
		for _, o := range f.list {
			if running && o.Running && o.Name != name && o.Downstream == f.list[i].Downstream {
				return Errorf(ECONFLICT, "stop %q first", o.Name)
			}
		}
		f.list[i].Running, f.list[i].Since = running, t0
		return nil
	}
	return Errorf(ENOTFOUND, "unknown scenario %q", name)
}

func scenarioEnv(t *testing.T) (*env, *fakeScenarios) {
	sc := &fakeScenarios{list: []Scenario{
		{Name: "payments-outage", Title: "Payments outage", Does: "payments fails every call.", Expect: "The breaker opens within ~5 s.", Downstream: "payments"},
		{Name: "chaos", Title: "Chaos", Does: "payments goes down now and then.", Expect: "The breaker opens and closes.", Downstream: "payments"},
	}}
	return newEnv(t, func(c *Config) { c.Scenarios = sc }), sc
}

func TestOverviewOffersScenarios(t *testing.T) {
	ev, sc := scenarioEnv(t)
	doc := ev.page("/", "")
	if got := text(doc.Find(testid("scenario-expect-payments-outage"))); got != "Expect: The breaker opens within ~5 s." {
		t.Errorf("expectation %q", got)
	}
	if doc.Find(testid("scenario-form-payments-outage")).Length() != 0 {
		t.Error("logged out, the scenario buttons are shown")
	}
	if href := doc.Find(testid("scenarios-login")).AttrOr("href", ""); href != "/login?next=%2F" {
		t.Errorf("the hint's login link is %q", href)
	}

	session := ev.login("ana")
	rsp := ev.submitUnchanged("/", session, "scenario-form-payments-outage", nil)
	if rsp.code != http.StatusSeeOther || rsp.location != "/" {
		t.Fatalf("start: status %d, location %q: %s", rsp.code, rsp.location, rsp.body)
	}
	list := sc.Scenarios()
	if !list[0].Running || list[1].Running {
		t.Errorf("after start: %+v", list)
	}
	if ev.faults.Downstreams()[0].Knobs != (Knobs{ErrorRate: 0.05, LatencyMS: 40}) {
		t.Error("starting a scenario changed the knobs")
	}
	doc = ev.page("/", session)
	if got := text(doc.Find(testid("scenario-running-payments-outage"))); got != "running since 12:00:00" {
		t.Errorf("running pill %q", got)
	}
	rsp = ev.submitUnchanged("/", session, "scenario-form-chaos", nil)
	if rsp.code != http.StatusConflict {
		t.Errorf("chaos beside the outage: status %d, want 409", rsp.code)
	}
	rsp = ev.submitUnchanged("/", session, "scenario-form-payments-outage", nil)
	if rsp.code != http.StatusSeeOther || sc.Scenarios()[0].Running {
		t.Errorf("stop: status %d, scenarios %+v", rsp.code, sc.Scenarios())
	}
}

func TestScenarioAPI(t *testing.T) {
	ev, sc := scenarioEnv(t)
	rec := ev.do(req{method: http.MethodGet, path: "/api/v1/demo/scenarios"})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"name":"payments-outage","title":"Payments outage"`) {
		t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	for _, tt := range []struct {
		name, body string
		bearer     string
		status     int
	}{
		{"no token", `{"running":true}`, "", 401},
		{"unknown scenario", `{"running":true}`, testToken, 404},
		{"no running field", `{}`, testToken, 400},
		{"unknown field", `{"running":true,"x":1}`, testToken, 400},
		{"start", `{"running":true}`, testToken, 200},
	} {
		path := "/api/v1/demo/scenarios/payments-outage"
		if tt.name == "unknown scenario" {
			path = "/api/v1/demo/scenarios/nope"
		}
		rec := ev.do(req{method: http.MethodPut, path: path, body: tt.body, bearer: tt.bearer})
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, rec.Code, tt.status, rec.Body)
		}
	}
	if !sc.Scenarios()[0].Running {
		t.Error("PUT running=true did not start the scenario")
	}
	rec = ev.do(req{method: http.MethodGet, path: "/api/v1/demo/scenarios/"})
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET on a scenario path: %d", rec.Code)
	}
}

func TestNoScenariosOutsideTheDemo(t *testing.T) {
	ev := newEnv(t)
	if ev.page("/", "").Find(testid("scenarios")).Length() != 0 {
		t.Error("scenario panel without scenarios")
	}
	if rec := ev.do(req{method: http.MethodGet, path: "/api/v1/demo/scenarios"}); rec.Code != 404 {
		t.Errorf("status %d", rec.Code)
	}
}
