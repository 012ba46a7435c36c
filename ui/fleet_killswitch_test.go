package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
)

// fakeHub is a hub of one service, shop, of instances a and b: payments
// (a breaker, a retry and a timeout on both) and search (none of them).
// a reports its retry off by the fleet, b its timeout off by its own
// switch. It keeps the overrides it is given by key, as the bucket does.
type fakeHub struct {
	clock     resilience.Clock
	overrides map[string]fleet.Override
	rev       uint64
}

func newFakeHub(clock resilience.Clock) *fakeHub {
	return &fakeHub{clock: clock, overrides: map[string]fleet.Override{}}
}

func (h *fakeHub) service() fleet.ServiceView {
	retry, timeout := fleet.PolicyBit("retry"), fleet.PolicyBit("timeout")
	now := h.clock.Now()
	return fleet.ServiceView{
		Name: "shop", Up: 2,
		Instances: []fleet.InstanceView{{ID: "a", LastSeen: now}, {ID: "b", LastSeen: now}},
		Pipelines: []fleet.PipelineView{
			{
				Name: "payments", Instances: 2, HasBreaker: true, Policies: retry | timeout,
				Breakers: []fleet.InstanceBreaker{
					{Instance: "a", State: resilience.StateClosed, Policies: retry | timeout, Off: retry, FleetOff: retry},
					{Instance: "b", State: resilience.StateClosed, Policies: retry | timeout, Off: timeout},
				},
			},
			{
				Name: "search", Instances: 2,
				Breakers: []fleet.InstanceBreaker{
					{Instance: "a", NoBreaker: true}, {Instance: "b", NoBreaker: true},
				},
			},
		},
	}
}

func (h *fakeHub) Fleet() fleet.FleetView {
	return fleet.FleetView{Time: h.clock.Now(), Services: []fleet.ServiceView{h.service()}}
}

func (h *fakeHub) Service(name string) (fleet.ServiceView, error) {
	if name != "shop" {
		return fleet.ServiceView{}, fleetErrorOf(fleet.ErrUnknownService, name)
	}
	return h.service(), nil
}

func fleetErrorOf(err error, name string) error {
	return &wrapped{err: err, msg: err.Error() + ` "` + name + `"`}
}

