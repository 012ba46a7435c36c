package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

func TestWebhookConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   WebhookConfig
		field string // "" for valid
	}{
		{"an https URL with a host is valid", WebhookConfig{Name: "ops", URL: "https://hooks.example.com/x"}, ""},
		{"an http URL with a port is valid", WebhookConfig{Name: "ops", URL: "http://127.0.0.1:9000/"}, ""},
		{"an empty URL is rejected", WebhookConfig{Name: "ops"}, "url"},
		{"an ftp URL is rejected", WebhookConfig{Name: "ops", URL: "ftp://example.com/"}, "url"},
		{"a URL without a host is rejected", WebhookConfig{Name: "ops", URL: "http:///path"}, "url"},
		{"a relative URL is rejected", WebhookConfig{Name: "ops", URL: "/hooks"}, "url"},
		{"a URL that does not parse is rejected", WebhookConfig{Name: "ops", URL: "http://[::1"}, "url"},
		{"credentials in the URL are rejected", WebhookConfig{Name: "ops", URL: "https://u:p@example.com/"}, "url"},
		{"a missing name is rejected", WebhookConfig{URL: "https://example.com/"}, "name"},
		{"a header with a line break is rejected", WebhookConfig{Name: "ops", URL: "https://example.com/", Headers: map[string]string{"X-A": "a\r\nB: c"}}, "headers.X-A"},
		{"the signature header cannot be set", WebhookConfig{Name: "ops", URL: "https://example.com/", Headers: map[string]string{"X-Fusebox-Signature": "x"}}, "headers.X-Fusebox-Signature"},
		{"a negative timeout is rejected", WebhookConfig{Name: "ops", URL: "https://example.com/", Timeout: -time.Second}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate() = %v, want an error on %s", err, tt.field)
			}
		})
	}
	if _, err := NewWebhookNotifier(WebhookNotifierConfig{Receivers: []WebhookConfig{{Name: "ok", URL: "https://a.example/"}, {Name: "bad", URL: "mailto:x@y"}}}); err == nil ||
		!strings.Contains(err.Error(), "Receivers[1]") || !strings.Contains(err.Error(), "url") {
		t.Errorf("NewWebhookNotifier with a bad URL: %v", err)
	}
}

func TestWebhookFromURLIsStableAndValid(t *testing.T) {
	a, b := WebhookFromURL("http://127.0.0.1:9000/hook"), WebhookFromURL("http://127.0.0.1:9000/hook")
	c := WebhookFromURL("http://127.0.0.1:9000/other")
	if a.Name != b.Name || a.URL != b.URL || a.Name == c.Name || !strings.HasPrefix(a.Name, "127.0.0.1:9000-") {
		t.Errorf("names %q %q %q", a.Name, b.Name, c.Name)
	}
	if err := a.Validate(); err != nil {
		t.Error(err)
	}
	if err := WebhookFromURL("not a url").Validate(); err == nil {
		t.Error("a bad flag URL passes validation")
	}
}

