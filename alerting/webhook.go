package alerting

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

// Notification is one webhook delivery in the outbox. It is written before
// the first attempt and removed after a 2xx, so a receiver that is down, or
// a restart in between, loses nothing.
type Notification struct {
	// ID is assigned by the outbox: unique, never reused, and increasing
	// in enqueue order across all receivers.
	ID uint64 `json:"id"`
	// Receiver names the configured receiver; required.
	Receiver string `json:"receiver"`
	// Group is the payload's groupKey: the notifications of one group are
	// delivered to a receiver in order, other groups independently. Empty
	// is a group of its own.
	Group string `json:"group,omitempty"`
	// Payload is the exact request body; required.
	Payload []byte `json:"payload"`
	// CreatedAt is when it was enqueued; required.
	CreatedAt time.Time `json:"created_at"`
	// Attempts counts the delivery rounds tried (each of up to
	// WebhookNotifierConfig.Attempts requests).
	Attempts int `json:"attempts,omitempty"`
	// NextAttempt is when the next round is due; zero means now.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// LastError describes the last failed round.
	LastError string `json:"last_error,omitempty"`
}

// Outbox is the durable queue of notifications; *store.Store is one.
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

// Delivery is the result of one delivery round of a notification.
type Delivery struct {
	ID       uint64    `json:"id"`
	Receiver string    `json:"receiver"`
	At       time.Time `json:"at"`
	// Status is the payload's status ("firing", "resolved");
	// Fingerprints are its alerts'. In the deliveries of an alert
	// (Alert.Deliveries), Status is the status the payload gave that alert:
	// a group's payload may say "firing" while one of its alerts resolved.
	Status       AlertState `json:"status"`
	Fingerprints []string   `json:"fingerprints"`
	// statuses are the alerts' own, by Fingerprints index.
	statuses []AlertState
	// Result is how the round ended.
	Result DeliveryResult `json:"result"`
	// Round counts the rounds of this notification, from 1; Requests the
	// HTTP requests of this round.
	Round    int    `json:"round"`
	Requests int    `json:"requests"`
	Error    string `json:"error,omitempty"`
	// NextAttempt is when a failed notification is tried again; zero
	// when it is not (null in JSON).
	NextAttempt time.Time `json:"next_attempt"`
}

// MarshalJSON writes d as the JSON API shows it: times in UTC, no
// fingerprints as [], and next_attempt null when no round is due.
func (d Delivery) MarshalJSON() ([]byte, error) {
	type fields Delivery // without this method
	d.At = d.At.UTC()
	if d.Fingerprints == nil {
		d.Fingerprints = []string{}
	}
	var next *time.Time
	if !d.NextAttempt.IsZero() {
		t := d.NextAttempt.UTC()
		next = &t
	}
	return json.Marshal(struct {
		fields
		NextAttempt *time.Time `json:"next_attempt"`
	}{fields(d), next})
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
	// of the last 10 rounds (at least 5) for 3 s, then lets one round
	// through as a probe: a notification the open breaker refuses waits
	// for that probe (its round does not count), so a receiver that
	// answers again hears within seconds.
	Breaker resilience.BreakerConfig
	// Redelivery is the wait after the first failed round; it doubles with
	// each failed round up to MaxRedelivery. Zero means 10 s and 5 min.
	Redelivery, MaxRedelivery time.Duration
	// ExternalURL is the dashboard's base URL, the externalURL of payloads.
	ExternalURL string
	// Log remembers what each receiver was last told of each alert group,
	// for Sync. Nil keeps it in memory, so after a restart every receiver
	// is told again what fires (and never hears of what resolved).
	Log NotificationLog
	// RepeatInterval is how long Sync waits before it notifies a receiver
	// again of a group whose firing alerts have not changed. Zero means
	// DefaultRepeatInterval.
	RepeatInterval time.Duration
	// GroupsInFlight bounds the groups delivered at once to one receiver.
	// Zero means 4.
	GroupsInFlight int
	// RecentDeliveries is how many delivery results are kept for listing.
	// Zero means 500.
	RecentDeliveries int
	// Logger reports failed deliveries. Nil discards.
	Logger *slog.Logger
}

