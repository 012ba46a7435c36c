package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/fusebox-dev/fusebox/demo"
	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// fleetDemoServices are the services of the fleet demo, each with three
// instances, and the faults of each instance: one instance of checkout has
// a failing payments downstream, catalog's inventory is slow on one, and
// shipping is healthy everywhere.
var fleetDemoServices = []struct {
	name   string
	faults [3]map[string]demo.Knobs
}{
	{"checkout", [3]map[string]demo.Knobs{nil, {demo.Payments: {ErrorRate: 0.8, LatencyMS: 40, JitterMS: 20}}, nil}},
	{"catalog", [3]map[string]demo.Knobs{{demo.Inventory: {LatencyMS: 600, JitterMS: 200}}, nil, nil}},
	{"shipping", [3]map[string]demo.Knobs{nil, nil, nil}},
}

// demoInstanceRate is each demo instance's load, in calls per second.
const demoInstanceRate = 8

// fleetDemoCommand runs `app fleet-demo`: a hub with an embedded NATS
// server and 3 services × 3 instances of the demo joined to it.
func fleetDemoCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fusebox fleet-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := options{hub: &hubOptions{}}
	fs.StringVar(&opts.Addr, "addr", "", "listen address of the hub's dashboard (default 127.0.0.1:8080)")
	fs.StringVar(&opts.DataDir, "data-dir", "", "directory of the hub's data (default a new temporary directory, removed at exit)")
	fs.StringVar(&opts.hub.NATSListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server")
	fs.StringVar(&opts.ConfigPath, "config", "", "the hub's configuration file (SLOs on service/pipeline, webhooks)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if opts.DataDir == "" {
		dir, err := os.MkdirTemp("", "fusebox-fleet-demo-")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		opts.DataDir = dir
	}
	opts.AdminToken = os.Getenv("FUSEBOX_ADMIN_TOKEN")
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runFleetDemo(ctx, opts); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// runFleetDemo runs the hub and the demo instances until ctx ends.
func runFleetDemo(ctx context.Context, opts options) error {
	hubApp, err := newApp(ctx, opts)
	if err != nil {
		return err
	}
	fd, err := startFleetDemo(ctx, hubApp.natsURL(), opts.Logger)
	if err != nil {
		_ = hubApp.Close()
		return err
	}
	defer fd.close()
	opts.Logger.Info("fleet demo: 3 services × 3 instances joined", "nats", hubApp.natsURL(), "fleet", "http://"+hubApp.Addr()+"/fleet")
	return hubApp.Run(ctx)
}

// fleetDemo is the running instances of the fleet demo.
type fleetDemo struct {
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	instances []*demoInstance
}

// demoInstance is one in-process instance: its pipelines, figures and
// agent.
type demoInstance struct {
	service, id string
	registry    *resilience.Registry
	agg         *telemetry.Aggregator
	demo        *demo.Demo
	agent       *fleet.Agent
}

// startFleetDemo starts the 9 instances, joined to the NATS at url.
func startFleetDemo(ctx context.Context, url string, log *slog.Logger) (*fleetDemo, error) {
	ctx, cancel := context.WithCancel(ctx)
	fd := &fleetDemo{cancel: cancel}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, svc := range fleetDemoServices {
		for i, faults := range svc.faults {
			in, err := newDemoInstance(ctx, url, svc.name, fmt.Sprintf("%s-%d", svc.name, i+1), faults, log)
			if err != nil {
				fd.close()
				return nil, err
			}
			fd.instances = append(fd.instances, in)
			fd.wg.Go(func() {
				if err := in.demo.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
					log.Error("fleet demo instance stopped", "instance", in.id, "err", err)
				}
			})
		}
	}
	return fd, nil
}

func newDemoInstance(ctx context.Context, url, service, id string, faults map[string]demo.Knobs, log *slog.Logger) (*demoInstance, error) {
	in := &demoInstance{service: service, id: id, registry: &resilience.Registry{}}
	var err error
	if in.agg, err = telemetry.NewAggregator(telemetry.AggregatorConfig{Policies: telemetry.RegistryReader(in.registry)}); err != nil {
		return nil, err
	}
	if in.demo, err = demo.New(demo.Config{Observers: []resilience.Observer{in.agg}, Rate: demoInstanceRate}); err != nil {
		return nil, err
	}
	for _, p := range in.demo.Pipelines() {
		if err := in.registry.Add(p); err != nil {
			return nil, err
		}
	}
	for name, k := range faults {
		d, err := in.demo.Downstream(name)
		if err != nil {
			return nil, err
		}
		if err := d.Set(k); err != nil {
			return nil, err
		}
	}
	in.agent, err = fleet.Join(ctx, fleet.Config{URL: url, Service: service, Instance: id, Logger: log.With("demo_instance", id)}, in.registry, in.agg)
	if err != nil {
		return nil, err
	}
	return in, nil
}

// close stops the instances and waits for them.
func (fd *fleetDemo) close() {
	fd.cancel()
	fd.wg.Wait()
	for _, in := range fd.instances {
		_ = in.agent.Close()
	}
}