type wrapped struct {
	err error
	msg string
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

func (h *fakeHub) SetOverride(_ context.Context, o fleet.Override) (fleet.Override, error) {
	h.rev++
	o.At, o.Revision = h.clock.Now(), h.rev
	h.overrides[o.Key()] = o
	return o, nil
}

func (h *fakeHub) Release(_ context.Context, o fleet.Override) error {
	delete(h.overrides, o.Key())
	return nil
}

func (h *fakeHub) Overrides(context.Context) ([]fleet.Override, error) {
	out := make([]fleet.Override, 0, len(h.overrides))
	for _, o := range h.overrides {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

func (h *fakeHub) Audit(context.Context, int) ([]fleet.AuditEntry, error) { return nil, nil }

func (h *fakeHub) RecentEvents(context.Context, string, string, string, int) ([]fleet.Event, error) {
	return nil, nil
}

// newFleetEnv is newSwitchEnv (whose single-app kill switch routes the
// tests compare with) serving fakeHub's fleet pages; the fleet's retry
// switch of instance a is in the bucket.
func newFleetEnv(t *testing.T) (*env, *fakeHub) {
	t.Helper()
	var hub *fakeHub
	ev := newEnv(t, func(c *Config) {
		hub = newFakeHub(c.Clock)
		c.Fleet = hub
		c.KillSwitches = &fakeKillSwitches{reg: c.Registry, clock: c.Clock}
	})
	retry, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	ev.addPipeline("orders", retry)
	hub.overrides["shop.payments.policy=retry.a"] = fleet.Override{
		Service: "shop", Pipeline: "payments", Instance: "a", Policy: "retry", Reason: "retry storm", Actor: "bo",
		At: t0.Add(-time.Minute), Until: t0.Add(time.Hour), Revision: 1,
	}
	hub.rev = 1
	return ev, hub
}

func TestTheHubsKillSwitchRouteValidatesAsTheSingleAppsDoes(t *testing.T) {
	for _, tt := range []struct {
		name, path, body string
		status           int
		// local is the single app's route given the same body, whose
		// message must be the same; "" for errors only the hub has.
		local, want string
	}{
		{name: "no policy of that name", path: "payments/policies/breaker", body: `{"enabled":false,"reason":"x"}`, status: 400, local: "orders/policies/breaker", want: `policy = \"breaker\": want one of retry, timeout`},
		{name: "no enabled", path: "payments/policies/retry", body: `{"reason":"x"}`, status: 400, local: "orders/policies/retry", want: "enabled is required: true or false"},
		{name: "no reason", path: "payments/policies/retry", body: `{"enabled":false,"reason":"  "}`, status: 400, local: "orders/policies/retry", want: "reason is required"},
		{name: "too short", path: "payments/policies/retry", body: `{"enabled":false,"reason":"x","duration":"5s"}`, status: 400, local: "orders/policies/retry", want: `duration = \"5s\": want a duration from 1m to 168h`},
		{name: "switching on for a time", path: "payments/policies/retry", body: `{"enabled":true,"reason":"x","duration":"10m"}`, status: 400, local: "orders/policies/retry", want: "only switching a policy off takes a duration"},
		{name: "a bad body", path: "payments/policies/retry", body: `{"enabled":"no"}`, status: 400, local: "orders/policies/retry"},
		{name: "unknown service", path: "nope/pipelines/payments/policies/retry", body: `{"enabled":false,"reason":"x"}`, status: 404, want: `unknown service \"nope\"`},
		{name: "unknown pipeline", path: "payments2/policies/retry", body: `{"enabled":false,"reason":"x"}`, status: 404, want: `unknown pipeline \"payments2\" in service \"shop\"`},
		{name: "unknown instance", path: "payments/policies/retry", body: `{"enabled":false,"reason":"x","instance":"z"}`, status: 404, want: `unknown instance \"z\" of service \"shop\"`},
		{name: "no instance has the policy", path: "search/policies/retry", body: `{"enabled":false,"reason":"x"}`, status: 409, want: `pipeline \"search\" of service \"shop\" has no retry on any instance (it has none)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, hub := newFleetEnv(t)
			path := "/api/v1/fleet/shop/pipelines/" + tt.path
			if strings.HasPrefix(tt.path, "nope/") {
				path = "/api/v1/fleet/" + tt.path
			}
			rec := ev.do(req{method: http.MethodPut, path: path, bearer: testToken, body: tt.body})
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("status %d, body %s; want %d with %q", rec.Code, rec.Body, tt.status, tt.want)
			}
			if tt.local != "" {
				lrec := ev.do(req{method: http.MethodPut, path: "/api/v1/pipelines/" + tt.local, bearer: testToken, body: tt.body})
				if lrec.Code != rec.Code || lrec.Body.String() != rec.Body.String() {
					t.Errorf("the single app answers %d %s, the hub %d %s: want the same", lrec.Code, lrec.Body, rec.Code, rec.Body)
				}
			}
			if len(hub.overrides) != 1 {
				t.Errorf("after a refusal the bucket holds %d entries, want the 1 it had", len(hub.overrides))
			}
			if rec := ev.do(req{method: http.MethodPut, path: path, body: tt.body}); rec.Code != http.StatusUnauthorized {
				t.Errorf("without a token: status %d, want 401", rec.Code)
			}
		})
	}
}

func TestTheHubsKillSwitchRouteSwitchesOffForATimeAndOnAgain(t *testing.T) {
	ev, hub := newFleetEnv(t)
	rec := ev.do(req{method: http.MethodPut, path: "/api/v1/fleet/shop/pipelines/payments/policies/timeout", bearer: testToken,
		body: `{"enabled":false,"reason":"slow vendor","duration":"10m","instance":"b"}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got fleetKillSwitchJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	o, ok := hub.overrides["shop.payments.policy=timeout.b"]
	wantUntil := t0.Add(10 * time.Minute)
	if !ok || o.Reason != "slow vendor" || o.Actor == "" || !o.Until.Equal(wantUntil) || o.Policy != "timeout" || o.Instance != "b" {
		t.Errorf("bucket entry %+v (present %v), want timeout of b off for slow vendor until %v", o, ok, wantUntil)
	}
	if got.Until == nil || !got.Until.Equal(wantUntil) || got.Duration != "10m0s" || got.Enabled || got.Revision != o.Revision || got.Actor != o.Actor {
		t.Errorf("answer %+v, want the entry written, until %v", got, wantUntil)
	}

	rec = ev.do(req{method: http.MethodPut, path: "/api/v1/fleet/shop/pipelines/payments/policies/retry", bearer: testToken,
		body: `{"enabled":true,"reason":"storm over","instance":"a"}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("switching on: status %d: %s", rec.Code, rec.Body)
	}
	if _, ok := hub.overrides["shop.payments.policy=retry.a"]; ok {
		t.Error("a's retry switch is still in the bucket after switching on")
	}
	if _, ok := hub.overrides["shop.payments.policy=timeout.b"]; !ok {
		t.Error("switching a's retry on released b's timeout switch too")
	}
}

// The fleet's kill switch forms do what they show: the "switch off" form,
// submitted as rendered, switches the policy off for its first scope (the
// whole service, which has no switch yet) for 10 minutes; a switch's
// "switch on" form releases that switch only.
func TestFleetKillSwitchFormsSubmittedUnchangedDoWhatTheyShow(t *testing.T) {
	ev, hub := newFleetEnv(t)
	session := ev.login("ana")
	rsp := ev.submitUnchanged("/fleet/shop", session, "fleet-switch-off-payments-retry", url.Values{"reason": {"storm everywhere"}})
	if rsp.code != http.StatusSeeOther || rsp.location != "/fleet/shop" {
		t.Fatalf("switch off: status %d to %q: %s", rsp.code, rsp.location, rsp.body)
	}
	keys := func() []string {
		var k []string
		for key := range hub.overrides {
			k = append(k, key)
		}
		sort.Strings(k)
		return k
	}
	if got, want := keys(), []string{"shop.payments.policy=retry", "shop.payments.policy=retry.a"}; !slices.Equal(got, want) {
		t.Fatalf("bucket %q, want %q", got, want)
	}
	o := hub.overrides["shop.payments.policy=retry"]
	if o.Reason != "storm everywhere" || o.Actor != "ana" || !o.Until.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("service switch %+v, want off by ana for 10m", o)
	}

	// The service has its switch now: the form offers the instance
	// without one only.
	doc := ev.page("/fleet/shop", session)
	var scopes []string
	doc.Find(testid("fleet-switch-off-payments-retry") + ` select[name="instance"] option`).Each(func(_ int, s *goquery.Selection) {
		scopes = append(scopes, s.AttrOr("value", "?"))
	})
	if !slices.Equal(scopes, []string{"b"}) {
		t.Errorf("scopes offered %q, want only b's (the service and a have a switch)", scopes)
	}

	rsp = ev.submitUnchanged("/fleet/shop", session, "fleet-switch-on-payments-retry-a", url.Values{"reason": {"a is fine"}})
	if rsp.code != http.StatusSeeOther {
		t.Fatalf("switch on: status %d: %s", rsp.code, rsp.body)
	}
	if got, want := keys(), []string{"shop.payments.policy=retry"}; !slices.Equal(got, want) {
		t.Errorf("after switching a's on the bucket is %q, want %q", got, want)
	}
	if hub.overrides["shop.payments.policy=retry"] != o {
		t.Error("switching a's on changed the service's switch")
	}
}

// The pages show what the instances report, as the API does.
func TestTheFleetPagesShowThePoliciesTheInstancesReport(t *testing.T) {
	ev, _ := newFleetEnv(t)
	rec := ev.do(req{method: http.MethodGet, path: "/api/v1/fleet/shop/pipelines"})
	var api struct {
		Pipelines []fleetPipelineJSON `json:"pipelines"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &api); err != nil {
		t.Fatal(err)
	}
	counts := map[string]fleet.PolicyCount{}
	for _, c := range api.Pipelines[0].Policies {
		counts[c.Policy] = c
	}
	if counts["retry"] != (fleet.PolicyCount{Policy: "retry", Instances: 2, Off: 1, FleetOff: 1}) ||
		counts["timeout"] != (fleet.PolicyCount{Policy: "timeout", Instances: 2, Off: 1}) {
		t.Fatalf("API policy counts %+v", api.Pipelines[0].Policies)
	}
	if ks := api.Pipelines[0].KillSwitches; len(ks) != 1 || ks[0].Instance != "a" || ks[0].Policy != "retry" || len(api.Pipelines[0].Overrides) != 0 {
		t.Errorf("API kill switches %+v, breaker overrides %+v; want a's retry switch, no override", ks, api.Pipelines[0].Overrides)
	}

	doc := ev.page("/fleet/shop", "")
	for id, want := range map[string]string{
		"fleet-policy-state-payments-retry":   "off on 1 of 2 (by the fleet)",
		"fleet-policy-state-payments-timeout": "off on 1 of 2 (their own switch)",
		"fleet-switch-payments-retry-a":       "off (instance a) by bo: retry storm, until 2025-03-14 13:00:00",
		"policies-off-shop-payments":          "retry off on 1 of 2 · timeout off on 1 of 2",
		"policies-off-shop-search":            "none off",
	} {
		if got := text(doc.Find(testid(id))); got != want {
			t.Errorf("%s: %q, want %q", id, got, want)
		}
	}
	if n := doc.Find("form").Length(); n != 0 {
		t.Errorf("logged out, the service page has %d forms, want none", n)
	}
	doc = ev.page("/fleet/shop/instances/a", "")
	for id, want := range map[string]string{
		"instance-policy-payments-retry":   "off by the fleet",
		"instance-policy-payments-timeout": "on",
	} {
		if got := text(doc.Find(testid(id))); got != want {
			t.Errorf("instance a, %s: %q, want %q", id, got, want)
		}
	}
	doc = ev.page("/fleet/shop/instances/b", "")
	if got := text(doc.Find(testid("instance-policy-payments-timeout"))); got != "off by its own switch" {
		t.Errorf("instance b's timeout: %q, want off by its own switch", got)
	}
}

// TestEveryFleetFormHasARoundTripTest is TestEveryFormHasARoundTripTest
// for the hub's pages.
func TestEveryFleetFormHasARoundTripTest(t *testing.T) {
	covered := map[string]bool{
		// cmd/app's TestBrowserForcesAFleetBreakerForOneInstanceThenTheService
		"/fleet/shop/pipelines/payments/breaker": true,
		// TestFleetKillSwitchFormsSubmittedUnchangedDoWhatTheyShow: the
		// switch off and switch on forms of every policy post here
		"/fleet/shop/pipelines/payments/policies/retry":   true,
		"/fleet/shop/pipelines/payments/policies/timeout": true,
		"/logout": true, // holds no stored state: only the CSRF token
	}
	seen := map[string]bool{}
	ev, _ := newFleetEnv(t)
	session := ev.login("ana")
	for _, path := range []string{"/fleet", "/fleet/shop", "/fleet/shop/instances/a", "/fleet/audit"} {
		ev.page(path, session).Find("form").Each(func(_ int, f *goquery.Selection) {
			action := f.AttrOr("action", "")
			seen[action] = true
			if !covered[action] {
				t.Errorf("%s: form %q has no round-trip test", path, action)
			}
		})
	}
	for action := range covered {
		if !seen[action] {
			t.Errorf("no fleet page showed the form %q: the setup no longer renders it", action)
		}
	}
}

// heldSwitches is fakeKillSwitches on an instance where the fleet holds
// the retries off.
type heldSwitches struct{ fakeKillSwitches }

func (*heldSwitches) FleetHeld(_, policy string) (string, bool) {
	return "the fleet (whole service)", policy == "retry"
}

// On an instance of a fleet, a policy a fleet kill switch holds off says
// so on the pipeline's page and has no form: it is switched on from the
// hub.
func TestAPolicyTheFleetHoldsOffHasNoLocalForm(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.KillSwitches = &heldSwitches{fakeKillSwitches{reg: c.Registry, clock: c.Clock}} })
	retry, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	timeout, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ev.addPipeline("orders", retry, timeout)
	p, err := ev.reg.Get("orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Disable(resilience.WithActor(t.Context(), "bo"), resilience.PolicyRetry, "retry storm", time.Time{}); err != nil {
		t.Fatal(err)
	}
	doc := ev.page("/pipelines/orders", ev.login("ana"))
	if got, want := text(doc.Find(testid("policy-retry")).Find("td").Last()), "off by the fleet (whole service), bo: retry storm"; got != want {
		t.Errorf("retry's kill switch cell %q, want %q", got, want)
	}
	if doc.Find(testid("switch-form-retry")).Length() != 0 || doc.Find(testid("switch-form-timeout")).Length() != 1 {
		t.Error("want no form for the retry the fleet holds, and the timeout's form")
	}
}

// heldControls is fakeControls on an instance where a fleet override
// holds the breaker of payments.
type heldControls struct{ *fakeControls }

func (heldControls) FleetHeld(pipeline, policy string) (string, bool) {
	return "the fleet (instance a)", pipeline == "payments" && policy == ""
}

// On an instance of a fleet, a breaker a fleet override holds says so on
// the pipeline's page, with the override's actor, reason and end, and has
// no form: it is changed from the hub.
func TestABreakerTheFleetHoldsHasNoLocalForm(t *testing.T) {
	ev := newEnv(t, func(c *Config) { c.Controls = heldControls{c.Controls.(*fakeControls)} })
	br, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ev.addPipeline("orders", br)
	if err := ev.reg.Override(resilience.WithActor(t.Context(), "bo"), "payments", resilience.StateForcedOpen, "payments down", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	doc := ev.page("/pipelines/payments", ev.login("ana"))
	want := "The breaker is forced open by the fleet (instance a), bo: payments down, until " + t0.Add(time.Hour).Local().Format(time.TimeOnly) + ". The fleet's override wins while it lasts: change it from the hub."
	if got := text(doc.Find(testid("control-fleet-held"))); got != want {
		t.Errorf("the breaker's control says %q, want %q", got, want)
	}
	if doc.Find(testid("override-form")).Length() != 0 {
		t.Error("the pipeline page has a breaker form for a breaker the fleet holds")
	}
	if doc := ev.page("/pipelines/orders", ev.login("ana")); doc.Find(testid("override-form")).Length() != 1 || doc.Find(testid("control-fleet-held")).Length() != 0 {
		t.Error("want the breaker form on a pipeline the fleet does not hold")
	}
}