// DefaultRepeatInterval is how often a receiver is reminded of a group
// that keeps firing unchanged, as Alertmanager's repeat_interval.
const DefaultRepeatInterval = 4 * time.Hour

// NotifiedGroup is what a receiver was last told of an alert group: the
// fingerprints it was told are firing, and when.
type NotifiedGroup struct {
	// Receiver and Group (the payload's groupKey) identify the record;
	// both required.
	Receiver string `json:"receiver"`
	Group    string `json:"group"`
	// Firing lists the fingerprints last notified as firing, sorted.
	Firing []string `json:"firing,omitempty"`
	// At is when the receiver was last notified of the group.
	At time.Time `json:"at"`
}

// NotificationLog persists what each receiver was last told of each alert
// group (Alertmanager's notification log); *store.Store is one.
type NotificationLog interface {
	PutNotifiedGroup(g NotifiedGroup) error
	DeleteNotifiedGroup(receiver, group string) error
	NotifiedGroups() ([]NotifiedGroup, error)
}

// WebhookNotifier sends alert notifications to webhook receivers in the
// Alertmanager webhook format, grouped as Alertmanager groups them (by
// alertname and the slo label, or else the pipeline label): a payload
// carries every alert of its group that fires, and those that resolved
// since the receiver was last told, with one status for the group.
// Delivery is at least once: each notification is written to the outbox
// before the first attempt and removed only after a 2xx answer, so a
// receiver that is down, or a restart, loses nothing; receivers
// deduplicate on the alert's fingerprint and status. Each receiver has its
// own pipeline "webhook:<name>" (breaker ► retry with backoff ► per-attempt
// timeout). A receiver's notifications of one group are delivered in
// order, a notification waiting until the ones before it are delivered;
// other groups proceed independently, and when a receiver answers again
// after failures, its waiting notifications are retried at once.
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
	nlog      NotificationLog

	mu     sync.Mutex
	recent []Delivery // ring, oldest first once full
	next   int

	// syncMu serialises Sync; notified is the notification log in memory,
	// by receiver and group.
	syncMu   sync.Mutex
	notified map[string]map[string]NotifiedGroup
}

type receiver struct {
	cfg      WebhookConfig
	pipeline *resilience.Pipeline
	counts   [numDeliveryResults]atomic.Uint64

	// mu guards the delivery state: the groups being delivered, and
	// whether the receiver failed its last round (down).
	mu       sync.Mutex
	inFlight map[string]bool
	down     bool
}

