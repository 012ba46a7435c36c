package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/slorules"
)

// rulesCommand prints the Prometheus recording and alerting rules of the
// configured SLOs (the demo's without --config). On an invalid config it
// writes nothing to stdout and exits 1.
func rulesCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fusebox rules", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file; without one the demo's SLOs are used")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg := &fileConfig{}
	if *configPath != "" {
		var err error
		if cfg, err = loadConfig(*configPath); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	out, err := generateRules(cfg.slos())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// generateRules turns SLOs into a Prometheus rule file.
func generateRules(slos []alerting.SLOConfig) ([]byte, error) {
	out, err := slorules.Generate(slos, slorules.Options{})
	var fe *slorules.FieldError
	if errors.As(err, &fe) {
		return nil, configErrors{{path: fmt.Sprintf("slos[%d].%s", fe.Index, fe.Field), msg: fmt.Sprintf("%v: %s", fe.Value, fe.Reason)}}
	}
	return out, err
}
