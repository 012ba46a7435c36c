package ui

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// submission is what a browser sends for a form left as rendered: the
// successful controls and their values (HTML's "constructing the entry
// list"), after the value sanitization a range input applies.
func submission(t *testing.T, form *goquery.Selection) url.Values {
	t.Helper()
	vals := url.Values{}
	form.Find("input, select, textarea").Each(func(_ int, c *goquery.Selection) {
		name, ok := c.Attr("name")
		if !ok || name == "" {
			return
		}
		if _, disabled := c.Attr("disabled"); disabled {
			return
		}
		switch goquery.NodeName(c) {
		case "select":
			opt := c.Find("option[selected]").First()
			if opt.Length() == 0 {
				opt = c.Find("option").First()
			}
			vals.Add(name, opt.AttrOr("value", opt.Text()))
			return
		case "textarea":
			vals.Add(name, c.Text())
			return
		}
		v := c.AttrOr("value", "")
		switch c.AttrOr("type", "text") {
		case "checkbox", "radio":
			if _, checked := c.Attr("checked"); checked {
				vals.Add(name, c.AttrOr("value", "on"))
			}
		case "submit", "button", "reset", "image":
		case "range":
			vals.Add(name, sanitizeRange(t, c, v))
		default:
			vals.Add(name, v)
		}
	})
	return vals
}

// sanitizeRange is the value a browser gives a range input whose value
// attribute is v: clamped to [min, max] and moved to the nearest step.
func sanitizeRange(t *testing.T, c *goquery.Selection, v string) string {
	t.Helper()
	num := func(attr, def string) float64 {
		f, err := strconv.ParseFloat(c.AttrOr(attr, def), 64)
		if err != nil {
			t.Fatalf("range input %s = %q: %v", attr, c.AttrOr(attr, def), err)
		}
		return f
	}
	lo, hi := num("min", "0"), num("max", "100")
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		x = lo + (hi-lo)/2
	}
	x = min(max(x, lo), hi)
	step := c.AttrOr("step", "1")
	if step == "any" {
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	st := num("step", "1")
	decimals := 0
	if i := strings.IndexByte(step, '.'); i >= 0 {
		decimals = len(step) - i - 1
	}
	n := math.Round((x - lo) / st)
	return strconv.FormatFloat(lo+n*st, 'f', decimals, 64)
}

// submitUnchanged renders path with a session, finds the form by testid,
// submits it as the browser would (plus extra, for fields a person must
// fill in) and returns the response.
func (ev *env) submitUnchanged(path, session, formID string, extra url.Values) *httptestResponse {
	ev.t.Helper()
	doc := ev.page(path, session)
	form := doc.Find(testid(formID))
	if form.Length() != 1 {
		ev.t.Fatalf("%s: %d forms %q", path, form.Length(), formID)
	}
	vals := submission(ev.t, form)
	for k, v := range extra {
		vals[k] = v
	}
	rec := ev.do(req{method: http.MethodPost, path: form.AttrOr("action", ""), form: vals, session: session})
	return &httptestResponse{code: rec.Code, location: rec.Header().Get("Location"), body: rec.Body.String()}
}

type httptestResponse struct {
	code           int
	location, body string
}

func TestFaultFormSubmittedUnchangedChangesNothing(t *testing.T) {
	for _, k := range []Knobs{
		{ErrorRate: 0.01, LatencyMS: 60, JitterMS: 30},
		{ErrorRate: 0.02, LatencyMS: 40},
		{ErrorRate: 0.25, LatencyMS: 1, JitterMS: 1, Outage: true},
		{ErrorRate: 0.07},
		{ErrorRate: 0.29, LatencyMS: 60000, JitterMS: 60000},
		{ErrorRate: 0.333, LatencyMS: 5},
		{ErrorRate: 0.0005},
		{ErrorRate: 1, Outage: true},
		{},
	} {
		t.Run(strconv.FormatFloat(k.ErrorRate, 'f', -1, 64), func(t *testing.T) {
			ev := newEnv(t)
			ev.faults.ds[0].Knobs = k
			session := ev.login("ana")
			rsp := ev.submitUnchanged("/pipelines/payments", session, "downstream-payments", nil)
			if rsp.code != http.StatusSeeOther {
				t.Fatalf("status %d: %s", rsp.code, rsp.body)
			}
			if rsp.location != "/pipelines/payments" {
				t.Errorf("redirected to %q, want back to /pipelines/payments", rsp.location)
			}
			if got := ev.faults.Downstreams()[0].Knobs; got != k {
				t.Errorf("knobs after an unchanged submit %+v, want %+v", got, k)
			}
			doc := ev.page("/pipelines/payments", session)
			want := strconv.FormatFloat(math.Round(k.ErrorRate*10000)/100, 'f', -1, 64) + " %"
			if got := text(doc.Find(testid("error-percent-payments"))); got != want {
				t.Errorf("error rate label %q, want %q", got, want)
			}
		})
	}
}