// NewWebhookNotifier returns a notifier for cfg.Receivers, or an error
// naming the invalid field ("Receivers[1].url: …") or the pipeline that
// could not be built (an observer already bound to "webhook:<name>").
func NewWebhookNotifier(cfg WebhookNotifierConfig) (*WebhookNotifier, error) {
	n := &WebhookNotifier{cfg: cfg, clock: cfg.Clock, client: cfg.Client, outbox: cfg.Outbox, log: cfg.Logger,
		byName: map[string]*receiver{}, wake: make(chan struct{}, 1), nlog: cfg.Log,
		notified: map[string]map[string]NotifiedGroup{}}
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
		n.cfg.Breaker = resilience.BreakerConfig{WindowSize: 10, MinimumCalls: 5, FailureRateThreshold: 0.5,
			OpenDuration: 3 * time.Second, HalfOpenProbes: 1}
	}
	if n.cfg.RepeatInterval == 0 {
		n.cfg.RepeatInterval = DefaultRepeatInterval
	}
	if n.cfg.GroupsInFlight == 0 {
		n.cfg.GroupsInFlight = 4
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
		return nil, fmt.Errorf("alerting: invalid WebhookNotifierConfig.Redelivery = %v: must be positive", cfg.Redelivery)
	case n.cfg.MaxRedelivery < n.cfg.Redelivery:
		return nil, fmt.Errorf("alerting: invalid WebhookNotifierConfig.MaxRedelivery = %v: must not be below Redelivery (%v)", cfg.MaxRedelivery, n.cfg.Redelivery)
	case n.cfg.RecentDeliveries < 0:
		return nil, fmt.Errorf("alerting: invalid WebhookNotifierConfig.RecentDeliveries = %d: must be positive", cfg.RecentDeliveries)
	case n.cfg.RepeatInterval < 0:
		return nil, fmt.Errorf("alerting: invalid WebhookNotifierConfig.RepeatInterval = %v: must be positive", cfg.RepeatInterval)
	case n.cfg.GroupsInFlight < 0:
		return nil, fmt.Errorf("alerting: invalid WebhookNotifierConfig.GroupsInFlight = %d: must be positive", cfg.GroupsInFlight)
	}
	if n.nlog != nil {
		gs, err := n.nlog.NotifiedGroups()
		if err != nil {
			return nil, fmt.Errorf("alerting: loading the notification log: %w", err)
		}
		for _, g := range gs {
			n.remembered(g.Receiver)[g.Group] = g
		}
	}
	for i, rc := range cfg.Receivers {
		if err := rc.Validate(); err != nil {
			return nil, fmt.Errorf("alerting: invalid WebhookNotifierConfig.Receivers[%d]: %w", i, err)
		}
		if n.byName[rc.Name] != nil {
			return nil, fmt.Errorf("alerting: invalid WebhookNotifierConfig.Receivers[%d].name = %q: duplicate receiver name", i, rc.Name)
		}
		if rc.Timeout == 0 {
			rc.Timeout = DefaultWebhookTimeout
		}
		p, err := n.pipeline(rc)
		if err != nil {
			return nil, fmt.Errorf("alerting: receiver %q: %w", rc.Name, err)
		}
		r := &receiver{cfg: rc, pipeline: p, inFlight: map[string]bool{}}
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

// DeliveryCount is how many delivery rounds to a receiver had a result
// (DeliverySuccess, DeliveryFailure, DeliveryTimeout, DeliveryRejected or
// DeliveryDropped).
type DeliveryCount struct {
	Receiver string
	Result   DeliveryResult
	Count    uint64
}

// DeliveryCounts returns the delivery rounds of each receiver by result,
// since the notifier started: receivers in configuration order, every
// result of each, at 0 when none had it.
func (n *WebhookNotifier) DeliveryCounts() []DeliveryCount {
	out := make([]DeliveryCount, 0, len(n.receivers)*int(numDeliveryResults))
	for _, r := range n.receivers {
		for res := range numDeliveryResults {
			out = append(out, DeliveryCount{Receiver: r.cfg.Name, Result: res, Count: r.counts[res].Load()})
		}
	}
	return out
}

// GroupLabels returns the labels an alert is grouped by: alertname, and
// its slo label or, without one, its pipeline label.
func GroupLabels(labels map[string]string) map[string]string {
	group := map[string]string{"alertname": labels["alertname"]}
	for _, k := range []string{"slo", "pipeline"} {
		if v, ok := labels[k]; ok {
			group[k] = v
			break
		}
	}
	return group
}

// GroupKey returns the groupKey of the group of an alert with labels.
func GroupKey(labels map[string]string) string { return groupKey(GroupLabels(labels)) }

// Payload returns the Alertmanager webhook body (version "4") that
// notifies receiver of alerts, which belong to one group (that of the
// first): its status is "firing" when one of them fires, else
// "resolved"; each alert carries its own status; commonLabels and
// commonAnnotations are those all the alerts share.
func (n *WebhookNotifier) Payload(receiver string, alerts []AlertRecord) ([]byte, error) {
	if len(alerts) == 0 {
		return nil, errors.New("alerting: a payload needs at least one alert")
	}
	group := GroupLabels(nonNil(alerts[0].Labels))
	p := AlertmanagerPayload{
		Version: "4", GroupKey: groupKey(group), Status: AlertResolved.String(), Receiver: receiver,
		GroupLabels: group, ExternalURL: strings.TrimRight(n.cfg.ExternalURL, "/"),
	}
	sorted := slices.Clone(alerts)
	slices.SortFunc(sorted, func(a, b AlertRecord) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	for i, r := range sorted {
		status := AlertResolved.String()
		endsAt := r.EndsAt.UTC()
		if r.State == AlertFiring {
			status, endsAt = AlertFiring.String(), time.Time{}
			p.Status = status
		}
		labels, ann := nonNil(r.Labels), nonNil(r.Annotations)
		p.Alerts = append(p.Alerts, AlertmanagerAlert{
			Status: status, Labels: labels, Annotations: ann,
			StartsAt: r.StartsAt.UTC(), EndsAt: endsAt, GeneratorURL: r.GeneratorURL, Fingerprint: r.Fingerprint,
		})
		if i == 0 {
			p.CommonLabels, p.CommonAnnotations = maps.Clone(labels), maps.Clone(ann)
			continue
		}
		maps.DeleteFunc(p.CommonLabels, func(k, v string) bool { w, ok := labels[k]; return !ok || w != v })
		maps.DeleteFunc(p.CommonAnnotations, func(k, v string) bool { w, ok := ann[k]; return !ok || w != v })
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

// Notify writes, for every receiver, one notification per group of
// alerts (in the order the groups first appear) to the outbox, durably,
// and wakes Run to deliver them. It sends what it is given, whatever the
// receivers were told before; Sync decides what to send. A notification
// the outbox refuses is counted as dropped and reported in the joined
// error.
func (n *WebhookNotifier) Notify(alerts []AlertRecord) error {
	var order []string
	groups := map[string][]AlertRecord{}
	for _, a := range alerts {
		k := GroupKey(nonNil(a.Labels))
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], a)
	}
	var errs []error
	for _, k := range order {
		for _, r := range n.receivers {
			errs = append(errs, n.enqueue(r, k, groups[k]))
		}
	}
	n.poke()
	return errors.Join(errs...)
}

// enqueue writes the notification of alerts, of group key, for r.
func (n *WebhookNotifier) enqueue(r *receiver, key string, alerts []AlertRecord) error {
	body, err := n.Payload(r.cfg.Name, alerts)
	if err == nil {
		_, err = n.outbox.EnqueueNotification(Notification{Receiver: r.cfg.Name, Group: key, Payload: body, CreatedAt: n.clock.Now()})
	}
	if err != nil {
		r.count(DeliveryDropped)
		return fmt.Errorf("alerting: queueing alert group %s for receiver %q: %w", key, r.cfg.Name, err)
	}
	return nil
}

// poke wakes Run.
func (n *WebhookNotifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *WebhookNotifier) remembered(receiver string) map[string]NotifiedGroup {
	m := n.notified[receiver]
	if m == nil {
		m = map[string]NotifiedGroup{}
		n.notified[receiver] = m
	}
	return m
}

// Sync brings every receiver up to date with alerts, the alerts of
// Fusebox as they stand at now (firing, pending or resolved), as
// Alertmanager's dedup stage does with its notification log. For each
// receiver and alert group it notifies when an alert of the group fires
// that the receiver was not told of (a receiver added since, at a
// restart, is told of every firing alert), when an alert it was told is
// firing no longer fires (the payload lists it as resolved beside the
// group's firing alerts), and every RepeatInterval while the group fires
// unchanged. A receiver is never told that an alert resolved unless it
// was told that it fired. What each receiver was told is kept in the
// notification log, after the notification is in the outbox (a crash in
// between sends it again rather than never). Outbox and log errors are
// returned joined; the notification is then tried again at the next Sync.
func (n *WebhookNotifier) Sync(alerts []AlertRecord, now time.Time) error {
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	byFP := map[string]AlertRecord{}
	firing := map[string][]AlertRecord{} // by group key
	for _, a := range alerts {
		if a.Source != SourceUnknown && a.Source != SourceFusebox {
			continue
		}
		byFP[a.Fingerprint] = a
		if a.State == AlertFiring {
			k := GroupKey(nonNil(a.Labels))
			firing[k] = append(firing[k], a)
		}
	}
	var errs []error
	sent := false
	for _, r := range n.receivers {
		told := n.remembered(r.cfg.Name)
		keys := slices.Sorted(maps.Keys(firing))
		for k := range told {
			if _, ok := firing[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			fire := firing[k]
			fps := make([]string, len(fire))
			for i, a := range fire {
				fps[i] = a.Fingerprint
			}
			slices.Sort(fps)
			prev, known := told[k]
			var resolved []AlertRecord
			for _, fp := range prev.Firing {
				if slices.Contains(fps, fp) {
					continue
				}
				if a, ok := byFP[fp]; ok {
					if a.EndsAt.IsZero() {
						a.EndsAt = now
					}
					a.State = AlertResolved
					resolved = append(resolved, a)
				}
			}
			send := false
			switch {
			case len(fps) > 0 && (!known || !isSubset(fps, prev.Firing)):
				send = true // something fires that the receiver was not told of
			case len(resolved) > 0:
				send = true
			case len(fps) > 0 && now.Sub(prev.At) >= n.cfg.RepeatInterval:
				send = true
			}
			if !send {
				if known && len(fps) == 0 {
					// Told of alerts that are gone without a record: forget.
					errs = append(errs, n.forget(r.cfg.Name, k))
				}
				continue
			}
			if err := n.enqueue(r, k, append(slices.Clone(fire), resolved...)); err != nil {
				errs = append(errs, err)
				continue
			}
			sent = true
			if len(fps) == 0 {
				errs = append(errs, n.forget(r.cfg.Name, k))
				continue
			}
			g := NotifiedGroup{Receiver: r.cfg.Name, Group: k, Firing: fps, At: now}
			told[k] = g
			if n.nlog != nil {
				if err := n.nlog.PutNotifiedGroup(g); err != nil {
					errs = append(errs, fmt.Errorf("alerting: recording the notification of %s to %q: %w", k, r.cfg.Name, err))
				}
			}
		}
	}
	if sent {
		n.poke()
	}
	return errors.Join(errs...)
}

// forget drops the log record of receiver and group.
func (n *WebhookNotifier) forget(receiver, group string) error {
	delete(n.remembered(receiver), group)
	if n.nlog == nil {
		return nil
	}
	if err := n.nlog.DeleteNotifiedGroup(receiver, group); err != nil {
		return fmt.Errorf("alerting: forgetting the notification of %s to %q: %w", group, receiver, err)
	}
	return nil
}

// isSubset reports whether every element of a (sorted) is in b (sorted).
func isSubset(a, b []string) bool {
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			return false
		}
	}
	return true
}

func (r *receiver) count(result DeliveryResult) {
	r.counts[result].Add(1)
}

// DeliverPending makes one pass over the outbox and waits for it: for
// each receiver and each alert group whose oldest notification is due, it
// delivers the group's due notifications in order, stopping at the first
// that fails; groups and receivers proceed in parallel (at most
// GroupsInFlight groups at once per receiver). A failed round is recorded
// in the outbox (Attempts, NextAttempt, LastError); a delivered
// notification is removed. Run makes such passes without waiting; tests
// may call it directly. It returns the outbox errors.
func (n *WebhookNotifier) DeliverPending(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	_, _, err := n.dispatch(ctx, &wg, func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	})
	wg.Wait()
	return errors.Join(append(errs, err)...)
}

