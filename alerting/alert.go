package alerting

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// The names (alertname label) of the alerts the AlertManager raises.
const (
	// AlertErrorBudgetBurn: an SLO burns its error budget too fast over
	// both windows of a BurnRateAlert row.
	AlertErrorBudgetBurn = "ErrorBudgetBurn"
	// AlertBreakerOpen: a breaker has been open or half-open, without
	// closing, for AlertManagerConfig.BreakerOpenFor.
	AlertBreakerOpen = "BreakerOpen"
	// AlertBreakerForcedOpen: an operator forced a breaker open.
	AlertBreakerForcedOpen = "BreakerForcedOpen"
)

// Default AlertManager settings.
const (
	DefaultEvaluationInterval = 5 * time.Second
	DefaultBreakerOpenFor     = time.Minute
	DefaultResolveHold        = 5 * time.Minute
	DefaultResolvedRetention  = 24 * time.Hour
	DefaultMaxExternalAlerts  = 1000
)

// BurnRateAlert is one row of the multiwindow, multi-burn-rate alerts of
// the SRE Workbook: it fires when the burn rate exceeds Factor over both
// the Long and the Short window.
type BurnRateAlert struct {
	Severity    string
	Long, Short BurnWindow
	Factor      float64
}

// BurnRateAlerts returns the rows the AlertManager evaluates for every SLO:
// page at 14.4× over 1h and 5m, page at 6× over 6h and 30m, ticket at 3×
// over 1d and 2h, ticket at 1× over 3d and 6h.
func BurnRateAlerts() []BurnRateAlert {
	w := BurnWindows() // 5m 30m 1h 2h 6h 1d 3d
	return []BurnRateAlert{
		{Severity: "page", Long: w[2], Short: w[0], Factor: 14.4},
		{Severity: "page", Long: w[4], Short: w[1], Factor: 6},
		{Severity: "ticket", Long: w[5], Short: w[3], Factor: 3},
		{Severity: "ticket", Long: w[6], Short: w[4], Factor: 1},
	}
}