func TestFaultFormLabelsKnownRates(t *testing.T) {
	for rate, want := range map[float64]string{0.01: "1 %", 0.02: "2 %", 0.25: "25 %", 0.005: "0.5 %", 1: "100 %", 0: "0 %"} {
		if got := fmtKnobPercent(rate); got != want {
			t.Errorf("fmtKnobPercent(%v) = %q, want %q", rate, got, want)
		}
	}
}

func TestOverrideFormSubmittedUnchangedChangesNothing(t *testing.T) {
	until := t0.Add(15 * time.Minute)
	for _, tt := range []struct {
		name  string
		state resilience.State
		until time.Time
	}{
		{"automatic", resilience.StateClosed, time.Time{}},
		{"forced open until reverted", resilience.StateForcedOpen, time.Time{}},
		{"forced open for 15 minutes", resilience.StateForcedOpen, until},
		{"forced closed for 15 minutes", resilience.StateForcedClosed, until},
		{"forced open with 30 seconds left", resilience.StateForcedOpen, t0.Add(30 * time.Second)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := newEnv(t)
			ctx := t.Context()
			if tt.state.Forced() {
				if err := ev.reg.Override(ctx, "payments", tt.state, "before", tt.until); err != nil {
					t.Fatal(err)
				}
			}
			ev.stats.update("payments", func(ps *telemetry.PipelineSnapshot) { ps.Breaker.State = tt.state })
			p, _ := ev.reg.Get("payments")
			before := p.Breaker().Metrics()
			session := ev.login("ana")
			// The reason is the one field a person must fill in.
			rsp := ev.submitUnchanged("/pipelines/payments", session, "override-form", url.Values{"reason": {"checking"}})
			if rsp.code != http.StatusSeeOther {
				t.Fatalf("status %d: %s", rsp.code, rsp.body)
			}
			after := p.Breaker().Metrics()
			if after.State != before.State {
				t.Errorf("state %v after an unchanged submit, want %v", after.State, before.State)
			}
			var beforeUntil, afterUntil time.Time
			if before.Override != nil {
				beforeUntil = before.Override.Until
			}
			if after.Override != nil {
				afterUntil = after.Override.Until
			}
			if !afterUntil.Equal(beforeUntil) {
				t.Errorf("override ends %v after an unchanged submit, want %v", afterUntil, beforeUntil)
			}
		})
	}
}

func TestKeepDurationNeedsAnOverrideWithAnEnd(t *testing.T) {
	ev := newEnv(t)
	rec := ev.do(req{method: http.MethodPut, path: "/api/v1/pipelines/payments/breaker", bearer: testToken,
		body: `{"state":"forced_open","reason":"x","duration":"keep"}`})
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `duration = \"keep\"`) {
		t.Errorf("status %d, body %s", rec.Code, rec.Body)
	}
}

// fakeKillSwitches switches the registry's pipelines as cmd/app does,
// without a store.
type fakeKillSwitches struct {
	reg   *resilience.Registry
	clock resilience.Clock
}

func (f *fakeKillSwitches) Switch(ctx context.Context, req KillSwitchRequest) error {
	p, err := f.reg.Get(req.Pipeline)
	if err != nil {
		return err
	}
	if req.Enabled {
		return p.Enable(req.Policy)
	}
	var until time.Time
	if req.Duration > 0 {
		until = f.clock.Now().Add(req.Duration)
	}
	return p.Disable(resilience.WithActor(ctx, req.Actor), req.Policy, req.Reason, until)
}

// newSwitchEnv is newEnv with kill switches on and a pipeline, orders, of
// a retry and a timeout, so that its page shows their switches.
func newSwitchEnv(t *testing.T) *env {
	t.Helper()
	ev := newEnv(t, func(c *Config) { c.KillSwitches = &fakeKillSwitches{reg: c.Registry, clock: c.Clock} })
	retry, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	timeout, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ev.addPipeline("orders", retry, timeout)
	return ev
}

// switchesOf returns the kill switches of the pipeline by policy.
func (ev *env) switchesOf(name string) map[string]resilience.KillSwitch {
	ev.t.Helper()
	p, err := ev.reg.Get(name)
	if err != nil {
		ev.t.Fatal(err)
	}
	out := map[string]resilience.KillSwitch{}
	for _, k := range p.KillSwitches() {
		out[k.Policy.String()] = k
	}
	return out
}

