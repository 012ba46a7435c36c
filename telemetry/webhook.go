package telemetry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// WebhookConfig is a webhook receiver of alert notifications, as read from
// the config file.
type WebhookConfig struct {
	// Name identifies the receiver: the receiver field of payloads, the
	// pipeline "webhook:<name>" and the outbox key. Letters, digits and
	// "-_.:/", at most 128 bytes. Required.
	Name string `yaml:"name" json:"name"`
	// URL is where notifications are POSTed: http or https with a host.
	// Required.
	URL string `yaml:"url" json:"url"`
	// Secret, when set, signs every body (see SignatureHeader, Sign and
	// VerifySignature).
	Secret string `yaml:"secret" json:"-"`
	// Headers are added to every request (an Authorization header, say).
	Headers map[string]string `yaml:"headers" json:"-"`
	// Timeout bounds each attempt. Zero means DefaultWebhookTimeout.
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// DefaultWebhookTimeout bounds each attempt of a receiver without a Timeout.
const DefaultWebhookTimeout = 10 * time.Second

// Validate checks c. The error is nil or an errors.Join of *FieldError
// naming "name", "url", "headers.<name>" or "timeout".
func (c WebhookConfig) Validate() error {
	var errs []error
	if msg := checkConfigName(c.Name); msg != "" {
		errs = append(errs, newFieldError("name", strconv.Quote(c.Name), msg))
	}
	if msg := checkWebhookURL(c.URL); msg != "" {
		errs = append(errs, newFieldError("url", strconv.Quote(c.URL), msg))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
		v := c.Headers[k]
		switch {
		case !validHeaderName(k):
			errs = append(errs, newFieldError("headers."+k, strconv.Quote(k), "is not a valid header name"))
		case strings.EqualFold(k, SignatureHeader) || strings.EqualFold(k, "Content-Type") || strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Host"):
			errs = append(errs, newFieldError("headers."+k, strconv.Quote(k), "is set by Fusebox and cannot be overridden"))
		case strings.ContainsAny(v, "\r\n\x00"):
			errs = append(errs, newFieldError("headers."+k, "(hidden)", "must not contain line breaks"))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, newFieldError("timeout", c.Timeout, "must not be negative"))
	}
	return errors.Join(errs...)
}

func checkWebhookURL(raw string) string {
	if raw == "" {
		return "is required"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a URL: " + err.Error()
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must be an http or https URL"
	}
	if u.Hostname() == "" {
		return "must name a host"
	}
	if u.User != nil {
		return "must not carry credentials; use headers"
	}
	return ""
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// WebhookFromURL returns the receiver of a URL given on the command line
// (--alert-webhook): its name is the URL's host and port followed by a
// short hash of the whole URL ("hooks.example.com-3f2a9c1b"), so that it
// stays the same across restarts and the outbox finds its notifications
// again. The URL is checked by Validate, like a configured one.
func WebhookFromURL(raw string) WebhookConfig {
	sum := sha256.Sum256([]byte(raw))
	host := "webhook"
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		host = u.Host
	}
	name := host + "-" + hex.EncodeToString(sum[:4])
	if checkConfigName(name) != "" {
		name = "webhook-" + hex.EncodeToString(sum[:4])
	}
	return WebhookConfig{Name: name, URL: raw}
}

// Notification is one webhook delivery in the outbox. Its fields are those
// of store.Notification.
type Notification struct {
	// ID is assigned by the outbox, increasing in enqueue order.
	ID       uint64
	Receiver string
	// Payload is the exact request body.
	Payload   []byte
	CreatedAt time.Time
	// Attempts counts the delivery rounds tried (each of up to
	// WebhookNotifierConfig.Attempts requests).
	Attempts int
	// NextAttempt is when the next round is due; zero means now.
	NextAttempt time.Time
	LastError   string
}

// Outbox is the durable queue of notifications. Its methods are those of
// *store.Store with telemetry's Notification.
type Outbox interface {
	// EnqueueNotification writes n durably and returns its new ID.
	EnqueueNotification(n Notification) (uint64, error)
	// PendingNotifications returns the undelivered notifications of
	// receiver ("" for all), lowest ID first.
	PendingNotifications(receiver string) ([]Notification, error)
	// UpdateNotification records a failed round: Attempts, NextAttempt and
	// LastError of notification n.ID.
	UpdateNotification(n Notification) error
	// AckNotification removes a delivered notification.
	AckNotification(id uint64) error
}

// Delivery results, the values of the result label of
// fusebox_webhook_deliveries_total.
const (
	DeliverySuccess  = "success"  // a 2xx answer
	DeliveryFailure  = "failure"  // a non-2xx answer or a transport error
	DeliveryTimeout  = "timeout"  // an attempt ran out of time
	DeliveryRejected = "rejected" // the receiver's breaker is open
	DeliveryDropped  = "dropped"  // the outbox refused the notification
)

var deliveryResults = []string{DeliverySuccess, DeliveryFailure, DeliveryTimeout, DeliveryRejected, DeliveryDropped}

// Delivery is the result of one delivery round of a notification.
type Delivery struct {
	ID       uint64    `json:"id"`
	Receiver string    `json:"receiver"`
	At       time.Time `json:"at"`
	// Status is the payload's status ("firing", "resolved");
	// Fingerprints are its alerts'.
	Status       string   `json:"status"`
	Fingerprints []string `json:"fingerprints"`
	// Result is one of the Delivery* results.
	Result string `json:"result"`
	// Round counts the rounds of this notification, from 1; Requests the
	// HTTP requests of this round.
	Round    int    `json:"round"`
	Requests int    `json:"requests"`
	Error    string `json:"error,omitempty"`
	// NextAttempt is when a failed notification is tried again.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// WebhookNotifierConfig configures a WebhookNotifier.
type WebhookNotifierConfig struct {
	// Receivers get every notification. Each must pass Validate; names must
	// be unique.
	Receivers []WebhookConfig
	// Outbox holds the notifications until a receiver answers 2xx. Nil
	// keeps them in memory, so a restart loses them.
	Outbox Outbox
	// Observers watch the receivers' pipelines ("webhook:<name>"), as they
	// watch any pipeline: pass the aggregator so they show on the dashboard.
	Observers []resilience.Observer
	// Clock drives the pipelines, the signatures and the redelivery
	// schedule. Nil means resilience.SystemClock().
	Clock resilience.Clock
	// Client sends the requests. Nil means a client of its own that does not
	// follow redirects; Close closes its idle connections.
	Client *http.Client
	// Attempts is how many requests a delivery round makes at most. Zero
	// means 3.
	Attempts int
	// Backoff spaces the requests of a round. The zero value means 500 ms
	// doubling up to 5 s, with full jitter.
	Backoff resilience.BackoffConfig
	// Breaker guards each receiver. The zero value opens at 50 % failures
	// of the last 10 rounds (at least 5) for 30 s.
	Breaker resilience.BreakerConfig
	// Redelivery is the wait after the first failed round; it doubles with
	// each failed round up to MaxRedelivery. Zero means 10 s and 5 min.
	Redelivery, MaxRedelivery time.Duration
	// ExternalURL is the dashboard's base URL, the externalURL of payloads.
	ExternalURL string
	// RecentDeliveries is how many delivery results are kept for listing.
	// Zero means 500.
	RecentDeliveries int
	// Logger reports failed deliveries. Nil discards.
	Logger *slog.Logger
}

// WebhookNotifier sends alert notifications to webhook receivers in the
// Alertmanager webhook format, at least once: each notification is written
// to the outbox before the first attempt and removed only after a 2xx
// answer, so a receiver that is down, or a restart, loses nothing;
// receivers deduplicate on the alert's fingerprint and status. Each
// receiver has its own pipeline "webhook:<name>" (breaker ► retry with
// backoff ► per-attempt timeout), and its notifications are delivered in
// order: a notification waits until the ones before it are delivered.
// It is safe for concurrent use.
type WebhookNotifier struct {
	cfg       WebhookNotifierConfig
	clock     resilience.Clock
	client    *http.Client
	ownClient bool
	outbox    Outbox
	log       *slog.Logger
	receivers []*receiver // by name
	byName    map[string]*receiver
	wake      chan struct{}

	mu     sync.Mutex
	recent []Delivery // ring, oldest first once full
	next   int
}

type receiver struct {
	cfg      WebhookConfig
	pipeline *resilience.Pipeline
	counts   [5]atomic.Uint64 // by deliveryResults index
}

// NewWebhookNotifier returns a notifier for cfg.Receivers, or an error
// naming the invalid field ("Receivers[1].url: …") or the pipeline that
// could not be built (an observer already bound to "webhook:<name>").
func NewWebhookNotifier(cfg WebhookNotifierConfig) (*WebhookNotifier, error) {
	n := &WebhookNotifier{cfg: cfg, clock: cfg.Clock, client: cfg.Client, outbox: cfg.Outbox, log: cfg.Logger,
		byName: map[string]*receiver{}, wake: make(chan struct{}, 1)}
	if n.clock == nil {
		n.clock = resilience.SystemClock()
	}
	if n.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		n.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		n.ownClient = true
	}
	if n.outbox == nil {
		n.outbox = &memoryOutbox{}
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.cfg.Attempts == 0 {
		n.cfg.Attempts = 3
	}
	if n.cfg.Backoff == (resilience.BackoffConfig{}) {
		n.cfg.Backoff = resilience.BackoffConfig{Base: 500 * time.Millisecond, Max: 5 * time.Second}
	}
	if isZeroBreakerConfig(n.cfg.Breaker) {
		n.cfg.Breaker = resilience.BreakerConfig{WindowSize: 10, MinimumCalls: 5, FailureRateThreshold: 0.5, OpenDuration: 30 * time.Second}
	}
	if n.cfg.Redelivery == 0 {
		n.cfg.Redelivery = 10 * time.Second
	}
	if n.cfg.MaxRedelivery == 0 {
		n.cfg.MaxRedelivery = 5 * time.Minute
	}
	if n.cfg.RecentDeliveries == 0 {
		n.cfg.RecentDeliveries = 500
	}
	switch {
	case n.cfg.Redelivery < 0:
		return nil, fmt.Errorf("telemetry: invalid WebhookNotifierConfig.Redelivery = %v: must be positive", cfg.Redelivery)
	case n.cfg.MaxRedelivery < n.cfg.Redelivery:
		return nil, fmt.Errorf("telemetry: invalid WebhookNotifierConfig.MaxRedelivery = %v: must not be below Redelivery (%v)", cfg.MaxRedelivery, n.cfg.Redelivery)
	case n.cfg.RecentDeliveries < 0:
		return nil, fmt.Errorf("telemetry: invalid WebhookNotifierConfig.RecentDeliveries = %d: must be positive", cfg.RecentDeliveries)
	}
	for i, rc := range cfg.Receivers {
		if err := rc.Validate(); err != nil {
			return nil, fmt.Errorf("telemetry: invalid WebhookNotifierConfig.Receivers[%d]: %w", i, err)
		}
		if n.byName[rc.Name] != nil {
			return nil, fmt.Errorf("telemetry: invalid WebhookNotifierConfig.Receivers[%d].name = %q: duplicate receiver name", i, rc.Name)
		}
		if rc.Timeout == 0 {
			rc.Timeout = DefaultWebhookTimeout
		}
		p, err := n.pipeline(rc)
		if err != nil {
			return nil, fmt.Errorf("telemetry: receiver %q: %w", rc.Name, err)
		}
		r := &receiver{cfg: rc, pipeline: p}
		n.receivers = append(n.receivers, r)
		n.byName[rc.Name] = r
	}
	slices.SortFunc(n.receivers, func(a, b *receiver) int { return strings.Compare(a.cfg.Name, b.cfg.Name) })
	return n, nil
}

func isZeroBreakerConfig(c resilience.BreakerConfig) bool { return reflect.ValueOf(c).IsZero() }

// pipeline builds the delivery pipeline of a receiver.
func (n *WebhookNotifier) pipeline(rc WebhookConfig) (*resilience.Pipeline, error) {
	br, err := resilience.NewBreaker(n.cfg.Breaker)
	if err != nil {
		return nil, err
	}
	rt, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: n.cfg.Attempts, Backoff: n.cfg.Backoff, Budget: resilience.BudgetConfig{Disabled: true},
	})
	if err != nil {
		return nil, err
	}
	to, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: rc.Timeout})
	if err != nil {
		return nil, err
	}
	return resilience.New("webhook:"+rc.Name, resilience.Config{
		Policies: []resilience.Policy{br, rt, to}, Observers: n.cfg.Observers, Clock: n.clock,
	})
}

