package main

import (
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/resilience"
)

// checkStartup runs, for --check-config, every check newApp runs before it
// opens the data directory or listens: the file's fields (with their paths
// and lines), the admin token, the --alert-webhook URLs, and then builds
// the pipelines, the SLO engine and the webhook notifier as the app would,
// without starting anything. A configuration it accepts does not make the
// app refuse to start (only the data directory and the address can).
func checkStartup(opts options) error {
	a := &app{opts: opts, cfg: &fileConfig{}, registry: &resilience.Registry{}, log: slog.New(slog.DiscardHandler)}
	if opts.ConfigPath != "" {
		cfg, err := loadConfigAs(opts.ConfigPath, opts.hub != nil)
		if err != nil {
			return err
		}
		a.cfg = cfg
	}
	a.resolveDefaults()
	if a.opts.Clock == nil {
		a.opts.Clock = resilience.SystemClock()
	}
	if err := checkToken(opts.AdminToken); err != nil {
		return err
	}
	receivers, err := a.receivers()
	if err != nil {
		return err
	}
	slos, err := alerting.NewSLOEngine(alerting.SLOEngineConfig{SLOs: a.cfg.slos(), Clock: a.opts.Clock})
	if err != nil {
		return err
	}
	a.alerting = &alertingParts{slos: slos}
	if err := a.buildPipelines([]resilience.Observer{slos}); err != nil {
		return err
	}
	n, err := alerting.NewWebhookNotifier(alerting.WebhookNotifierConfig{Receivers: receivers, Clock: a.opts.Clock})
	if err != nil {
		return err
	}
	defer n.Close()
	for _, p := range n.Pipelines() {
		if err := a.registry.Add(p); err != nil {
			return fmt.Errorf("webhook receiver pipeline: %w", err)
		}
	}
	return nil
}

// checkToken refuses an admin token that can be guessed: one too short,
// one of a single repeated character, or one with surrounding whitespace
// (which the Authorization header and the login form would not carry
// alike). The empty token is accepted: the app generates one.
func checkToken(token string) error {
	switch {
	case token == "":
		return nil
	case len(token) < minTokenLen:
		return fmt.Errorf("FUSEBOX_ADMIN_TOKEN is %d bytes long: use at least %d (or leave it unset to have one generated)", len(token), minTokenLen)
	case strings.TrimSpace(token) != token:
		return fmt.Errorf("FUSEBOX_ADMIN_TOKEN begins or ends with whitespace: remove it (a header or a form would not carry it alike)")
	case strings.Trim(token, string(first(token))) == "":
		return fmt.Errorf("FUSEBOX_ADMIN_TOKEN repeats one character: use a random token (openssl rand -hex 24)")
	}
	return nil
}

func first(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}