// TestWebhookPayloadFieldNames checks the JSON against the fields of
// Alertmanager's webhook_config documentation, version 4.
func TestWebhookPayloadFieldNames(t *testing.T) {
	n, _ := newQueueOnlyNotifier(t, nil)
	body, err := n.Payload("ops", []AlertRecord{{
		Fingerprint: "0123456789abcdef", State: AlertFiring, StartsAt: sloStart, GeneratorURL: "http://x/pipelines/p",
		Labels: map[string]string{"alertname": "ErrorBudgetBurn", "slo": "s", "severity": "page"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatal(err)
	}
	want := []string{"alerts", "commonAnnotations", "commonLabels", "externalURL", "groupKey", "groupLabels", "receiver", "status", "truncatedAlerts", "version"}
	if got := slices.Sorted(maps.Keys(top)); !slices.Equal(got, want) {
		t.Errorf("payload fields = %v, want %v", got, want)
	}
	var alerts []map[string]json.RawMessage
	if err := json.Unmarshal(top["alerts"], &alerts); err != nil || len(alerts) != 1 {
		t.Fatalf("alerts: %v %d", err, len(alerts))
	}
	wantAlert := []string{"annotations", "endsAt", "fingerprint", "generatorURL", "labels", "startsAt", "status"}
	if got := slices.Sorted(maps.Keys(alerts[0])); !slices.Equal(got, wantAlert) {
		t.Errorf("alert fields = %v, want %v", got, wantAlert)
	}
	for k, v := range map[string]string{
		"version": `"4"`, "status": `"firing"`, "receiver": `"ops"`, "truncatedAlerts": `0`,
		"groupKey": `"{}:{alertname=\"ErrorBudgetBurn\", slo=\"s\"}"`, "commonAnnotations": `{}`,
	} {
		if string(top[k]) != v {
			t.Errorf("%s = %s, want %s", k, top[k], v)
		}
	}
	if got := string(alerts[0]["endsAt"]); got != `"0001-01-01T00:00:00Z"` {
		t.Errorf("endsAt of a firing alert = %s, want Alertmanager's zero time", got)
	}
	if _, err := ParseAlertmanagerPayload(body); err != nil {
		t.Errorf("our payload does not parse as Alertmanager's: %v", err)
	}
}

func TestSignatureRoundTrip(t *testing.T) {
	body := []byte(`{"a":1}`)
	at := time.Unix(1_700_000_000, 0)
	h := Sign("s3cret", at, body)
	if !strings.HasPrefix(h, "t=1700000000,v1=") || len(h) != len("t=1700000000,v1=")+64 {
		t.Fatalf("header = %q", h)
	}
	tests := []struct {
		name   string
		secret string
		header string
		body   string
		now    time.Time
		want   error
	}{
		{"a fresh signature verifies", "s3cret", h, `{"a":1}`, at.Add(time.Minute), nil},
		{"a rotated secret verifies with two signatures", "s3cret", Sign("old", at, body) + "," + strings.Split(h, ",")[1], `{"a":1}`, at, nil},
		{"another body does not", "s3cret", h, `{"a":2}`, at, ErrSignatureMismatch},
		{"another secret does not", "other", h, `{"a":1}`, at, ErrSignatureMismatch},
		{"a replay after the tolerance does not", "s3cret", h, `{"a":1}`, at.Add(6 * time.Minute), ErrSignatureExpired},
		{"a header from the future does not", "s3cret", h, `{"a":1}`, at.Add(-6 * time.Minute), ErrSignatureExpired},
		{"an empty header is malformed", "s3cret", "", `{"a":1}`, at, ErrSignatureMalformed},
		{"a header without v1 is malformed", "s3cret", "t=1700000000", `{"a":1}`, at, ErrSignatureMalformed},
		{"a short v1 is malformed", "s3cret", "t=1700000000,v1=abcd", `{"a":1}`, at, ErrSignatureMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secret, tt.header, []byte(tt.body), tt.now, 5*time.Minute)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("VerifySignature = %v, want %v", err, tt.want)
			}
		})
	}
}

// receiverServer is an httptest receiver that fails the first failN
// requests with 503 and records the accepted notifications.
type receiverServer struct {
	*httptest.Server
	mu       sync.Mutex
	failN    int
	requests int
	accepted map[string]int // fingerprint/status -> 2xx answers
	badSigs  int
	got      chan struct{}
}

func newReceiverServer(t *testing.T, secret string, failN int) *receiverServer {
	rs := &receiverServer{failN: failN, accepted: map[string]int{}, got: make(chan struct{}, 100)}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		defer rs.mu.Unlock()
		rs.requests++
		if secret != "" {
			if err := VerifySignature(secret, r.Header.Get(SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
				rs.badSigs++
			}
		}
		if rs.requests <= rs.failN {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		p, err := ParseAlertmanagerPayload(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, a := range p.Alerts {
			rs.accepted[a.Fingerprint+"/"+a.Status]++
		}
		w.WriteHeader(http.StatusOK)
		rs.got <- struct{}{}
	}))
	t.Cleanup(rs.Close)
	return rs
}

