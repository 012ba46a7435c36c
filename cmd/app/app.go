package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fusebox-dev/fusebox/demo"
	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/store"
	"github.com/fusebox-dev/fusebox/telemetry"
	"github.com/fusebox-dev/fusebox/telemetry/otelexport"
	"github.com/fusebox-dev/fusebox/telemetry/promexport"
	"github.com/fusebox-dev/fusebox/ui"
)

// options configure an app; flags and the environment fill them.
type options struct {
	// Addr is the listen address. Empty means the config's, or 127.0.0.1:8080.
	Addr string
	// ConfigPath is the YAML file. Empty runs the demo.
	ConfigPath string
	// DataDir holds the store. Empty means the config's, or ./data.
	DataDir string
	// Webhooks receive alert notifications.
	Webhooks []string
	// AdminToken guards the controls. Empty means one is generated and logged.
	AdminToken string
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Clock tells time; nil means the system clock.
	Clock resilience.Clock
	// DemoRate is the demo's load in calls per second; zero means the
	// config's, or 40.
	DemoRate float64
	// fleetOptions join a fleet (--join); the zero value runs alone.
	fleetOptions
	// hub makes the app a fleet hub (app hub); nil: it is not one.
	hub *hubOptions
}

// app is a running Fusebox: tests start one on 127.0.0.1:0 with newApp and
// Run, and stop it by cancelling Run's context.
type app struct {
	opts      options
	log       *slog.Logger
	cfg       *fileConfig
	store     *store.Store
	registry  *resilience.Registry
	agg       *telemetry.Aggregator
	otel      *otelexport.Providers
	demo      *demo.Demo
	overrides *overrides
	kills     *killSwitches
	reloader  *reloader
	expiries  *expiries
	alerting  *alertingParts
	ui        *ui.Server
	agent     *fleet.Agent
	hubState  *hubState
	gateway   *gatewayServer
	server    *http.Server
	listener  net.Listener
	closeOnce sync.Once
	closeErr  error
}

// newApp builds the app and listens; Run serves. On error nothing is left
// open.
func newApp(ctx context.Context, opts options) (_ *app, err error) {
	a := &app{opts: opts, log: opts.Logger, cfg: &fileConfig{}, registry: &resilience.Registry{}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		a.opts.Clock = resilience.SystemClock()
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if opts.ConfigPath != "" {
		if a.cfg, err = loadConfigAs(opts.ConfigPath, opts.hub != nil); err != nil {
			return nil, err
		}
	}
	a.cfg.noDemo = opts.hub != nil
	a.resolveDefaults()
	if err := checkToken(a.opts.AdminToken); err != nil {
		return nil, err
	}
	if a.opts.AdminToken == "" {
		a.opts.AdminToken = newToken()
		a.log.Info("no FUSEBOX_ADMIN_TOKEN set; generated an admin token for this run", "token", a.opts.AdminToken)
	}
	if a.store, err = store.Open(a.opts.DataDir); err != nil {
		return nil, err
	}
	if a.agg, err = telemetry.NewAggregator(telemetry.AggregatorConfig{Clock: a.opts.Clock, Policies: telemetry.RegistryReader(a.registry)}); err != nil {
		return nil, err
	}
	if a.otel, err = otelexport.Setup(ctx, otelexport.Config{ServiceName: "fusebox", Metrics: a.agg}); err != nil {
		return nil, err
	}
	a.overrides = &overrides{reg: a.registry, store: a.store, clock: a.opts.Clock, log: a.log}
	a.expiries = newExpiries(a.overrides)
	if a.alerting, err = newAlerting(a, a.cfg.slos()); err != nil {
		return nil, err
	}
	observers, err := a.observers()
	if err != nil {
		return nil, err
	}
	if err := a.buildPipelines(observers); err != nil {
		return nil, err
	}
	if err := a.buildGateway(); err != nil {
		return nil, err
	}
	if err := a.startHub(ctx); err != nil { // before wire: a hub's outbox needs NATS
		return nil, err
	}
	if err := a.alerting.wire(a); err != nil {
		return nil, err
	}
	if err := a.overrides.restore(ctx); err != nil {
		return nil, err
	}
	a.kills = &killSwitches{reg: a.registry, store: a.store, clock: a.opts.Clock, log: a.log}
	if err := a.kills.restore(ctx); err != nil {
		return nil, err
	}
	a.reloader = newReloader(a)
	if err := a.joinFleet(ctx); err != nil {
		return nil, err
	}
	e, err := a.routes()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", a.opts.Addr, err)
	}
	a.listener = boundedSendBuffers{ln}
	a.server = a.cfg.HTTP.newServer(e)
	// Live-update streams never go idle: end them when shutting down.
	a.server.RegisterOnShutdown(func() { _ = a.ui.Close() })
	return a, nil
}

func (a *app) resolveDefaults() {
	if a.opts.Addr == "" {
		a.opts.Addr = a.cfg.Addr
	}
	if a.opts.Addr == "" {
		a.opts.Addr = "127.0.0.1:8080"
	}
	if a.opts.DataDir == "" {
		a.opts.DataDir = a.cfg.DataDir
	}
	if a.opts.DataDir == "" {
		a.opts.DataDir = "data"
	}
	if a.opts.DemoRate == 0 && a.cfg.Demo != nil {
		a.opts.DemoRate = a.cfg.Demo.Rate
	}
}

