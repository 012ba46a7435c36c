// Command app runs Fusebox: the resilience pipelines, their live dashboard,
// Prometheus metrics and alerts. With no --config it runs the embedded demo.
//
//	go run ./cmd/app                         # the demo on http://127.0.0.1:8080
//	go run ./cmd/app --config fusebox.yaml   # configured pipelines
//	go run ./cmd/app --check-config --config fusebox.yaml
//	go run ./cmd/app rules --config fusebox.yaml   # Prometheus SLO rules
//	go run ./cmd/app demo-upstream           # a flaky service to put behind the gateway
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
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseFlags parses args into fs, whose output is the command's standard
// error. It returns false, with the exit code to end with, when the command
// is not to run: 0 after -help, 2 after a bad flag or an argument that is
// not a flag.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// run parses the arguments, runs the app until SIGINT or SIGTERM, and
// returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "rules":
			return rulesCommand(args[1:], stdout, stderr)
		case "hub":
			return hubCommand(ctx, args[1:], stdout, stderr)
		case "fleet-demo":
			return fleetDemoCommand(ctx, args[1:], stdout, stderr)
		case "demo-upstream":
			return demoUpstreamCommand(ctx, args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("fusebox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts options
	var checkOnly bool
	fs.StringVar(&opts.Addr, "addr", "", "listen address (default 127.0.0.1:8080)")
	fs.StringVar(&opts.ConfigPath, "config", "", "YAML configuration file; without one the demo runs")
	fs.StringVar(&opts.DataDir, "data-dir", "", "directory of the durable store (default ./data)")
	fs.Var((*stringList)(&opts.Webhooks), "alert-webhook", "URL that receives alert notifications (repeatable)")
	fs.BoolVar(&checkOnly, "check-config", false, "validate the configuration and exit")
	addFleetFlags(fs, &opts.fleetOptions)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage:\n  app [flags]                   run Fusebox (the demo without --config)\n"+
			"  app rules --config FILE       print the Prometheus SLO rules of a configuration\n"+
			"  app hub [flags]               run the fleet hub (app hub --help)\n"+
			"  app fleet-demo                run a hub and 3 services × 3 instances joined to it\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	opts.AdminToken = os.Getenv("FUSEBOX_ADMIN_TOKEN")
	if checkOnly {
		if err := checkStartup(opts); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if opts.ConfigPath == "" {
			fmt.Fprintln(stdout, "no --config given: the demo configuration is valid")
		} else {
			fmt.Fprintf(stdout, "%s is valid\n", opts.ConfigPath)
		}
		return 0
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go onSignals(sigs, done, cancel, func() { os.Exit(130) }, opts.Logger)
	app, err := newApp(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := app.Run(ctx); err != nil {
		opts.Logger.Error("stopped", "err", err)
		return 1
	}
	return 0
}
