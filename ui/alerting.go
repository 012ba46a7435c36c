package ui

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/ui/templates"
)

// SLOReader reports the state of the SLOs; *alerting.SLOEngine is one.
// Its methods must be safe for concurrent use.
type SLOReader interface {
	// Statuses returns the status of every SLO now, by name; history adds
	// each one's budget history.
	Statuses(history bool) []alerting.SLOStatus
	// ForPipeline returns the status of the named pipeline's SLOs now,
	// with their budget history, by name (none for a pipeline without one).
	ForPipeline(pipeline string) []alerting.SLOStatus
}

// AlertLister lists the alerts; *alerting.AlertManager is one. Alerts
// must be safe for concurrent use.
type AlertLister interface {
	// Alerts returns every alert, Fusebox's own and those received from
	// Alertmanager, with their history and webhook deliveries.
	Alerts() []alerting.Alert
}

// AlertReceiver takes the webhook notifications Alertmanager posts;
// *alerting.AlertManager is one.
type AlertReceiver interface {
	// ReceiveAlertmanager merges the alerts of an Alertmanager webhook
	// body. A body that is not a valid payload is an error wrapping
	// alerting.ErrInvalidPayload (400) that leaves the alerts unchanged.
	ReceiveAlertmanager(ctx context.Context, body []byte) error
}

// WebhookReader lists the webhook deliveries and the outbox;
// *alerting.WebhookNotifier is one. Its methods must be safe for
// concurrent use.
type WebhookReader interface {
	// Deliveries returns the recent delivery rounds, newest first.
	Deliveries() []alerting.Delivery
	// Pending returns the notifications waiting in the outbox, oldest
	// first.
	Pending() ([]alerting.Notification, error)
}

// How much of the webhook state the alerts page lists.
const (
	pageDeliveries       = 50
	pagePending          = 20
	alertDeliveriesShown = 10
)

// alerts returns the alerts, or nil when alerting is off.
func (s *Server) alerts() []alerting.Alert {
	if s.cfg.Alerts == nil {
		return nil
	}
	return s.cfg.Alerts.Alerts()
}

// firing counts the firing alerts, whatever their source.
func (s *Server) firing() int {
	n := 0
	for _, a := range s.alerts() {
		if a.State == alerting.AlertFiring {
			n++
		}
	}
	return n
}