// demoMode reports whether the embedded demo runs.
func (a *app) demoMode() bool { return a.cfg.demoMode() }

// observers returns the observers every pipeline reports to, the
// aggregator first (reloader.reload relies on it).
func (a *app) observers() ([]resilience.Observer, error) {
	obs := []resilience.Observer{a.agg, a.alerting.slos, a.expiries}
	if a.otel.TracerProvider != nil {
		tr, err := a.otel.Tracing(otelexport.TracingConfig{})
		if err != nil {
			return nil, err
		}
		obs = append(obs, tr)
	}
	return obs, nil
}

// buildPipelines builds the configured pipelines and the demo's.
func (a *app) buildPipelines(observers []resilience.Observer) error {
	for _, pc := range a.cfg.Pipelines {
		policies, err := buildPolicies(pc)
		if err != nil {
			return fmt.Errorf("pipeline %q: %w", pc.Name, err)
		}
		p, err := resilience.New(pc.Name, resilience.Config{Policies: policies, Observers: observers, Clock: a.opts.Clock})
		if err != nil {
			return err
		}
		if err := a.registry.Add(p); err != nil {
			return err
		}
	}
	if !a.demoMode() {
		return nil
	}
	d, err := demo.New(demo.Config{Clock: a.opts.Clock, Observers: observers, Rate: a.opts.DemoRate})
	if err != nil {
		return err
	}
	for _, p := range d.Pipelines() {
		if err := a.registry.Add(p); err != nil {
			return err
		}
	}
	a.demo = d
	return nil
}

// routes builds the HTTP handler: the dashboard and API, and /metrics.
func (a *app) routes() (*echo.Echo, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	reg.MustRegister(a.fleetCollectors()...)
	reg.MustRegister(promexport.NewPolicyCollector(a.registry), a.reloader.reloads,
		promexport.NewAlertingCollector(a.alerting.slos, a.alerting.alerts, a.alerting.notifier))
	metrics, err := promexport.NewHandler(reg, a.agg, promexport.HandlerOpts{EnableOpenMetrics: true})
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/metrics", echo.WrapHandler(metrics))
	if err := a.mountUI(e); err != nil {
		return nil, err
	}
	a.hubRoutes(e)
	e.HTTPErrorHandler = a.ui.HTTPErrorHandler
	e.Use(a.ui.SecurityHeaders) // for /metrics and error pages too
	return e, nil
}

// Addr returns the address the app listens on.
func (a *app) Addr() string { return a.listener.Addr().String() }

// Run serves until ctx ends, then drains in-flight requests, stops the demo
// and closes the store.
func (a *app) Run(ctx context.Context) error {
	a.log.Info("fusebox listening", "url", "http://"+a.Addr(), "demo", a.demoMode(), "data_dir", a.opts.DataDir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { a.expiries.run(ctx) })
	wg.Go(func() { a.reloader.run(ctx) })
	failed := make(chan error, 4)
	a.alerting.run(ctx, &wg, failed)
	if a.demo != nil {
		wg.Go(func() {
			if err := a.demo.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("demo stopped", "err", err)
			}
		})
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- a.server.Serve(a.listener) }()
	a.gateway.serve(a.log, failed)
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	case err = <-failed:
	}
	a.log.Info("shutting down")
	shutdownCtx, stop := context.WithTimeout(context.Background(), a.cfg.HTTP.shutdownTimeout())
	defer stop()
	if serr := a.server.Shutdown(shutdownCtx); serr != nil {
		// A client still holding a request open past the grace period is
		// cut off rather than left behind.
		a.log.Warn("closing connections still open after the grace period", "err", serr)
		_ = a.server.Close()
	}
	a.gateway.shutdown(shutdownCtx)
	_ = a.ui.Close() // also run by RegisterOnShutdown; here it is waited for
	cancel()
	wg.Wait()
	if cerr := a.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases what newApp opened. It is safe to call more than once.
func (a *app) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		if a.agent != nil {
			errs = append(errs, a.agent.Close())
		}
		errs = append(errs, a.closeHub())
		if a.listener != nil {
			_ = a.listener.Close() // closed already once served; nothing to report
		}
		a.gateway.close()
		if a.otel != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, a.otel.Shutdown(ctx))
			cancel()
		}
		if a.alerting != nil {
			errs = append(errs, a.alerting.close())
		}
		if a.store != nil {
			errs = append(errs, a.store.Close())
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// sendBuffer bounds the kernel's send buffer of each connection. Left to
// autotuning it grows to megabytes, and a live-update client that stopped
// reading would then be noticed (and dropped) only minutes later.
const sendBuffer = 256 << 10

// boundedSendBuffers is a listener whose connections have a send buffer of
// sendBuffer bytes.
type boundedSendBuffers struct{ net.Listener }

func (l boundedSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(sendBuffer) // a hint; the connection works without it
	}
	return c, err
}

// minTokenLen is the shortest admin token accepted: the token can be tried
// over the network, so it must not be guessable.
const minTokenLen = 16

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