// AlertRecord is the state of one alert, as persisted (package store keeps
// it as this JSON, keyed by Fingerprint).
type AlertRecord struct {
	// Fingerprint identifies the alert: a hash of its labels, computed as
	// Alertmanager does.
	Fingerprint string `json:"fingerprint"`
	// Name is the alertname label; Severity the severity label.
	Name     string `json:"name,omitempty"`
	Severity string `json:"severity,omitempty"`
	// Labels identify the alert; Annotations describe it.
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// State is AlertPending, AlertFiring or AlertResolved.
	State AlertState `json:"state,omitempty"`
	// ActiveAt is when the condition was first seen.
	ActiveAt time.Time `json:"active_at,omitzero"`
	// StartsAt is when it last started firing; EndsAt when it last resolved
	// (kept while a resolved alert is pending again).
	StartsAt time.Time `json:"starts_at,omitzero"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	// Source is SourceFusebox or SourceAlertmanager.
	Source AlertSource `json:"source,omitempty"`
	// GeneratorURL links to what raised it.
	GeneratorURL string `json:"generator_url,omitempty"`
	// History lists its transitions, oldest first, at most MaxAlertHistory.
	History []AlertTransition `json:"history,omitempty"`
}

// AlertTransition is one change of an alert's state.
type AlertTransition struct {
	At     time.Time  `json:"at"`
	From   AlertState `json:"from,omitempty"`
	To     AlertState `json:"to"`
	Detail string     `json:"detail,omitempty"`
}

// MaxAlertHistory is how many transitions an alert keeps.
const MaxAlertHistory = 50

// AlertStore persists alert state; *store.Store is one.
type AlertStore interface {
	// PutAlert stores r, replacing the record with the same fingerprint.
	PutAlert(r AlertRecord) error
	// Alerts returns every stored alert.
	Alerts() ([]AlertRecord, error)
	// DeleteAlert removes an alert; a missing one is not an error.
	DeleteAlert(fingerprint string) error
}

// BreakerStatus is the state of a pipeline's breaker.
type BreakerStatus struct {
	Pipeline string
	State    resilience.State
	// Override is set while the breaker is forced.
	Override *resilience.BreakerOverride
	// Judged reports whether the breaker has judged calls since the
	// process started: it changed state, or its window holds at least its
	// minimum number of calls. Until then its state says nothing of the
	// dependency, and a BreakerOpen alert carried over a restart stays
	// firing.
	Judged bool
}

// BreakerReader lists the breakers the AlertManager watches. It must be
// safe for concurrent use.
type BreakerReader interface {
	BreakerStates() []BreakerStatus
}

// BreakerReaderFunc adapts a function to the BreakerReader interface.
type BreakerReaderFunc func() []BreakerStatus

// BreakerStates calls f().
func (f BreakerReaderFunc) BreakerStates() []BreakerStatus { return f() }

// RegistryBreakers returns a BreakerReader of the breakers of the pipelines
// r holds (Breaker.Metrics, which makes the transitions that are due).
func RegistryBreakers(r *resilience.Registry) BreakerReader {
	return BreakerReaderFunc(func() []BreakerStatus {
		var out []BreakerStatus
		for _, p := range r.List() {
			if b := p.Breaker(); b != nil {
				m := b.Metrics()
				judged := m.Generation > 0 || m.Calls >= int64(b.Config().MinimumCalls)
				out = append(out, BreakerStatus{Pipeline: p.Name(), State: m.State, Override: m.Override, Judged: judged})
			}
		}
		return out
	})
}

// AlertManagerConfig configures an AlertManager. The zero value raises no
// alert but accepts Alertmanager's.
type AlertManagerConfig struct {
	// SLOs are the SLOs whose burn rates are watched (BurnRateAlerts). Nil
	// raises no burn-rate alert.
	SLOs *SLOEngine
	// Breakers are the breakers watched for AlertBreakerOpen and
	// AlertBreakerForcedOpen. Nil raises no breaker alert.
	Breakers BreakerReader
	// Store persists alert state; at construction the stored alerts are
	// loaded. Nil keeps them in memory only.
	Store AlertStore
	// Notifier sends firing and resolved alerts to webhooks, grouped (see
	// WebhookNotifier.Sync), after each evaluation. Nil sends none.
	Notifier *WebhookNotifier
	// Clock drives Run and stamps alerts. Nil means resilience.SystemClock().
	Clock resilience.Clock
	// EvaluationInterval is the period of Run. Zero means
	// DefaultEvaluationInterval.
	EvaluationInterval time.Duration
	// BreakerOpenFor is how long a breaker stays away from closed (open or
	// half-open) before AlertBreakerOpen fires; it is pending until then.
	// Zero means DefaultBreakerOpenFor.
	BreakerOpenFor time.Duration
	// BreakerOpenSeverity is the severity of AlertBreakerOpen. Empty means
	// "ticket".
	BreakerOpenSeverity string
	// ResolveHold is how long a resolved alert stays resolved before it may
	// fire again, so a flapping condition does not flood receivers. Zero
	// means DefaultResolveHold; negative means no hold.
	ResolveHold time.Duration
	// ResolvedRetention is how long a resolved alert is listed before it is
	// forgotten. Zero means DefaultResolvedRetention.
	ResolvedRetention time.Duration
	// MaxExternalAlerts caps the alerts received from Alertmanager that are
	// kept. Zero means DefaultMaxExternalAlerts.
	MaxExternalAlerts int
	// ExternalURL is the dashboard's base URL ("http://host:8080"), for the
	// generatorURL of alerts. Empty leaves links relative.
	ExternalURL string
	// Logger reports failed evaluations in Run. Nil discards.
	Logger *slog.Logger
}

// AlertManager evaluates alert rules, keeps the lifecycle of alerts
// (pending → firing → resolved) with stable fingerprints, persists it, and
// hands firing and resolved alerts to the webhook notifier. It also merges
// alerts received from Alertmanager. It is safe for concurrent use.
type AlertManager struct {
	cfg   AlertManagerConfig
	clock resilience.Clock
	log   *slog.Logger

	// evalMu serialises the changes (Evaluate, ReceiveAlertmanager) with
	// their writes to the store and the outbox.
	evalMu sync.Mutex
	mu     sync.RWMutex
	alerts map[string]*AlertRecord
	// carried holds the alerts that were firing when the manager was made
	// and whose condition has not been seen since: they resolve only on
	// fresh evidence (see evidence).
	carried map[string]bool
}

// NewAlertManager returns an alert manager holding the alerts of cfg.Store.
// It fails with an error naming an invalid field, or when the store cannot
// be read.
func NewAlertManager(cfg AlertManagerConfig) (*AlertManager, error) {
	if cfg.EvaluationInterval == 0 {
		cfg.EvaluationInterval = DefaultEvaluationInterval
	}
	if cfg.BreakerOpenFor == 0 {
		cfg.BreakerOpenFor = DefaultBreakerOpenFor
	}
	if cfg.BreakerOpenSeverity == "" {
		cfg.BreakerOpenSeverity = "ticket"
	}
	if cfg.ResolveHold == 0 {
		cfg.ResolveHold = DefaultResolveHold
	}
	if cfg.ResolveHold < 0 {
		cfg.ResolveHold = 0
	}
	if cfg.ResolvedRetention == 0 {
		cfg.ResolvedRetention = DefaultResolvedRetention
	}
	if cfg.MaxExternalAlerts == 0 {
		cfg.MaxExternalAlerts = DefaultMaxExternalAlerts
	}
	switch {
	case cfg.EvaluationInterval < 0:
		return nil, fmt.Errorf("alerting: invalid AlertManagerConfig.EvaluationInterval = %v: must be positive", cfg.EvaluationInterval)
	case cfg.BreakerOpenFor < 0:
		return nil, fmt.Errorf("alerting: invalid AlertManagerConfig.BreakerOpenFor = %v: must be positive", cfg.BreakerOpenFor)
	case cfg.ResolvedRetention < 0:
		return nil, fmt.Errorf("alerting: invalid AlertManagerConfig.ResolvedRetention = %v: must be positive", cfg.ResolvedRetention)
	case cfg.MaxExternalAlerts < 0:
		return nil, fmt.Errorf("alerting: invalid AlertManagerConfig.MaxExternalAlerts = %d: must be positive", cfg.MaxExternalAlerts)
	}
	m := &AlertManager{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, alerts: map[string]*AlertRecord{}, carried: map[string]bool{}}
	if m.clock == nil {
		m.clock = resilience.SystemClock()
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.cfg.ExternalURL = strings.TrimRight(cfg.ExternalURL, "/")
	if cfg.Store != nil {
		recs, err := cfg.Store.Alerts()
		if err != nil {
			return nil, fmt.Errorf("alerting: loading alerts: %w", err)
		}
		for _, r := range recs {
			if r.Fingerprint == "" {
				continue
			}
			m.alerts[r.Fingerprint] = &r
			if r.State == AlertFiring && r.Source == SourceFusebox {
				m.carried[r.Fingerprint] = true
			}
		}
	}
	return m, nil
}

// Fingerprint returns the fingerprint of a label set as Alertmanager
// computes it: FNV-1a 64 over the labels sorted by name, each name and
// value followed by a 0xff byte, as 16 hex digits.
func Fingerprint(labels map[string]string) string {
	h := fnv.New64a()
	sep := []byte{0xff}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		h.Write([]byte(k))
		h.Write(sep)
		h.Write([]byte(labels[k]))
		h.Write(sep)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// candidate is an alert whose condition holds at an evaluation.
type candidate struct {
	labels, annotations map[string]string
	wait                time.Duration // how long it stays pending
	url                 string
	detail              string
}

// conditions returns the alerts whose conditions hold now, by fingerprint.
func (m *AlertManager) conditions() map[string]candidate {
	out := map[string]candidate{}
	add := func(c candidate) { out[Fingerprint(c.labels)] = c }
	if m.cfg.SLOs != nil {
		for _, st := range m.cfg.SLOs.Statuses(false) {
			for _, row := range BurnRateAlerts() {
				long, short := st.Burn(row.Long.Name), st.Burn(row.Short.Name)
				if !(long > row.Factor && short > row.Factor) {
					continue
				}
				add(candidate{
					labels: map[string]string{
						"alertname": AlertErrorBudgetBurn, "severity": row.Severity, "slo": st.Name,
						"pipeline": st.Pipeline, "long_window": row.Long.Name, "short_window": row.Short.Name,
					},
					annotations: map[string]string{
						"summary": fmt.Sprintf("SLO %s is burning its error budget %s× too fast", st.Name, fmtBurn(long)),
						"description": fmt.Sprintf("Burn rate %s× over %s and %s× over %s, above %s× (objective %s%% over %s); %s%% of the error budget remains.",
							fmtBurn(long), row.Long.Name, fmtBurn(short), row.Short.Name, fmtBurn(row.Factor),
							strconv.FormatFloat(st.Objective, 'f', -1, 64), fmtSLOPeriod(st.Period), fmtBurn(st.BudgetRemaining*100)),
						"objective":        strconv.FormatFloat(st.Objective, 'f', -1, 64),
						"budget_remaining": strconv.FormatFloat(st.BudgetRemaining, 'f', 4, 64),
					},
					url:    m.cfg.ExternalURL + "/pipelines/" + st.Pipeline,
					detail: fmt.Sprintf("burn %s× over %s, %s× over %s", fmtBurn(long), row.Long.Name, fmtBurn(short), row.Short.Name),
				})
			}
		}
	}
	if m.cfg.Breakers != nil {
		for _, b := range m.cfg.Breakers.BreakerStates() {
			url := m.cfg.ExternalURL + "/pipelines/" + b.Pipeline
			switch b.State {
			case resilience.StateOpen, resilience.StateHalfOpen:
				add(candidate{
					labels: map[string]string{"alertname": AlertBreakerOpen, "severity": m.cfg.BreakerOpenSeverity, "pipeline": b.Pipeline},
					annotations: map[string]string{
						"summary":     fmt.Sprintf("The breaker of %s has been open for %s or more", b.Pipeline, m.cfg.BreakerOpenFor),
						"description": fmt.Sprintf("The circuit breaker of pipeline %s has not closed for %s; calls are being rejected.", b.Pipeline, m.cfg.BreakerOpenFor),
					},
					wait: m.cfg.BreakerOpenFor, url: url, detail: "breaker " + b.State.String(),
				})
			case resilience.StateForcedOpen:
				ann := map[string]string{"summary": fmt.Sprintf("The breaker of %s is forced open", b.Pipeline)}
				detail := "forced open"
				if o := b.Override; o != nil {
					desc := "Forced open"
					if o.Actor != "" {
						desc += " by " + o.Actor
					}
					if o.Reason != "" {
						desc += ": " + o.Reason
						detail += ": " + o.Reason
					}
					if !o.Until.IsZero() {
						desc += " (until " + o.Until.UTC().Format(time.RFC3339) + ")"
					}
					ann["description"] = desc + "."
				}
				add(candidate{
					labels:      map[string]string{"alertname": AlertBreakerForcedOpen, "severity": "info", "pipeline": b.Pipeline},
					annotations: ann, url: url, detail: detail,
				})
			}
		}
	}
	return out
}

func fmtBurn(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func fmtSLOPeriod(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

func moveAlert(r *AlertRecord, to AlertState, at time.Time, detail string) {
	r.History = append(r.History, AlertTransition{At: at, From: r.State, To: to, Detail: detail})
	if n := len(r.History); n > MaxAlertHistory {
		r.History = slices.Clone(r.History[n-MaxAlertHistory:])
	}
	r.State = to
}

func cloneRecord(r *AlertRecord) AlertRecord {
	c := *r
	c.Labels = maps.Clone(r.Labels)
	c.Annotations = maps.Clone(r.Annotations)
	c.History = slices.Clone(r.History)
	return c
}

// Evaluate evaluates every rule at now and moves the alerts through their
// lifecycle: a condition that starts holding makes an alert pending (or
// firing at once when its rule does not wait), a pending alert fires once
// it has held for the rule's wait, a firing alert whose condition stops
// holding resolves, and a resolved alert may fire again only after
// ResolveHold. Once the new state is saved, the notifier is brought up to
// date with it (WebhookNotifier.Sync): it compares the alerts with what
// each receiver was told, so a crash in between sends at the next
// evaluation rather than never. Run calls it every
// EvaluationInterval; tests call it directly. Store and outbox errors are
// returned joined; the in-memory state moves on regardless.
func (m *AlertManager) Evaluate(now time.Time) error {
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	active := m.conditions()

	var put []AlertRecord
	var del []string
	var breakers []BreakerStatus
	if len(m.carried) > 0 && m.cfg.Breakers != nil {
		breakers = m.cfg.Breakers.BreakerStates()
	}
	m.mu.Lock()
	for _, fp := range slices.Sorted(maps.Keys(active)) {
		c := active[fp]
		r := m.alerts[fp]
		delete(m.carried, fp) // its condition is seen again
		switch {
		case r == nil || r.State == AlertResolved:
			if r != nil && now.Before(r.EndsAt.Add(m.cfg.ResolveHold)) {
				continue // held resolved against flapping
			}
			if r == nil {
				r = &AlertRecord{Fingerprint: fp}
				m.alerts[fp] = r
			}
			r.Name, r.Severity, r.Source = c.labels["alertname"], c.labels["severity"], SourceFusebox
			r.Labels, r.Annotations, r.GeneratorURL = c.labels, c.annotations, c.url
			r.ActiveAt = now
			moveAlert(r, AlertPending, now, c.detail)
			if c.wait <= 0 {
				r.StartsAt, r.EndsAt = now, time.Time{}
				moveAlert(r, AlertFiring, now, c.detail)
			}
			put = append(put, cloneRecord(r))
		case r.State == AlertPending:
			r.Annotations = c.annotations
			if now.Sub(r.ActiveAt) >= c.wait {
				r.StartsAt, r.EndsAt = now, time.Time{}
				moveAlert(r, AlertFiring, now, c.detail)
				put = append(put, cloneRecord(r))
			}
		default: // firing: the annotations follow the figures
			r.Annotations = c.annotations
		}
	}
	for _, fp := range slices.Sorted(maps.Keys(m.alerts)) {
		r := m.alerts[fp]
		if _, ok := active[fp]; ok && r.Source == SourceFusebox {
			continue
		}
		switch {
		case r.State == AlertResolved || r.Source != SourceFusebox:
			if r.State == AlertResolved && now.Sub(r.EndsAt) > m.cfg.ResolvedRetention {
				delete(m.alerts, fp)
				del = append(del, fp)
			}
		case r.State == AlertPending && !r.EndsAt.IsZero():
			// The condition went away before the alert fired again.
			moveAlert(r, AlertResolved, now, "condition cleared before firing")
			put = append(put, cloneRecord(r))
		case r.State == AlertPending:
			// The condition went away before the alert ever fired: forget it.
			delete(m.alerts, fp)
			del = append(del, fp)
		case r.State == AlertFiring && m.carried[fp] && !m.evidence(r, breakers):
			// Firing before a restart, and nothing fresh says otherwise
			// yet: an empty window after a restart is no evidence.
		case r.State == AlertFiring:
			delete(m.carried, fp)
			r.EndsAt = now
			moveAlert(r, AlertResolved, now, "condition cleared")
			put = append(put, cloneRecord(r))
		}
	}
	var ours []AlertRecord
	if m.cfg.Notifier != nil {
		for _, r := range m.alerts {
			if r.Source == SourceFusebox {
				ours = append(ours, cloneRecord(r))
			}
		}
	}
	m.mu.Unlock()
	err := m.persist(put, del)
	if m.cfg.Notifier != nil {
		err = errors.Join(err, m.cfg.Notifier.Sync(ours, now))
	}
	return err
}

// evidence reports whether there is fresh evidence, since the manager was
// made, to judge alert r: for a burn-rate alert, a call counted by its SLO;
// for a BreakerOpen alert, a breaker that has judged calls (see
// BreakerStatus.Judged). An alert whose SLO or breaker is no longer
// watched has lost its rule and may resolve.
func (m *AlertManager) evidence(r *AlertRecord, breakers []BreakerStatus) bool {
	switch r.Name {
	case AlertErrorBudgetBurn:
		if m.cfg.SLOs == nil {
			return true
		}
		fresh, ok := m.cfg.SLOs.Fresh(r.Labels["slo"])
		return fresh || !ok
	case AlertBreakerOpen:
		for _, b := range breakers {
			if b.Pipeline == r.Labels["pipeline"] {
				return b.Judged
			}
		}
	}
	return true
}

// persist writes the alert state.
func (m *AlertManager) persist(put []AlertRecord, del []string) error {
	var errs []error
	if s := m.cfg.Store; s != nil {
		for _, r := range put {
			if err := s.PutAlert(r); err != nil {
				errs = append(errs, fmt.Errorf("alerting: saving alert %s: %w", r.Fingerprint, err))
			}
		}
		for _, fp := range del {
			if err := s.DeleteAlert(fp); err != nil {
				errs = append(errs, fmt.Errorf("alerting: deleting alert %s: %w", fp, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Run evaluates the rules at once and then every EvaluationInterval on the
// manager's clock until ctx ends; then it returns nil. Failed evaluations
// are logged.
func (m *AlertManager) Run(ctx context.Context) error {
	for {
		if err := m.Evaluate(m.clock.Now()); err != nil {
			m.log.Error("evaluating alerts", "err", err)
		}
		t := m.clock.NewTimer(m.cfg.EvaluationInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// Alert is an alert as listed: its record and the webhook deliveries of
// its notifications.
type Alert struct {
	AlertRecord
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

// Alerts returns every alert, firing first, then pending, then resolved;
// within a state the most recent first. Each carries its history and the
// recent deliveries of its notifications.
func (m *AlertManager) Alerts() []Alert {
	m.mu.RLock()
	out := make([]Alert, 0, len(m.alerts))
	for _, r := range m.alerts {
		out = append(out, Alert{AlertRecord: cloneRecord(r)})
	}
	m.mu.RUnlock()
	rank := map[AlertState]int{AlertFiring: 0, AlertPending: 1, AlertResolved: 2}
	latest := func(a Alert) time.Time {
		return laterOf(a.ActiveAt, laterOf(a.StartsAt, a.EndsAt))
	}
	slices.SortFunc(out, func(a, b Alert) int {
		if ra, rb := rank[a.State], rank[b.State]; ra != rb {
			return ra - rb
		}
		if c := latest(b).Compare(latest(a)); c != 0 {
			return c
		}
		return strings.Compare(a.Fingerprint, b.Fingerprint)
	})
	if n := m.cfg.Notifier; n != nil {
		byFP := n.deliveriesByFingerprint()
		for i := range out {
			out[i].Deliveries = byFP[out[i].Fingerprint]
		}
	}
	return out
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// FiringCount is how many alerts of one name and severity fire.
type FiringCount struct {
	Alert, Severity string
	Firing          int
}

// FiringCounts counts the firing alerts of Source fusebox by alert name and
// severity, sorted by both: every alert the manager has seen, and every
// alert its rules can raise, is listed, at 0 when none fires.
func (m *AlertManager) FiringCounts() []FiringCount {
	counts := map[[2]string]int{}
	if m.cfg.SLOs != nil {
		for _, row := range BurnRateAlerts() {
			counts[[2]string{AlertErrorBudgetBurn, row.Severity}] = 0
		}
	}
	if m.cfg.Breakers != nil {
		counts[[2]string{AlertBreakerOpen, m.cfg.BreakerOpenSeverity}] = 0
		counts[[2]string{AlertBreakerForcedOpen, "info"}] = 0
	}
	m.mu.RLock()
	for _, r := range m.alerts {
		if r.Source != SourceFusebox {
			continue
		}
		k := [2]string{r.Name, r.Severity}
		if r.State == AlertFiring {
			counts[k]++
		} else if _, ok := counts[k]; !ok {
			counts[k] = 0
		}
	}
	m.mu.RUnlock()
	out := make([]FiringCount, 0, len(counts))
	for k, n := range counts {
		out = append(out, FiringCount{Alert: k[0], Severity: k[1], Firing: n})
	}
	slices.SortFunc(out, func(a, b FiringCount) int {
		return cmp.Or(strings.Compare(a.Alert, b.Alert), strings.Compare(a.Severity, b.Severity))
	})
	return out
}
