package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/telemetry"
	"github.com/fusebox-dev/fusebox/ui"
)

// hubOptions make the app a fleet hub (app hub).
type hubOptions struct {
	// NATSListen is the embedded NATS server's client address; empty
	// means 127.0.0.1:4222.
	NATSListen string
	// NATSURL is an existing NATS cluster to use instead of the embedded
	// server; empty means embed one.
	NATSURL string
	// NATSConfig is a NATS server configuration file for the embedded
	// server (accounts, users, permissions, TLS); empty means none.
	NATSConfig string
	// NATSToken is the token of the embedded server and of the hub's
	// client (FUSEBOX_NATS_TOKEN); empty means none.
	NATSToken string
	// NATSUser and NATSPassword are the hub's user on NATS (NATS_USER,
	// NATS_PASSWORD); empty means none.
	NATSUser, NATSPassword string
}

// hubState is what a hub app runs besides the app itself.
type hubState struct {
	server *fleet.Server // nil with an external cluster
	conn   *nats.Conn
	hub    *fleet.Hub
}

// hubCommand runs `app hub`.
func hubCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fusebox hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts options
	h := &hubOptions{}
	fs.StringVar(&opts.Addr, "addr", "", "listen address of the dashboard and API (default 127.0.0.1:8080)")
	fs.StringVar(&opts.DataDir, "data-dir", "", "directory of the store and of the embedded NATS server's JetStream data (default ./data)")
	fs.StringVar(&opts.ConfigPath, "config", "", "YAML configuration file (title, SLOs, webhooks); its pipelines are not run")
	fs.StringVar(&h.NATSListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server; beyond loopback it needs FUSEBOX_NATS_TOKEN or --nats-config users")
	fs.StringVar(&h.NATSURL, "nats", os.Getenv("NATS_URL"), "URL of an existing NATS cluster with JetStream to use instead of the embedded server (default $NATS_URL)")
	fs.StringVar(&h.NATSConfig, "nats-config", "", "NATS server configuration file for the embedded server (accounts, permissions, TLS)")
	fs.StringVar(&opts.NATSCreds, "nats-creds", os.Getenv("NATS_CREDS"), "NATS credentials file of the hub's connection (default $NATS_CREDS)")
	fs.Var((*stringList)(&opts.Webhooks), "alert-webhook", "URL that receives alert notifications (repeatable)")
	checkOnly := fs.Bool("check-config", false, "validate the configuration (SLOs on service/pipeline) and exit")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage:\n  app hub [flags]   run the fleet hub: the fleet dashboard, API and overrides over NATS JetStream\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	h.NATSToken = os.Getenv("FUSEBOX_NATS_TOKEN")
	h.NATSUser, h.NATSPassword = os.Getenv("NATS_USER"), os.Getenv("NATS_PASSWORD")
	opts.AdminToken = os.Getenv("FUSEBOX_ADMIN_TOKEN")
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	opts.hub = h
	if *checkOnly {
		if err := checkStartup(opts); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s is valid for a hub\n", cmp.Or(opts.ConfigPath, "no --config given: the default configuration"))
		return 0
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := newApp(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		opts.Logger.Error("stopped", "err", err)
		return 1
	}
	return 0
}

// startHub starts the NATS server (unless an external one is given), the
// hub's connection and the hub, when the app is a hub.
func (a *app) startHub(ctx context.Context) error {
	h := a.opts.hub
	if h == nil {
		return nil
	}
	a.hubState = &hubState{}
	url := h.NATSURL
	if url == "" {
		srv, err := fleet.StartServer(fleet.ServerConfig{
			Listen: h.NATSListen, StoreDir: filepath.Join(a.opts.DataDir, "nats"),
			ConfigFile: h.NATSConfig, Token: h.NATSToken,
		})
		if err != nil {
			return err
		}
		a.hubState.server = srv
		url = srv.ClientURL()
		a.log.Info("embedded NATS server with JetStream", "url", url, "store", filepath.Join(a.opts.DataDir, "nats"))
	}
	copts := append([]nats.Option{nats.Name("fusebox hub"), nats.MaxReconnects(-1)}, a.opts.natsOptions()...)
	if h.NATSToken != "" {
		copts = append(copts, nats.Token(h.NATSToken))
	}
	if h.NATSUser != "" {
		copts = append(copts, nats.UserInfo(h.NATSUser, h.NATSPassword))
	}
	nc, err := nats.Connect(url, copts...)
	if err != nil {
		return fmt.Errorf("connecting to NATS at %s: %w", url, err)
	}
	a.hubState.conn = nc
	hub, err := fleet.NewHub(ctx, fleet.HubConfig{Conn: nc, Clock: a.opts.Clock, Logger: a.log, OnSnapshot: fleet.SLOFeed(a.alerting.slos)})
	if err != nil {
		return err
	}
	a.hubState.hub = hub
	return nil
}

// natsURL returns the URL agents join the hub's NATS at.
func (a *app) natsURL() string {
	if a.hubState == nil {
		return ""
	}
	if a.hubState.server != nil {
		return a.hubState.server.ClientURL()
	}
	return a.opts.hub.NATSURL
}

// closeHub stops the hub, its connection and the embedded server.
func (a *app) closeHub() error {
	if a.hubState == nil {
		return nil
	}
	var err error
	if a.hubState.hub != nil {
		err = a.hubState.hub.Close()
	}
	if a.hubState.conn != nil {
		a.hubState.conn.Close()
	}
	if a.hubState.server != nil {
		a.hubState.server.Shutdown()
	}
	return err
}

// fleetUI gives the dashboard the hub's pages on a hub.
func (a *app) fleetUI(cfg *ui.Config) {
	if a.hubState == nil || a.hubState.hub == nil {
		return
	}
	cfg.Fleet = a.hubState.hub
	cfg.Stats = hubStats{Aggregator: a.agg, hub: a.hubState.hub}
	if cfg.Title == "" {
		cfg.Title = "Fusebox · fleet"
	}
}

// hubRoutes sends / to the fleet page on a hub.
func (a *app) hubRoutes(e *echo.Echo) {
	if a.hubState == nil {
		return
	}
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/fleet") }, a.ui.SecurityHeaders)
	e.Pre(fleetPipelineLinks)
}

// hubStats is the aggregator whose changes are the fleet's: the live pages
// of a hub follow the snapshots.
type hubStats struct {
	*telemetry.Aggregator
	hub *fleet.Hub
}

func (s hubStats) Subscribe() (<-chan struct{}, func()) { return s.hub.Subscribe() }