// queue is the pending notifications of one group of a receiver.
type queue struct {
	r     *receiver
	group string
	items []Notification
}

// queues reads the outbox into the queues of the configured receivers, in
// the order of their oldest notification.
func (n *WebhookNotifier) queues() ([]*queue, error) {
	pending, err := n.outbox.PendingNotifications("")
	if err != nil {
		return nil, fmt.Errorf("alerting: reading the outbox: %w", err)
	}
	var out []*queue
	byKey := map[[2]string]*queue{}
	for _, p := range pending {
		r := n.byName[p.Receiver]
		if r == nil {
			continue
		}
		g := notificationGroup(p)
		q := byKey[[2]string{p.Receiver, g}]
		if q == nil {
			q = &queue{r: r, group: g}
			byKey[[2]string{p.Receiver, g}] = q
			out = append(out, q)
		}
		q.items = append(q.items, p)
	}
	return out, nil
}

// notificationGroup returns the group of a notification, reading it from
// the payload for one queued before notifications had a group.
func notificationGroup(p Notification) string {
	if p.Group != "" {
		return p.Group
	}
	var body struct {
		GroupKey string `json:"groupKey"`
	}
	if json.Unmarshal(p.Payload, &body) == nil && body.GroupKey != "" {
		return body.GroupKey
	}
	return "#" + strconv.FormatUint(p.ID, 10) // a group of its own
}