// A kill switch form does what it shows, to its own policy only: the
// retry's "switch off" (for 10m, the option shown first) or "switch on",
// leaving the timeout's switch, its reason and its end as they were.
func TestKillSwitchFormsSubmittedUnchangedChangeOnlyTheirPolicy(t *testing.T) {
	timeoutOff := resilience.KillSwitch{Policy: resilience.PolicyTimeout, Reason: "load test", Actor: "bo", Since: t0, Until: t0.Add(time.Hour)}
	for _, tt := range []struct {
		name string
		// retryOff switches the retry off before the page is shown.
		retryOff *resilience.KillSwitch
		want     map[string]resilience.KillSwitch
	}{
		{
			name: "switch off",
			want: map[string]resilience.KillSwitch{
				"retry":   {Policy: resilience.PolicyRetry, Reason: "checking", Actor: "ana", Since: t0, Until: t0.Add(10 * time.Minute)},
				"timeout": timeoutOff,
			},
		},
		{
			name:     "switch on what is off with a reason and an end",
			retryOff: &resilience.KillSwitch{Policy: resilience.PolicyRetry, Reason: "incident", Actor: "bo", Since: t0, Until: t0.Add(30 * time.Minute)},
			want:     map[string]resilience.KillSwitch{"timeout": timeoutOff},
		},
		{
			name:     "switch on what is off until switched on",
			retryOff: &resilience.KillSwitch{Policy: resilience.PolicyRetry, Reason: "incident", Actor: "bo", Since: t0},
			want:     map[string]resilience.KillSwitch{"timeout": timeoutOff},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := newSwitchEnv(t)
			p, err := ev.reg.Get("orders")
			if err != nil {
				t.Fatal(err)
			}
			off := func(k resilience.KillSwitch) {
				if err := p.Disable(resilience.WithActor(t.Context(), k.Actor), k.Policy, k.Reason, k.Until); err != nil {
					t.Fatal(err)
				}
			}
			off(timeoutOff)
			if tt.retryOff != nil {
				off(*tt.retryOff)
			}
			session := ev.login("ana")
			// The reason is the one field a person must fill in.
			rsp := ev.submitUnchanged("/pipelines/orders", session, "switch-form-retry", url.Values{"reason": {"checking"}})
			if rsp.code != http.StatusSeeOther || rsp.location != "/pipelines/orders" {
				t.Fatalf("status %d to %q, want 303 back to /pipelines/orders: %s", rsp.code, rsp.location, rsp.body)
			}
			got := ev.switchesOf("orders")
			if len(got) != len(tt.want) {
				t.Errorf("switches after the submit %+v, want %+v", got, tt.want)
			}
			for name, w := range tt.want {
				g, ok := got[name]
				if !ok || g.Reason != w.Reason || g.Actor != w.Actor || !g.Since.Equal(w.Since) || !g.Until.Equal(w.Until) {
					t.Errorf("%s switch after the submit %+v, want %+v", name, g, w)
				}
			}
			doc := ev.page("/pipelines/orders", session)
			for _, name := range []string{"retry", "timeout"} {
				_, isOff := tt.want[name]
				if shown := doc.Find(testid("policy-off-"+name)).Length() == 1; shown != isOff {
					t.Errorf("page shows %s off: %v, want %v", name, shown, isOff)
				}
			}
		})
	}
}

// TestEveryFormHasARoundTripTest fails when a page grows a form this file
// does not submit unchanged, or when a form it covers no longer shows up.
func TestEveryFormHasARoundTripTest(t *testing.T) {
	covered := map[string]bool{
		"/pipelines/payments/breaker":          true, // TestOverrideFormSubmittedUnchangedChangesNothing
		"/demo/downstreams/payments":           true, // TestFaultFormSubmittedUnchangedChangesNothing
		"/pipelines/payments/policies/retry":   true, // TestKillSwitchFormsSubmittedUnchangedChangeOnlyTheirPolicy
		"/pipelines/payments/policies/timeout": true, // the same form as the retry's
		"/logout":                              true, // holds no stored state: only the CSRF token
		"/login":                               true, // holds no stored state
	}
	seen := map[string]bool{}
	ev := newSwitchEnv(t)
	// A policy switched off shows the "switch on" form instead.
	p, err := ev.reg.Get("orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Disable(t.Context(), resilience.PolicyTimeout, "load test", time.Time{}); err != nil {
		t.Fatal(err)
	}
	session := ev.login("ana")
	for _, path := range []string{"/", "/pipelines/payments", "/pipelines/search", "/pipelines/orders", "/slos", "/alerts", "/audit", "/login"} {
		ev.page(path, session).Find("form").Each(func(_ int, f *goquery.Selection) {
			action := f.AttrOr("action", "")
			if parts := strings.Split(action, "/"); len(parts) >= 4 && parts[1] == "pipelines" {
				parts[2] = "payments" // the same form on every pipeline's page
				action = strings.Join(parts, "/")
			}
			seen[action] = true
			if !covered[action] {
				t.Errorf("%s: form %q has no round-trip test", path, action)
			}
		})
	}
	for action := range covered {
		if !seen[action] {
			t.Errorf("no page showed the form %q: the setup no longer renders it", action)
		}
	}
}