// Pipelines returns the receivers' pipelines, by name, for the app to
// register (resilience.Registry.Add) so they show on the dashboard.
func (n *WebhookNotifier) Pipelines() []*resilience.Pipeline {
	out := make([]*resilience.Pipeline, len(n.receivers))
	for i, r := range n.receivers {
		out[i] = r.pipeline
	}
	return out
}

// Receivers returns the receivers' names, sorted.
func (n *WebhookNotifier) Receivers() []string {
	out := make([]string, len(n.receivers))
	for i, r := range n.receivers {
		out[i] = r.cfg.Name
	}
	return out
}

// Payload returns the Alertmanager webhook body (version "4") that
// notifies receiver of alert r: one alert per notification, grouped by its
// alertname and its slo or pipeline label.
func (n *WebhookNotifier) Payload(receiver string, r AlertRecord) ([]byte, error) {
	labels := nonNil(r.Labels)
	group := map[string]string{"alertname": labels["alertname"]}
	for _, k := range []string{"slo", "pipeline"} {
		if v, ok := labels[k]; ok {
			group[k] = v
			break
		}
	}
	p := AlertmanagerPayload{
		Version: "4", GroupKey: groupKey(group), Status: r.State, Receiver: receiver,
		GroupLabels: group, CommonLabels: labels, CommonAnnotations: nonNil(r.Annotations),
		ExternalURL: strings.TrimRight(n.cfg.ExternalURL, "/"),
		Alerts: []AlertmanagerAlert{{
			Status: r.State, Labels: labels, Annotations: nonNil(r.Annotations),
			StartsAt: r.StartsAt.UTC(), EndsAt: r.EndsAt.UTC(), GeneratorURL: r.GeneratorURL, Fingerprint: r.Fingerprint,
		}},
	}
	return json.Marshal(p)
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// groupKey formats a group key as Alertmanager does for a route without
// a parent: `{}:{alertname="X", slo="Y"}`.
func groupKey(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+strconv.Quote(labels[k]))
	}
	return "{}:{" + strings.Join(parts, ", ") + "}"
}