// dispatch starts, on wg, the delivery of every group whose oldest
// notification is due and that is not being delivered already; report
// receives the errors of those deliveries. It returns how many deliveries
// it started and when the earliest group that it left waiting is due (zero
// when none is).
func (n *WebhookNotifier) dispatch(ctx context.Context, wg *sync.WaitGroup, report func(error)) (started int, next time.Time, err error) {
	qs, err := n.queues()
	if err != nil {
		return 0, time.Time{}, err
	}
	now := n.clock.Now()
	for _, q := range qs {
		head := q.items[0]
		if head.NextAttempt.After(now) {
			if next.IsZero() || head.NextAttempt.Before(next) {
				next = head.NextAttempt
			}
			continue
		}
		if !q.r.claim(q.group, n.cfg.GroupsInFlight) {
			continue // under way, or too many under way: its end wakes Run
		}
		started++
		wg.Go(func() {
			defer n.poke()
			defer q.r.release(q.group)
			if err := n.deliverQueue(ctx, q.r, q.items); err != nil {
				report(err)
			}
		})
	}
	return started, next, nil
}

// claim marks group as being delivered, unless it is already or limit
// groups are.
func (r *receiver) claim(group string, limit int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight[group] || len(r.inFlight) >= limit {
		return false
	}
	r.inFlight[group] = true
	return true
}