func fastNotifier(t *testing.T, outbox Outbox, rcs ...WebhookConfig) *WebhookNotifier {
	t.Helper()
	nlog, _ := outbox.(NotificationLog) // the store keeps both
	n, err := NewWebhookNotifier(WebhookNotifierConfig{
		Receivers: rcs, Outbox: outbox, Log: nlog, Attempts: 3,
		Backoff:    resilience.BackoffConfig{Base: time.Nanosecond, Max: time.Nanosecond},
		Redelivery: time.Nanosecond, MaxRedelivery: time.Nanosecond,
		GroupsInFlight: 1, // one group at a time, so the order of requests is known
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func testAlert(name string, state AlertState) AlertRecord {
	labels := map[string]string{"alertname": name, "severity": "page", "pipeline": "payments"}
	r := AlertRecord{Fingerprint: Fingerprint(labels), Name: name, Labels: labels, State: state, StartsAt: sloStart, Source: SourceFusebox}
	if state == AlertResolved {
		r.EndsAt = sloStart.Add(time.Minute)
	}
	return r
}

// deliverAll calls DeliverPending until the outbox is empty, at most n times.
func deliverAll(t *testing.T, n *WebhookNotifier, rounds int) int {
	t.Helper()
	for i := range rounds {
		if err := n.DeliverPending(context.Background()); err != nil {
			t.Fatal(err)
		}
		if p, _ := n.Pending(); len(p) == 0 {
			return i + 1
		}
	}
	p, _ := n.Pending()
	t.Fatalf("%d notifications still pending after %d passes: %+v", len(p), rounds, p)
	return 0
}

func TestWebhookDeliversExactlyOnceAfterFailures(t *testing.T) {
	rs := newReceiverServer(t, "s3cret", 4)
	n := fastNotifier(t, &memoryOutbox{}, WebhookConfig{Name: "ops", URL: rs.URL, Secret: "s3cret"})
	alerts := []AlertRecord{testAlert("A", AlertFiring), testAlert("B", AlertFiring), testAlert("A", AlertResolved)}
	if err := n.Notify(alerts[:2]); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(alerts[2:]); err != nil {
		t.Fatal(err)
	}
	deliverAll(t, n, 10)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.badSigs != 0 {
		t.Errorf("%d requests with a bad signature", rs.badSigs)
	}
	want := map[string]int{
		alerts[0].Fingerprint + "/firing": 1, alerts[1].Fingerprint + "/firing": 1, alerts[2].Fingerprint + "/resolved": 1,
	}
	if !maps.Equal(rs.accepted, want) {
		t.Errorf("accepted = %v, want each notification once: %v", rs.accepted, want)
	}
	if rs.requests != 4+3 {
		t.Errorf("%d requests, want 4 failed and 3 accepted", rs.requests)
	}
	// Round 1: three 503s; round 2: one 503, then 2xx.
	ds := n.Deliveries()
	results := map[DeliveryResult]int{}
	for _, d := range ds {
		results[d.Result]++
	}
	if results[DeliverySuccess] != 3 || results[DeliveryFailure] != 1 {
		t.Errorf("delivery results = %v", results)
	}
	if last := ds[len(ds)-1]; last.Result != DeliveryFailure || last.Requests != 3 || !strings.Contains(last.Error, "503") {
		t.Errorf("first round = %+v", last)
	}
}

func TestWebhookFailures(t *testing.T) {
	slow := make(chan struct{})
	slowSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-slow:
		}
	}))
	defer slowSrv.Close()
	defer close(slow)
	badReq := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) }))
	defer badReq.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.com/", http.StatusFound)
	}))
	defer redirect.Close()

	tests := []struct {
		name     string
		rc       WebhookConfig
		result   DeliveryResult
		requests int
		errPart  string
	}{
		{"an unreachable host fails after every attempt", WebhookConfig{Name: "down", URL: "http://127.0.0.1:1/"}, DeliveryFailure, 3, "connect"},
		{"a 400 answer fails without retrying", WebhookConfig{Name: "bad", URL: badReq.URL}, DeliveryFailure, 1, "400"},
		{"a redirect is not followed", WebhookConfig{Name: "moved", URL: redirect.URL}, DeliveryFailure, 1, "302"},
		{"a receiver slower than its timeout times out", WebhookConfig{Name: "slow", URL: slowSrv.URL, Timeout: 20 * time.Millisecond}, DeliveryTimeout, 3, "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outbox := &memoryOutbox{}
			n := fastNotifier(t, outbox, tt.rc)
			if err := n.Notify([]AlertRecord{testAlert("A", AlertFiring)}); err != nil {
				t.Fatal(err)
			}
			if err := n.DeliverPending(context.Background()); err != nil {
				t.Fatal(err)
			}
			ds := n.Deliveries()
			if len(ds) != 1 || ds[0].Result != tt.result || ds[0].Requests != tt.requests || !strings.Contains(ds[0].Error, tt.errPart) {
				t.Fatalf("deliveries = %+v, want one %s after %d requests mentioning %q", ds, tt.result, tt.requests, tt.errPart)
			}
			pending, _ := outbox.PendingNotifications("")
			if len(pending) != 1 || pending[0].Attempts != 1 || pending[0].LastError == "" || pending[0].NextAttempt.IsZero() {
				t.Errorf("outbox = %+v, want the notification kept with its failed round", pending)
			}
		})
	}
}