// Notify writes a notification of each alert for every receiver to the
// outbox, durably, and wakes Run to deliver them. A notification the
// outbox refuses is counted as dropped and reported in the joined error.
func (n *WebhookNotifier) Notify(alerts []AlertRecord) error {
	now := n.clock.Now()
	var errs []error
	for _, a := range alerts {
		for _, r := range n.receivers {
			body, err := n.Payload(r.cfg.Name, a)
			if err == nil {
				_, err = n.outbox.EnqueueNotification(Notification{Receiver: r.cfg.Name, Payload: body, CreatedAt: now})
			}
			if err != nil {
				r.count(DeliveryDropped)
				errs = append(errs, fmt.Errorf("telemetry: queueing alert %s for receiver %q: %w", a.Fingerprint, r.cfg.Name, err))
			}
		}
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
	return errors.Join(errs...)
}

func (r *receiver) count(result string) {
	r.counts[slices.Index(deliveryResults, result)].Add(1)
}

// DeliverPending makes one pass over the outbox: for each receiver, in
// parallel, it delivers the due notifications in order, stopping at the
// first that fails or is not yet due. A failed round is recorded in the
// outbox (Attempts, NextAttempt, LastError); a delivered notification is
// removed. Run calls it; tests may call it directly. It returns the outbox
// errors.
func (n *WebhookNotifier) DeliverPending(ctx context.Context) error {
	pending, err := n.outbox.PendingNotifications("")
	if err != nil {
		return fmt.Errorf("telemetry: reading the outbox: %w", err)
	}
	queues := map[*receiver][]Notification{}
	for _, p := range pending {
		if r := n.byName[p.Receiver]; r != nil {
			queues[r] = append(queues[r], p)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(n.receivers))
	for i, r := range n.receivers {
		if q := queues[r]; len(q) > 0 {
			wg.Go(func() { errs[i] = n.deliverQueue(ctx, r, q) })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (n *WebhookNotifier) deliverQueue(ctx context.Context, r *receiver, q []Notification) error {
	for _, item := range q {
		if ctx.Err() != nil || item.NextAttempt.After(n.clock.Now()) {
			return nil
		}
		ok, err := n.deliver(ctx, r, item)
		if err != nil || !ok {
			return err
		}
	}
	return nil
}

// deliver makes one delivery round of item; it reports whether it was
// delivered.
func (n *WebhookNotifier) deliver(ctx context.Context, r *receiver, item Notification) (bool, error) {
	requests := 0
	err := resilience.Run(ctx, r.pipeline, func(ctx context.Context) error {
		requests++
		return n.post(ctx, r.cfg, item)
	})
	if err != nil && ctx.Err() != nil {
		return false, nil // shutting down: the round does not count
	}
	d := Delivery{ID: item.ID, Receiver: r.cfg.Name, At: n.clock.Now(), Round: item.Attempts + 1, Requests: requests}
	var p AlertmanagerPayload
	if json.Unmarshal(item.Payload, &p) == nil {
		d.Status = p.Status
		for _, a := range p.Alerts {
			d.Fingerprints = append(d.Fingerprints, a.Fingerprint)
		}
	}
	if err == nil {
		d.Result = DeliverySuccess
		r.count(d.Result)
		n.remember(d)
		if err := n.outbox.AckNotification(item.ID); err != nil {
			return false, fmt.Errorf("telemetry: removing delivered notification %d: %w", item.ID, err)
		}
		return true, nil
	}
	switch {
	case errors.Is(err, resilience.ErrOpen):
		d.Result = DeliveryRejected
	case errors.Is(err, resilience.ErrTimeout):
		d.Result = DeliveryTimeout
	default:
		d.Result = DeliveryFailure
	}
	r.count(d.Result)
	item.Attempts++
	item.NextAttempt = d.At.Add(n.redelivery(item.Attempts))
	item.LastError = clipText(err.Error(), 512)
	d.Error, d.NextAttempt = item.LastError, item.NextAttempt
	n.remember(d)
	n.log.Warn("webhook delivery failed", "receiver", r.cfg.Name, "notification", item.ID,
		"round", item.Attempts, "result", d.Result, "err", err, "next_attempt", item.NextAttempt)
	if err := n.outbox.UpdateNotification(item); err != nil {
		return false, fmt.Errorf("telemetry: recording the failed delivery of notification %d: %w", item.ID, err)
	}
	return false, nil
}

// redelivery returns the wait after failed round k (k ≥ 1).
func (n *WebhookNotifier) redelivery(k int) time.Duration {
	d := n.cfg.Redelivery
	for i := 1; i < k && d < n.cfg.MaxRedelivery; i++ {
		d *= 2
	}
	return min(d, n.cfg.MaxRedelivery)
}

// WebhookStatusError is the error of a request answered with a non-2xx
// status.
type WebhookStatusError struct {
	StatusCode int
}

func (e *WebhookStatusError) Error() string {
	return fmt.Sprintf("telemetry: webhook answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// post sends one request. 408, 429 and 5xx answers and transport errors
// are worth another attempt; other answers are not, within the round.
func (n *WebhookNotifier) post(ctx context.Context, rc WebhookConfig, item Notification) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rc.URL, bytes.NewReader(item.Payload))
	if err != nil {
		return resilience.Permanent(err)
	}
	for k, v := range rc.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Fusebox-Alerts")
	req.Header.Set("X-Fusebox-Notification", strconv.FormatUint(item.ID, 10))
	if rc.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(rc.Secret, n.clock.Now(), item.Payload))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	serr := &WebhookStatusError{StatusCode: resp.StatusCode}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			return resilience.RetryAfterError(serr, time.Duration(s)*time.Second)
		}
		return serr
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return serr
	}
	return resilience.Permanent(serr)
}

func (n *WebhookNotifier) remember(d Delivery) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.recent) < n.cfg.RecentDeliveries {
		n.recent = append(n.recent, d)
		return
	}
	if len(n.recent) == 0 {
		return
	}
	n.recent[n.next] = d
	n.next = (n.next + 1) % len(n.recent)
}

