package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// historyCovered is how long the tests let the SLO engines run clean
// before the calls: the longest burn window, so that each window's burn
// rate is that of its calls (a window reaching back before the history
// counts the rest as clean).
const historyCovered = 3*24*time.Hour + time.Minute

// hookReceiver is a webhook receiver that keeps the payloads it accepted.
type hookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []alerting.AlertmanagerPayload
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p alerting.AlertmanagerPayload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("receiver: %v", err)
		}
		h.mu.Lock()
		h.got = append(h.got, p)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) payloads() []alerting.AlertmanagerPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]alerting.AlertmanagerPayload(nil), h.got...)
}

// hubSLOConfig writes a hub configuration with one availability SLO on
// shop/pay and a receiver.
func hubSLOConfig(t *testing.T, url string) string {
	path := filepath.Join(t.TempDir(), "hub.yaml")
	cfg := "slos:\n  - name: shop-pay\n    pipeline: shop/pay\n    objective: 99\nwebhooks:\n  - name: oncall\n    url: '" + url + "'\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newHub builds (without running: the test drives evaluation and
// delivery) a hub app on dataDir.
func newHub(t *testing.T, clock resilience.Clock, dataDir, config string, h *hubOptions) *app {
	t.Helper()
	a, err := newApp(context.Background(), options{
		Addr: "127.0.0.1:0", DataDir: dataDir, AdminToken: testToken, Clock: clock, ConfigPath: config, hub: h,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// publishCalls publishes, for each instance of shop, one snapshot of
// pay's calls (ok successes, bad failures), and waits until every hub has
// taken them in.
func publishCalls(t *testing.T, nc *nats.Conn, clock resilience.Clock, seq uint64, calls map[string][2]uint64, hubs ...*app) {
	t.Helper()
	var want []uint64
	for _, h := range hubs {
		want = append(want, h.hubState.hub.Stats().Received+uint64(len(calls)))
	}
	for id, c := range calls {
		var d fleet.PipelineDelta
		d.Name = "pay"
		d.Counts.Calls[resilience.OutcomeSuccess] = c[0]
		d.Counts.Calls[resilience.OutcomeFailure] = c[1]
		s := fleet.Snapshot{Service: "shop", Instance: id, Seq: seq, Time: clock.Now(), Interval: time.Second, Pipelines: []fleet.PipelineDelta{d}}
		data, err := s.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("fusebox.snap.shop."+id, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, h := range hubs {
		ch, stop := h.hubState.hub.Subscribe()
		deadline := time.After(10 * time.Second)
		for h.hubState.hub.Stats().Received < want[i] {
			select {
			case <-ch:
			case <-deadline:
				stop()
				t.Fatalf("hub %d took in %d snapshots, want %d", i, h.hubState.hub.Stats().Received, want[i])
			}
		}
		stop()
	}
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// evaluate evaluates the alerts of every hub at once and then delivers
// what each has pending.
func evaluate(t *testing.T, now time.Time, hubs ...*app) {
	t.Helper()
	var wg sync.WaitGroup
	for _, h := range hubs {
		wg.Go(func() {
			if err := h.alerting.alerts.Evaluate(now); err != nil {
				t.Errorf("Evaluate: %v", err)
			}
		})
	}
	wg.Wait()
	for _, h := range hubs {
		if err := h.alerting.notifier.DeliverPending(context.Background()); err != nil {
			t.Errorf("DeliverPending: %v", err)
		}
	}
}

func firingSeverities(p alerting.AlertmanagerPayload) []string {
	var out []string
	for _, a := range p.Alerts {
		if a.Status == alerting.AlertFiring.String() {
			out = append(out, a.Labels["severity"]+"/"+a.Labels["long_window"])
		}
	}
	return out
}

// A hub's SLO counts the calls of every instance of the service: three
// instances whose merged error ratio is 10 % raise one alert group whose
// burn rates are those of the merged calls (10×: the 6× and slower rows
// fire, not the 14.4× one that the one failing instance alone, at 30 %,
// would have raised).
func TestAFleetSLOFiresFromTheMergedCallsOfItsInstances(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))
	rx := newHookReceiver(t)
	hub := newHub(t, clock, t.TempDir(), hubSLOConfig(t, rx.srv.URL), &hubOptions{NATSListen: "127.0.0.1:-1"})
	t.Cleanup(func() { _ = hub.Close() })
	clock.Advance(historyCovered)
	nc := connect(t, hub.natsURL())
	publishCalls(t, nc, clock, 1, map[string][2]uint64{"a": {70, 30}, "b": {100, 0}, "c": {100, 0}}, hub)
	clock.Advance(time.Minute)
	st, ok := hub.alerting.slos.Status("shop-pay")
	if !ok || st.Good != 270 || st.Total != 300 {
		t.Fatalf("SLO status: good %v of %v (found %v), want 270 of 300", st.Good, st.Total, ok)
	}
	evaluate(t, clock.Now(), hub)
	got := rx.payloads()
	if len(got) != 1 {
		t.Fatalf("the receiver got %d notifications, want 1: %+v", len(got), got)
	}
	sev := strings.Join(firingSeverities(got[0]), " ")
	if sev == "" || strings.Contains(sev, "page/1h") || !strings.Contains(sev, "page/6h") {
		t.Errorf("firing rows %q: want the 6× page row and not the 14.4× one", sev)
	}
	for _, a := range got[0].Alerts {
		if a.Labels["slo"] != "shop-pay" || a.Labels["pipeline"] != "shop/pay" || a.Labels["instance"] != "" {
			t.Errorf("alert labels %v: want the fleet SLO's, with no instance", a.Labels)
		}
	}
}

// Two hubs on one NATS cluster take in the same snapshots and raise the
// same alerts; the receiver is told once of each transition (firing, then
// resolved), whichever hub gets there first.
func TestTwoHubsSendOneNotificationPerAlertTransition(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))
	rx := newHookReceiver(t)
	config := hubSLOConfig(t, rx.srv.URL)
	first := newHub(t, clock, t.TempDir(), config, &hubOptions{NATSListen: "127.0.0.1:-1"})
	second := newHub(t, clock, t.TempDir(), config, &hubOptions{NATSURL: first.natsURL()})
	t.Cleanup(func() {
		_ = second.Close()
		_ = first.Close()
	})
	clock.Advance(historyCovered)
	nc := connect(t, first.natsURL())
	publishCalls(t, nc, clock, 1, map[string][2]uint64{"a": {50, 50}, "b": {50, 50}}, first, second)
	clock.Advance(time.Minute)
	evaluate(t, clock.Now(), first, second)
	evaluate(t, clock.Now().Add(5*time.Second), second, first) // nothing new
	if got := rx.payloads(); len(got) != 1 || got[0].Status != alerting.AlertFiring.String() {
		t.Fatalf("after the alert fired the receiver got %d notifications, want 1 firing: %+v", len(got), got)
	}
	for _, h := range []*app{first, second} {
		if p, err := h.alerting.notifier.Pending(); err != nil || len(p) != 0 {
			t.Fatalf("a hub still has %d notifications pending (%v)", len(p), err)
		}
	}
	// No calls for 7 h: every short window is clean and the alerts resolve.
	clock.Advance(7 * time.Hour)
	evaluate(t, clock.Now(), second, first)
	evaluate(t, clock.Now().Add(5*time.Second), first, second)
	got := rx.payloads()
	if len(got) != 2 || got[1].Status != alerting.AlertResolved.String() {
		t.Fatalf("after the alert resolved the receiver got %d notifications, want firing then resolved: %+v", len(got), got)
	}
	for _, h := range []*app{first, second} {
		if n := len(h.alerting.alerts.Alerts()); n == 0 {
			t.Errorf("a hub has no alerts: both evaluate")
		}
	}
}

// A notification that a hub queued but had not delivered when it stopped
// is delivered, once, after it restarts on the same data directory.
func TestAHubRestartKeepsAPendingNotification(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))
	rx := newHookReceiver(t)
	config, dir := hubSLOConfig(t, rx.srv.URL), t.TempDir()
	hub := newHub(t, clock, dir, config, &hubOptions{NATSListen: "127.0.0.1:-1"})
	clock.Advance(historyCovered)
	nc := connect(t, hub.natsURL())
	publishCalls(t, nc, clock, 1, map[string][2]uint64{"a": {0, 100}}, hub)
	nc.Close()
	clock.Advance(time.Minute)
	if err := hub.alerting.alerts.Evaluate(clock.Now()); err != nil { // queued, not delivered
		t.Fatal(err)
	}
	if p, err := hub.alerting.notifier.Pending(); err != nil || len(p) != 1 {
		t.Fatalf("pending before the restart: %d (%v), want 1", len(p), err)
	}
	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	again := newHub(t, clock, dir, config, &hubOptions{NATSListen: "127.0.0.1:-1"})
	t.Cleanup(func() { _ = again.Close() })
	if p, err := again.alerting.notifier.Pending(); err != nil || len(p) != 1 {
		t.Fatalf("pending after the restart: %d (%v), want 1", len(p), err)
	}
	clock.Advance(time.Second)
	evaluate(t, clock.Now(), again)
	got := rx.payloads()
	if len(got) != 1 || got[0].Status != alerting.AlertFiring.String() || got[0].Alerts[0].Labels["slo"] != "shop-pay" {
		t.Fatalf("the receiver got %d notifications, want the pending firing one: %+v", len(got), got)
	}
}

// `app hub --check-config` takes SLOs on service/pipeline and names the
// field and line of one that is not.
func TestHubCheckConfigWantsSLOsOnServiceSlashPipeline(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "slos:\n  - name: shop-pay\n    pipeline: shop/pay\n    objective: 99.9\n")
	bad := write("bad.yaml", "slos:\n  - name: shop-pay\n    pipeline: shop/pay\n    objective: 99.9\n  - name: pay\n    pipeline: pay\n    objective: 99\n  - name: odd\n    pipeline: 'sh op/pay'\n    objective: 99\n")
	var out, errs strings.Builder
	if code := hubCommand(context.Background(), []string{"--check-config", "--config", good}, &out, &errs); code != 0 {
		t.Fatalf("good config: exit %d: %s", code, errs.String())
	}
	out.Reset()
	if code := hubCommand(context.Background(), []string{"--check-config", "--config", bad}, &out, &errs); code != 1 {
		t.Fatalf("bad config: exit %d, want 1", code)
	}
	for _, want := range []string{"slos[1].pipeline", "(line 6)", `"pay" must be service/pipeline`, "slos[2].pipeline", "(line 9)", `service "sh op"`} {
		if !strings.Contains(errs.String(), want) {
			t.Errorf("errors %q lack %q", errs.String(), want)
		}
	}
	if strings.Contains(errs.String(), "slos[0]") {
		t.Errorf("errors %q name the good SLO", errs.String())
	}
	// Outside a hub, service/pipeline is no configured pipeline.
	if _, err := loadConfig(good); err == nil || !strings.Contains(err.Error(), "slos[0].pipeline") {
		t.Errorf("the app's loader accepted a hub SLO: %v", err)
	}
}

// The links of a hub's alerts and SLOs to service/pipeline lead to the
// service's fleet page.
func TestAHubSendsFleetPipelineLinksToTheServicePage(t *testing.T) {
	r := startHubApp(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]string{
		"/pipelines/shop/pay": "/fleet/shop", "/pipelines/shop%2Fpay": "/fleet/shop", "/pipelines/pay": "",
	} {
		resp, err := client.Get(r.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); want != "" && (resp.StatusCode != http.StatusSeeOther || got != want) {
			t.Errorf("GET %s: %d to %q, want 303 to %q", path, resp.StatusCode, got, want)
		} else if want == "" && strings.HasPrefix(got, "/fleet") {
			t.Errorf("GET %s went to %q: not a fleet pipeline", path, got)
		}
	}
}