// apiAlertmanager handles POST /api/v1/alertmanager: an Alertmanager
// webhook notification, behind the Bearer token.
func (s *Server) apiAlertmanager(c echo.Context) error {
	if s.cfg.AlertReceiver == nil {
		return s.fail(c, Errorf(ENOTFOUND, "receiving Alertmanager webhooks is not enabled"))
	}
	r := c.Request()
	if r.ContentLength > alerting.MaxAlertmanagerPayload {
		return s.fail(c, Errorf(ETOOLARGE, "the body of %d bytes exceeds %d", r.ContentLength, alerting.MaxAlertmanagerPayload))
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, alerting.MaxAlertmanagerPayload))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); !ok {
			err = Errorf(EINVALID, "reading the body: %v", err)
		}
		return s.fail(c, err)
	}
	if len(body) == 0 {
		return s.fail(c, Errorf(EINVALID, "empty body: want an Alertmanager webhook payload (JSON, version 4)"))
	}
	// Malformed JSON, a key given twice or a value of the wrong type is
	// named in the body's terms first; unknown fields are allowed, as
	// Alertmanager adds fields over time.
	if err := parseJSON(body, new(alerting.AlertmanagerPayload), false); err != nil {
		return s.fail(c, err)
	}
	if err := s.cfg.AlertReceiver.ReceiveAlertmanager(r.Context(), body); err != nil {
		return s.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// The JSON shapes of GET /api/v1/alerts. Times that are unknown are null.

type alertJSON struct {
	Fingerprint  string                     `json:"fingerprint"`
	Name         string                     `json:"name"`
	Source       alerting.AlertSource       `json:"source"`
	State        alerting.AlertState        `json:"state"`
	Severity     string                     `json:"severity"`
	Labels       map[string]string          `json:"labels"`
	Annotations  map[string]string          `json:"annotations"`
	ActiveAt     *time.Time                 `json:"active_at"`
	StartsAt     *time.Time                 `json:"starts_at"`
	EndsAt       *time.Time                 `json:"ends_at"`
	GeneratorURL string                     `json:"generator_url,omitempty"`
	History      []alerting.AlertTransition `json:"history"`
	Deliveries   []alerting.Delivery        `json:"deliveries"`
}

type webhooksJSON struct {
	// Pending is the number of notifications in the outbox; null when the
	// outbox could not be read.
	Pending    *int                `json:"pending"`
	Deliveries []alerting.Delivery `json:"deliveries"`
}

func timeJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func alertOut(a alerting.Alert) alertJSON {
	out := alertJSON{
		Fingerprint: a.Fingerprint, Name: a.Name, Source: a.Source, State: a.State, Severity: a.Severity,
		Labels: orEmpty(a.Labels), Annotations: orEmpty(a.Annotations),
		ActiveAt: timeJSON(a.ActiveAt), StartsAt: timeJSON(a.StartsAt), EndsAt: timeJSON(a.EndsAt),
		GeneratorURL: a.GeneratorURL,
		History:      make([]alerting.AlertTransition, len(a.History)),
		Deliveries:   make([]alerting.Delivery, len(a.Deliveries)),
	}
	for i, h := range a.History {
		h.At = h.At.UTC()
		out.History[i] = h
	}
	copy(out.Deliveries, a.Deliveries)
	return out
}

// apiAlerts handles GET /api/v1/alerts: every alert, firing first, then
// pending, then resolved, and the webhook deliveries when webhooks are
// configured.
func (s *Server) apiAlerts(c echo.Context) error {
	as := s.alerts()
	out := struct {
		Alerts   []alertJSON   `json:"alerts"`
		Webhooks *webhooksJSON `json:"webhooks,omitempty"`
	}{Alerts: make([]alertJSON, len(as))}
	for i, a := range as {
		out.Alerts[i] = alertOut(a)
	}
	if w := s.cfg.Webhooks; w != nil {
		ds := w.Deliveries()
		wh := &webhooksJSON{Deliveries: append([]alerting.Delivery{}, ds...)}
		if pending, err := w.Pending(); err != nil {
			s.log.Warn("ui: reading the webhook outbox", "err", err)
		} else {
			n := len(pending)
			wh.Pending = &n
		}
		out.Webhooks = wh
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// alertsPage renders GET /alerts.
func (s *Server) alertsPage(c echo.Context) error {
	view := s.alertsView()
	p := s.page(c, "Alerts", "alerts")
	p.AlertsFiring = len(view.Firing)
	p.Events = "/events?page=alerts"
	return s.render(c, http.StatusOK, layout(p, templates.AlertsPage(view)))
}

// alertsView builds the alerts page's content.
func (s *Server) alertsView() templates.Alerts {
	view := templates.Alerts{Enabled: s.cfg.Alerts != nil}
	now := s.clock.Now()
	for _, a := range s.alerts() {
		row := s.alertRow(a, now)
		switch a.State {
		case alerting.AlertFiring:
			view.Firing = append(view.Firing, row)
		case alerting.AlertPending:
			view.Pending = append(view.Pending, row)
		default:
			view.Resolved = append(view.Resolved, row)
		}
	}
	if s.cfg.Webhooks != nil {
		wh := s.webhooksView()
		view.Webhooks = &wh
	}
	return view
}

// alertRow formats an alert for the alerts page.
func (s *Server) alertRow(a alerting.Alert, now time.Time) templates.AlertRow {
	row := templates.AlertRow{
		Fingerprint: a.Fingerprint, Name: a.Name, Severity: a.Severity, SeverityClass: severityClass(a.Severity),
		State: a.State.String(), Class: "alert-" + a.State.String(), Source: a.Source.String(), SourceClass: "src-" + a.Source.String(),
		Pipeline: a.Labels["pipeline"], SLO: a.Labels["slo"],
		Summary: a.Annotations["summary"], Description: a.Annotations["description"],
		Started: s.stamp(a.StartsAt), Ended: s.stamp(a.EndsAt),
		GeneratorURL: safeLink(a.GeneratorURL),
	}
	if row.Name == "" {
		row.Name = a.Labels["alertname"]
	}
	if row.Source == "" {
		row.Source, row.SourceClass = alerting.SourceFusebox.String(), "src-"+alerting.SourceFusebox.String()
	}
	if row.Pipeline != "" && s.ownPipeline(row.Pipeline, a.Source) {
		row.PipelineURL = "/pipelines/" + url.PathEscape(row.Pipeline)
	}
	since := a.ActiveAt
	switch a.State {
	case alerting.AlertFiring:
		since = a.StartsAt
	case alerting.AlertResolved:
		since = a.EndsAt
	}
	row.Since = s.stamp(since)
	if !since.IsZero() && now.After(since) {
		row.For = fmtSpan(now.Sub(since))
	}
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		if k != "alertname" {
			row.Labels = append(row.Labels, templates.Label{Name: k, Value: a.Labels[k]})
		}
	}
	for _, h := range slices.Backward(a.History) {
		change := h.To.String()
		if h.From != alerting.AlertInactive {
			change = h.From.String() + " → " + h.To.String()
		}
		row.History = append(row.History, templates.HistoryRow{At: s.stamp(h.At), Change: change, Detail: h.Detail})
	}
	row.Changes = plural(len(row.History), "change", "changes")
	for i, d := range a.Deliveries {
		if i == alertDeliveriesShown {
			break
		}
		row.Deliveries = append(row.Deliveries, s.deliveryRow(d))
	}
	return row
}

// ownPipeline tells whether a pipeline label names one of the dashboard's
// pipelines, so that it can be linked.
func (s *Server) ownPipeline(name string, source alerting.AlertSource) bool {
	if source != alerting.SourceAlertmanager {
		return true
	}
	if s.cfg.Registry == nil {
		return false
	}
	_, err := s.cfg.Registry.Get(name)
	return err == nil
}

// safeLink keeps http and https links only.
func safeLink(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && !(u.Scheme == "" && len(raw) > 0 && raw[0] == '/')) {
		return ""
	}
	return raw
}

func severityClass(sev string) string {
	switch sev {
	case "page", "critical":
		return "sev-page"
	case "ticket", "warning":
		return "sev-ticket"
	case "info":
		return "sev-info"
	}
	return "sev-other"
}

func resultClass(result alerting.DeliveryResult) string {
	switch result {
	case alerting.DeliverySuccess:
		return "res-ok"
	case alerting.DeliveryFailure, alerting.DeliveryTimeout:
		return "res-bad"
	}
	return "res-warn"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func (s *Server) deliveryRow(d alerting.Delivery) templates.DeliveryRow {
	return templates.DeliveryRow{
		At: s.stamp(d.At), Receiver: d.Receiver, Status: d.Status.String(),
		Result: d.Result.String(), ResultClass: resultClass(d.Result),
		Attempts:    "round " + strconv.Itoa(d.Round) + " · " + plural(d.Requests, "request", "requests"),
		Error:       d.Error,
		NextAttempt: s.stamp(d.NextAttempt),
	}
}

// webhooksView formats the outbox and the recent deliveries.
func (s *Server) webhooksView() templates.Webhooks {
	var w templates.Webhooks
	pending, err := s.cfg.Webhooks.Pending()
	if err != nil {
		s.log.Warn("ui: reading the webhook outbox", "err", err)
		w.PendingCount, w.PendingError = "?", "the outbox could not be read"
	} else {
		w.PendingCount = strconv.Itoa(len(pending))
	}
	for i, n := range pending {
		if i == pagePending {
			break
		}
		next := s.stamp(n.NextAttempt)
		if next == "" {
			next = "now"
		}
		w.Pending = append(w.Pending, templates.OutboxRow{
			Receiver: n.Receiver, Created: s.stamp(n.CreatedAt), Attempts: strconv.Itoa(n.Attempts),
			NextAttempt: next, LastError: n.LastError,
		})
	}
	for i, d := range s.cfg.Webhooks.Deliveries() {
		if i == pageDeliveries {
			break
		}
		w.Deliveries = append(w.Deliveries, s.deliveryRow(d))
	}
	return w
}