// Deliveries returns the recent delivery results, newest first.
func (n *WebhookNotifier) Deliveries() []Delivery {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Delivery, 0, len(n.recent))
	out = append(out, n.recent[n.next:]...)
	out = append(out, n.recent[:n.next]...)
	slices.Reverse(out)
	return out
}

// Pending returns the notifications waiting in the outbox, oldest first.
func (n *WebhookNotifier) Pending() ([]Notification, error) {
	return n.outbox.PendingNotifications("")
}

func (n *WebhookNotifier) deliveriesByFingerprint() map[string][]Delivery {
	out := map[string][]Delivery{}
	for _, d := range n.Deliveries() {
		for _, fp := range d.Fingerprints {
			out[fp] = append(out[fp], d)
		}
	}
	return out
}

// Run delivers the outbox until ctx ends, then returns nil: at once (so
// notifications left by a previous run go out), whenever Notify adds some,
// and when the earliest failed one is due again (at least every
// MaxRedelivery). Outbox errors are logged.
func (n *WebhookNotifier) Run(ctx context.Context) error {
	for {
		if err := n.DeliverPending(ctx); err != nil {
			n.log.Error("delivering webhooks", "err", err)
		}
		wait := n.cfg.MaxRedelivery
		if pending, err := n.outbox.PendingNotifications(""); err == nil {
			now := n.clock.Now()
			heads := map[string]bool{}
			for _, p := range pending {
				if heads[p.Receiver] || n.byName[p.Receiver] == nil {
					continue
				}
				heads[p.Receiver] = true
				wait = min(wait, max(p.NextAttempt.Sub(now), 0))
			}
		}
		if wait <= 0 {
			// Something due was not delivered (the outbox failed): wait
			// rather than spin.
			wait = n.cfg.Redelivery
		}
		t := n.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-n.wake:
			t.Stop()
		case <-t.C():
		}
	}
}