func TestWebhookBreakerOpensOnADeadReceiver(t *testing.T) {
	outbox := &memoryOutbox{}
	n := fastNotifier(t, outbox, WebhookConfig{Name: "down", URL: "http://127.0.0.1:1/"})
	if err := n.Notify([]AlertRecord{testAlert("A", AlertFiring)}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if err := n.DeliverPending(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if ds := n.Deliveries(); ds[0].Result != DeliveryRejected || ds[0].Requests != 0 {
		t.Errorf("after 5 failed rounds: %+v, want a rejection by the breaker", ds[0])
	}
	if p := n.Pipelines(); len(p) != 1 || p[0].Name() != "webhook:down" || p[0].Breaker().State() != resilience.StateOpen {
		t.Errorf("pipelines = %v", p)
	}
}

func TestWebhookOutboxSurvivesARestart(t *testing.T) {
	outbox := &memoryOutbox{} // outlives the notifiers, as the store does
	testRestart(t, outbox)
}

// testRestart queues a notification while the receiver is down, makes a
// new notifier on the same outbox, and checks that it delivers exactly
// once.
func testRestart(t *testing.T, outbox Outbox) {
	t.Helper()
	rs := newReceiverServer(t, "", 1<<30)
	rc := WebhookConfig{Name: "ops", URL: rs.URL}
	first := fastNotifier(t, outbox, rc)
	a := testAlert("A", AlertFiring)
	if err := first.Notify([]AlertRecord{a}); err != nil {
		t.Fatal(err)
	}
	if err := first.DeliverPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = first.Close()
	if p, _ := outbox.PendingNotifications(""); len(p) != 1 {
		t.Fatalf("pending after a failed round = %+v", p)
	}
	rs.mu.Lock()
	rs.failN = 0
	rs.mu.Unlock()
	second := fastNotifier(t, outbox, rc)
	deliverAll(t, second, 3)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.accepted[a.Fingerprint+"/firing"] != 1 {
		t.Errorf("accepted = %v", rs.accepted)
	}
	if p, _ := outbox.PendingNotifications(""); len(p) != 0 {
		t.Errorf("outbox after delivery = %+v", p)
	}
}

func TestWebhookRunDeliversWhatIsNotified(t *testing.T) {
	rs := newReceiverServer(t, "", 0)
	n := fastNotifier(t, &memoryOutbox{}, WebhookConfig{Name: "ops", URL: rs.URL})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	if err := n.Notify([]AlertRecord{testAlert("A", AlertFiring)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rs.got:
	case <-time.After(10 * time.Second):
		t.Fatal("not delivered")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// fullOutbox refuses every notification.
type fullOutbox struct{ memoryOutbox }

func (*fullOutbox) EnqueueNotification(Notification) (uint64, error) {
	return 0, errors.New("outbox full")
}

func TestWebhookCountsDroppedNotifications(t *testing.T) {
	n := fastNotifier(t, &fullOutbox{}, WebhookConfig{Name: "ops", URL: "http://127.0.0.1:1/"})
	if err := n.Notify([]AlertRecord{testAlert("A", AlertFiring)}); err == nil || !strings.Contains(err.Error(), "outbox full") {
		t.Errorf("Notify = %v", err)
	}
	if got := n.receivers[0].counts[DeliveryDropped].Load(); got != 1 {
		t.Errorf("dropped = %d", got)
	}
}

func TestAlertsListDeliveries(t *testing.T) {
	rs := newReceiverServer(t, "", 0)
	n := fastNotifier(t, &memoryOutbox{}, WebhookConfig{Name: "ops", URL: rs.URL})
	st := resilience.StateForcedOpen
	am, err := NewAlertManager(AlertManagerConfig{Notifier: n,
		Breakers: BreakerReaderFunc(func() []BreakerStatus { return []BreakerStatus{{Pipeline: "p", State: st}} })})
	if err != nil {
		t.Fatal(err)
	}
	if err := am.Evaluate(time.Now()); err != nil {
		t.Fatal(err)
	}
	deliverAll(t, n, 3)
	as := am.Alerts()
	if len(as) != 1 || len(as[0].Deliveries) != 1 || as[0].Deliveries[0].Result != DeliverySuccess || as[0].Deliveries[0].Status != AlertFiring {
		t.Errorf("alerts = %+v", as)
	}
}
