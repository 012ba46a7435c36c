package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/resilience"
)

// alertsConfig is the alerts section of the configuration file.
type alertsConfig struct {
	// RepeatInterval is how often a receiver is reminded of an alert group
	// that keeps firing unchanged. Zero means 4h.
	RepeatInterval time.Duration `yaml:"repeat_interval"`
}

// validate reports the invalid fields of c, which may be nil, to add.
func (c *alertsConfig) validate(add func(path, msg string)) {
	if c == nil {
		return
	}
	if c.RepeatInterval < 0 {
		add("alerts.repeat_interval", fmt.Sprintf("%v must not be negative (zero means %v)", c.RepeatInterval, alerting.DefaultRepeatInterval))
	} else if c.RepeatInterval > 0 && c.RepeatInterval < time.Minute {
		add("alerts.repeat_interval", fmt.Sprintf("%v is under a minute: receivers would be reminded at every evaluation", c.RepeatInterval))
	}
}

// repeatInterval returns the configured repeat interval, or zero for the
// default.
func (c *alertsConfig) repeatInterval() time.Duration {
	if c == nil {
		return 0
	}
	return c.RepeatInterval
}

// alertingParts is the SLO engine, the alert manager and the webhook notifier,
// kept in the store.
type alertingParts struct {
	slos     *alerting.SLOEngine
	alerts   *alerting.AlertManager
	notifier *alerting.WebhookNotifier
}

// newAlerting builds the SLO engine of slos and, once the pipelines exist,
// the alert manager and notifier (see start).
func newAlerting(a *app, slos []alerting.SLOConfig) (*alertingParts, error) {
	eng, err := alerting.NewSLOEngine(alerting.SLOEngineConfig{
		SLOs: slos, Clock: a.opts.Clock, History: a.store, Logger: a.log,
	})
	if err != nil {
		return nil, err
	}
	return &alertingParts{slos: eng}, nil
}

// receivers returns the configured webhook receivers and those of the
// --alert-webhook flags.
func (a *app) receivers() ([]alerting.WebhookConfig, error) {
	out := append([]alerting.WebhookConfig(nil), a.cfg.Webhooks...)
	for i, raw := range a.opts.Webhooks {
		w := alerting.WebhookFromURL(raw)
		if err := w.Validate(); err != nil {
			return nil, fmt.Errorf("--alert-webhook #%d %q: %w", i+1, raw, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// wire builds the notifier and the alert manager, registering the
// receivers' pipelines so they show on the dashboard.
func (al *alertingParts) wire(a *app) error {
	receivers, err := a.receivers()
	if err != nil {
		return err
	}
	outbox, err := a.hubOutbox(a.store)
	if err != nil {
		return err
	}
	external := "http://" + a.opts.Addr
	al.notifier, err = alerting.NewWebhookNotifier(alerting.WebhookNotifierConfig{
		Receivers: receivers, Outbox: outbox, Log: a.store, Observers: []resilience.Observer{a.agg},
		RepeatInterval: a.cfg.Alerts.repeatInterval(),
		Clock:          a.opts.Clock, ExternalURL: external, Logger: a.log,
	})
	if err != nil {
		return err
	}
	for _, p := range al.notifier.Pipelines() {
		if err := a.registry.Add(p); err != nil {
			return err
		}
	}
	al.alerts, err = alerting.NewAlertManager(alerting.AlertManagerConfig{
		SLOs: al.slos, Breakers: alerting.RegistryBreakers(a.registry), Store: a.store,
		Notifier: al.notifier, Clock: a.opts.Clock, ExternalURL: external, Logger: a.log,
	})
	return err
}

// run runs the engine, the alert manager and the notifier until ctx ends,
// then saves the SLO history.
func (al *alertingParts) run(ctx context.Context, wg *sync.WaitGroup, errs chan<- error) {
	for _, r := range []func(context.Context) error{al.slos.Run, al.alerts.Run, al.notifier.Run} {
		wg.Go(func() {
			if err := r(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- err
			}
		})
	}
}

// close saves the SLO history and closes the notifier's connections.
func (al *alertingParts) close() error {
	var errs []error
	if al.slos != nil {
		errs = append(errs, al.slos.Close())
	}
	if al.notifier != nil {
		errs = append(errs, al.notifier.Close())
	}
	return errors.Join(errs...)
}