// Close closes the idle connections of the notifier's own client. Call it
// after Run has returned.
func (n *WebhookNotifier) Close() error {
	if n.ownClient {
		n.client.CloseIdleConnections()
	}
	return nil
}

// memoryOutbox is the Outbox of a notifier without one: not durable.
type memoryOutbox struct {
	mu    sync.Mutex
	last  uint64
	items []Notification
}

func (o *memoryOutbox) EnqueueNotification(n Notification) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last++
	n.ID = o.last
	n.Payload = slices.Clone(n.Payload)
	o.items = append(o.items, n)
	return n.ID, nil
}

func (o *memoryOutbox) PendingNotifications(receiver string) ([]Notification, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Notification
	for _, n := range o.items {
		if receiver == "" || n.Receiver == receiver {
			out = append(out, n)
		}
	}
	return out, nil
}

func (o *memoryOutbox) UpdateNotification(n Notification) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.items {
		if o.items[i].ID == n.ID {
			o.items[i].Attempts, o.items[i].NextAttempt, o.items[i].LastError = n.Attempts, n.NextAttempt, n.LastError
			return nil
		}
	}
	return fmt.Errorf("telemetry: notification %d not found", n.ID)
}

func (o *memoryOutbox) AckNotification(id uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.items {
		if o.items[i].ID == id {
			o.items = slices.Delete(o.items, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("telemetry: notification %d not found", id)
}