func (r *receiver) release(group string) {
	r.mu.Lock()
	delete(r.inFlight, group)
	r.mu.Unlock()
}

// setDown records whether the receiver failed its last round and reports
// whether it was down before.
func (r *receiver) setDown(down bool) (was bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	was, r.down = r.down, down
	return was
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
		d.Status = statusState(p.Status)
		for _, a := range p.Alerts {
			d.Fingerprints = append(d.Fingerprints, a.Fingerprint)
			d.statuses = append(d.statuses, statusState(a.Status))
		}
	}
	if err == nil {
		d.Result = DeliverySuccess
		r.count(d.Result)
		n.remember(d)
		if err := n.outbox.AckNotification(item.ID); err != nil {
			return false, fmt.Errorf("alerting: removing delivered notification %d: %w", item.ID, err)
		}
		if r.setDown(false) {
			return true, n.retryNow(r, item.ID)
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
	if d.Result == DeliveryRejected {
		// Refused here, not by the receiver: the round does not count, and
		// the notification waits for the breaker's next probe.
		item.NextAttempt = d.At.Add(time.Second)
		if m := r.pipeline.Breaker().Metrics(); m.OpenUntil.After(d.At) {
			item.NextAttempt = m.OpenUntil
		}
	} else {
		item.Attempts++
		item.NextAttempt = d.At.Add(n.redelivery(item.Attempts))
		var hint interface{ RetryAfter() time.Duration }
		if errors.As(err, &hint) && d.At.Add(hint.RetryAfter()).After(item.NextAttempt) {
			item.NextAttempt = d.At.Add(hint.RetryAfter()) // as the receiver asked
		}
	}
	if !payloadRefused(err) {
		r.setDown(true)
	}
	item.LastError = clipText(err.Error(), 512)
	d.Error, d.NextAttempt = item.LastError, item.NextAttempt
	n.remember(d)
	level := slog.LevelWarn
	if d.Result == DeliveryRejected {
		level = slog.LevelDebug // the breaker's refusals come every few seconds while a receiver is down
	}
	n.log.Log(ctx, level, "webhook delivery failed", "receiver", r.cfg.Name, "notification", item.ID,
		"round", d.Round, "result", d.Result, "err", err, "next_attempt", item.NextAttempt)
	if err := n.outbox.UpdateNotification(item); err != nil {
		return false, fmt.Errorf("alerting: recording the failed delivery of notification %d: %w", item.ID, err)
	}
	return false, nil
}

// payloadRefused reports whether err is the receiver refusing this
// notification (a 4xx other than 408 and 429) rather than failing to
// answer: the receiver is up.
func payloadRefused(err error) bool {
	var se *WebhookStatusError
	return errors.As(err, &se) && se.StatusCode >= 400 && se.StatusCode < 500 &&
		se.StatusCode != http.StatusRequestTimeout && se.StatusCode != http.StatusTooManyRequests
}

// retryNow makes every waiting notification of r due at once: r answered
// again after failures.
func (n *WebhookNotifier) retryNow(r *receiver, except uint64) error {
	pending, err := n.outbox.PendingNotifications(r.cfg.Name)
	if err != nil {
		return fmt.Errorf("alerting: reading the outbox: %w", err)
	}
	var errs []error
	for _, p := range pending {
		if p.ID == except || p.NextAttempt.IsZero() {
			continue
		}
		p.NextAttempt = time.Time{}
		if err := n.outbox.UpdateNotification(p); err != nil {
			errs = append(errs, fmt.Errorf("alerting: rescheduling notification %d: %w", p.ID, err))
		}
	}
	n.log.Info("webhook receiver answers again; retrying its waiting notifications", "receiver", r.cfg.Name, "waiting", len(pending)-1)
	return errors.Join(errs...)
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
	return fmt.Sprintf("alerting: webhook answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
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
		for i, fp := range d.Fingerprints {
			ad := d
			if i < len(d.statuses) {
				ad.Status = d.statuses[i]
			}
			out[fp] = append(out[fp], ad)
		}
	}
	return out
}

// Run delivers the outbox until ctx ends, then waits for the deliveries
// under way and returns nil: at once (so notifications left by a previous
// run go out), whenever Notify or Sync adds some or a delivery ends, and
// when the earliest waiting group is due again (at least every
// MaxRedelivery). A slow or failing group never holds up another. Outbox
// errors are logged.
func (n *WebhookNotifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	logErr := func(err error) { n.log.Error("delivering webhooks", "err", err) }
	for {
		_, next, err := n.dispatch(ctx, &wg, logErr)
		wait := n.cfg.MaxRedelivery
		switch {
		case err != nil:
			logErr(err)
			wait = n.cfg.Redelivery // wait rather than spin
		case !next.IsZero():
			wait = min(wait, max(next.Sub(n.clock.Now()), time.Millisecond))
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
	return fmt.Errorf("alerting: notification %d not found", n.ID)
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
	return fmt.Errorf("alerting: notification %d not found", id)
}
