package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/fleet"
)

// hubSetupTimeout bounds the creation of the hub's notifications bucket.
const hubSetupTimeout = 10 * time.Second

// hubOutbox returns the webhook outbox: the store's, and on a hub the
// store's behind the fleet's notification records, so that the hubs on
// one NATS cluster send each notification once.
func (a *app) hubOutbox(store alerting.Outbox) (alerting.Outbox, error) {
	if a.hubState == nil || a.hubState.conn == nil {
		return store, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), hubSetupTimeout)
	defer cancel()
	return fleet.NewDedupOutbox(ctx, fleet.DedupConfig{
		Conn: a.hubState.conn, Outbox: store, RepeatInterval: a.cfg.Alerts.repeatInterval(),
		Clock: a.opts.Clock, Logger: a.log,
	})
}

// validateHubSLO checks the pipeline of a hub's SLO, which names a
// pipeline of a service of the fleet: service/pipeline.
func (c *fileConfig) validateHubSLO(path string, slo alerting.SLOConfig, add func(path, msg string)) {
	if slo.Pipeline == "" {
		return // Validate reported it
	}
	if _, _, err := fleet.ParseSLOPipeline(slo.Pipeline); err != nil {
		add(path+".pipeline", strings.TrimPrefix(err.Error(), fleet.ErrInvalidName.Error()+": "))
	}
}

// fleetPipelineLinks sends the links of a hub's alerts and SLOs to a
// fleet pipeline, /pipelines/service/pipeline (or with the '/' escaped),
// to the service's fleet page: the hub has no page of its own for them.
func fleetPipelineLinks(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if rest, ok := strings.CutPrefix(c.Request().URL.EscapedPath(), "/pipelines/"); ok {
			if p, err := url.PathUnescape(rest); err == nil {
				if svc, _, err := fleet.ParseSLOPipeline(p); err == nil {
					return c.Redirect(http.StatusSeeOther, "/fleet/"+svc)
				}
			}
		}
		return next(c)
	}
}
