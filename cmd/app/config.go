package main

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/demo"
	"github.com/fusebox-dev/fusebox/resilience"
)

// fileConfig is the YAML configuration file. Every field is optional; an
// unknown field is an error.
type fileConfig struct {
	// noDemo keeps the demo from running (and its SLOs from applying): a
	// fleet hub runs no pipelines of its own.
	noDemo bool
	// read is the hash of the file's content it was loaded from; nil when
	// it was not loaded from a file.
	read *[sha256.Size]byte
	// Addr is the listen address; the --addr flag wins when given.
	Addr string `yaml:"addr"`
	// DataDir holds the store; the --data-dir flag wins when given.
	DataDir string `yaml:"data_dir"`
	// Title names the dashboard.
	Title string `yaml:"title"`
	// SecureCookies marks the session cookie Secure: set it when the
	// dashboard is served over TLS (behind a proxy that terminates it).
	SecureCookies bool `yaml:"secure_cookies"`
	// Pipelines are the pipelines to build. None means the demo runs.
	Pipelines []pipelineConfig `yaml:"pipelines"`
	// Demo runs the embedded demo beside the configured pipelines.
	Demo *demoConfig `yaml:"demo"`
	// SLOs are the service-level objectives; none in demo mode means the
	// demo's.
	SLOs []alerting.SLOConfig `yaml:"slos"`
	// Webhooks receive alert notifications, beside --alert-webhook URLs.
	Webhooks []alerting.WebhookConfig `yaml:"webhooks"`
	// Alerts tunes the notifications (alerting.go).
	Alerts *alertsConfig `yaml:"alerts"`
	// HTTP holds the server's timeouts (config_security.go).
	HTTP httpConfig `yaml:"http"`
	// UI holds who may see the dashboard and how much one client may ask
	// of it (config_security.go).
	UI uiSettings `yaml:"ui"`
	// Proxy is the gateway: routes through the pipelines to their
	// upstreams. Nil: no gateway.
	Proxy *proxyConfig `yaml:"proxy"`
	// Reload watches the file for changes (watch.go). Nil: only SIGHUP
	// and POST /api/v1/config/reload reload it.
	Reload *reloadConfig `yaml:"reload"`
}

type demoConfig struct {
	// Rate is the demo's load in calls per second; zero means 40.
	Rate float64 `yaml:"rate"`
}

// pipelineConfig is one pipeline. Its policies run in Order, outermost
// first; the default order is rate_limiter, bulkhead, breaker, retry, timeout, with
// timeout.call around them all.
type pipelineConfig struct {
	Name     string          `yaml:"name"`
	Upstream string          `yaml:"upstream"`
	Order    []string        `yaml:"order"`
	Retry    *retryConfig    `yaml:"retry"`
	Breaker  *breakerConfig  `yaml:"breaker"`
	Timeout  *timeoutConfig  `yaml:"timeout"`
	Bulkhead *bulkheadConfig `yaml:"bulkhead"`
	// RateLimiter refuses calls beyond a rate (policies.go).
	RateLimiter *rateLimiterConfig `yaml:"rate_limiter"`
	// AdaptiveLimit bounds the calls in flight by a limit that follows
	// latency (policies.go).
	AdaptiveLimit *adaptiveLimitConfig `yaml:"adaptive_limit"`
	// Hedge starts further attempts of slow idempotent requests.
	Hedge *hedgeConfig `yaml:"hedge"`
}

type retryConfig struct {
	MaxAttempts int           `yaml:"max_attempts"`
	MaxElapsed  time.Duration `yaml:"max_elapsed"`
	Backoff     struct {
		Base       time.Duration     `yaml:"base"`
		Multiplier float64           `yaml:"multiplier"`
		Max        time.Duration     `yaml:"max"`
		Jitter     resilience.Jitter `yaml:"jitter"`
	} `yaml:"backoff"`
	Budget struct {
		Disabled     bool          `yaml:"disabled"`
		Ratio        float64       `yaml:"ratio"`
		MinPerSecond float64       `yaml:"min_per_second"`
		Window       time.Duration `yaml:"window"`
	} `yaml:"budget"`

	// MaxRetryAfter bounds the Retry-After hints honoured (zero: 1 minute).
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
}

type breakerConfig struct {
	Window                string        `yaml:"window"`
	WindowSize            int           `yaml:"window_size"`
	WindowDuration        time.Duration `yaml:"window_duration"`
	FailureRateThreshold  float64       `yaml:"failure_rate_threshold"`
	SlowCallDuration      time.Duration `yaml:"slow_call_duration"`
	SlowCallRateThreshold float64       `yaml:"slow_call_rate_threshold"`
	MinimumCalls          int           `yaml:"minimum_calls"`
	HalfOpenProbes        int           `yaml:"half_open_probes"`
	OpenDuration          time.Duration `yaml:"open_duration"`
	OpenBackoff           float64       `yaml:"open_backoff"`
	MaxOpenDuration       time.Duration `yaml:"max_open_duration"`
}

type timeoutConfig struct {
	// Attempt bounds each attempt (inside the retry); Call the whole call.
	Attempt time.Duration `yaml:"attempt"`
	Call    time.Duration `yaml:"call"`
	// Adaptive makes the attempt timeout follow latency (policies.go).
	Adaptive *adaptiveTimeoutConfig `yaml:"adaptive"`
}

type bulkheadConfig struct {
	MaxConcurrent int           `yaml:"max_concurrent"`
	MaxQueue      int           `yaml:"max_queue"`
	MaxWait       time.Duration `yaml:"max_wait"`
}

// configErrors lists every problem of a configuration file.
type configErrors []fieldError

type fieldError struct {
	path string
	line int
	msg  string
}

func (e fieldError) String() string {
	if e.line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", e.path, e.msg, e.line)
	}
	return fmt.Sprintf("%s: %s", e.path, e.msg)
}

func (es configErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.String()
	}
	return "invalid configuration:\n  " + strings.Join(lines, "\n  ")
}

// loadConfig reads and validates the file at path.
func loadConfig(path string) (*fileConfig, error) { return loadConfigAs(path, false) }

// loadConfigAs reads and validates the configuration of an app, or of a
// fleet hub when hub is set (its SLOs name service/pipeline).
func loadConfigAs(path string, hub bool) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := parseConfigAs(b, hub)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(b)
	cfg.read = &h
	return cfg, nil
}

// parseConfig parses and validates a configuration, reporting every problem
// with its field path and line: a value of the wrong type does not hide
// the problems of the other fields.
func parseConfig(b []byte) (*fileConfig, error) { return parseConfigAs(b, false) }

// parseConfigAs is parseConfig for an app, or for a fleet hub when hub is
// set.
func parseConfigAs(b []byte, hub bool) (*fileConfig, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if root.Kind == 0 || len(root.Content) == 0 || root.Content[0].Tag == "!!null" {
		return nil, configErrors{{path: "config", line: 1,
			msg: "the file holds no settings (write {} to run the demo with the defaults)"}}
	}
	var errs configErrors
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		errs = append(errs, fieldError{path: "config", line: next.Line,
			msg: "a second YAML document starts here: keep the whole configuration in one document"})
	case !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	cfg := &fileConfig{noDemo: hub}
	lines := map[string]int{}
	checkFields(root.Content[0], reflect.TypeOf(*cfg), "", lines, &errs)
	if err := root.Decode(cfg); err != nil {
		// checkFields took every value that does not decode out of the
		// tree; anything left is reported as it is.
		return nil, append(errs, fieldError{path: "config", msg: err.Error()})
	}
	bad := make([]string, 0, len(errs))
	for _, e := range errs {
		bad = append(bad, e.path)
	}
	for _, e := range cfg.validate(lines) {
		// A value that did not decode was left at zero: do not report it
		// a second time for being zero.
		if !slices.ContainsFunc(bad, func(p string) bool { return within(e.path, p) }) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// within reports whether path is p or a field below it.
func within(path, p string) bool {
	return path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[")
}

// checkFields walks a YAML node against the type t, recording the line of
// every field path in lines and an error for every unknown or repeated
// field and every value that does not decode into its field's type. Such a
// value is replaced by null in the tree, so that decoding the rest
// succeeds and every other field can still be checked.
func checkFields(n *yaml.Node, t reflect.Type, path string, lines map[string]int, errs *configErrors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path == "" {
		lines["config"] = n.Line
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshaler):
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag != "" {
				fields[tag] = f.Type
			}
		}
		seen := map[string]int{}
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			p := joinPath(path, key.Value)
			if first, dup := seen[key.Value]; dup {
				*errs = append(*errs, fieldError{path: p, line: key.Line, msg: fmt.Sprintf("is given twice (first on line %d)", first)})
				continue
			}
			seen[key.Value] = key.Line
			lines[p] = key.Line
			ft, ok := fields[key.Value]
			if !ok {
				*errs = append(*errs, fieldError{path: p, line: key.Line, msg: "unknown field" + suggest(key.Value, fields)})
				continue
			}
			checkFields(val, ft, p, lines, errs)
			kept = append(kept, key, val)
		}
		n.Content = kept
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = item.Line
			checkFields(item, t.Elem(), p, lines, errs)
		}
	default:
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			if path == "" {
				path = "config"
			}
			*errs = append(*errs, fieldError{path: path, line: n.Line, msg: decodeMsg(n, t, err)})
			*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
		}
	}
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// decodeMsg says why the value of n does not decode into t, in the words
// of the configuration rather than of Go.
func decodeMsg(n *yaml.Node, t reflect.Type, err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := err.Error()
		if before, after, ok := strings.Cut(msg, ": "); ok && !strings.Contains(before, " ") {
			msg = after // "resilience: unknown jitter …" → "unknown jitter …"
		}
		return msg
	}
	got := n.Value
	switch n.Kind {
	case yaml.MappingNode:
		got = "a mapping"
	case yaml.SequenceNode:
		got = "a list"
	default:
		got = strconv.Quote(got)
	}
	return fmt.Sprintf("%s is not %s", got, kindWord(t))
}

// kindWord names what a field of type t takes.
func kindWord(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration (such as 300ms, 2s or 1h)"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return fmt.Sprintf("a whole number that fits in %d bits", t.Bits())
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "a mapping of fields"
	}
	return "a valid value"
}

func joinPath(path, key string) string {
	if key == "" {
		key = `""`
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func suggest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return " (known: " + strings.Join(names, ", ") + ")"
}

// validate checks the values and builds every pipeline once to let the
// policies validate their own settings.
func (c *fileConfig) validate(lines map[string]int) configErrors {
	var errs configErrors
	add := func(path, msg string) {
		errs = append(errs, fieldError{path: path, line: lineOf(path, lines), msg: msg})
	}
	if c.Demo != nil && (c.Demo.Rate < 0 || c.Demo.Rate > 10_000) {
		add("demo.rate", fmt.Sprintf("%v is outside [0, 10000]", c.Demo.Rate))
	}
	c.validateSecurity(add)
	c.Reload.validate(add)
	seen := map[string]bool{}
	for i, pc := range c.Pipelines {
		path := fmt.Sprintf("pipelines[%d]", i)
		switch {
		case strings.TrimSpace(pc.Name) == "":
			add(path+".name", "is required")
		case !validName.MatchString(pc.Name):
			add(path+".name", fmt.Sprintf("%q: use letters, digits, '.', '_', '-' and ':' only", pc.Name))
		case seen[pc.Name]:
			add(path+".name", fmt.Sprintf("%q is used by another pipeline", pc.Name))
		}
		seen[pc.Name] = true
		if _, err := buildPolicies(pc); err != nil {
			var list configErrors
			if !errors.As(err, &list) {
				list = configErrors{{path: "", msg: err.Error()}}
			}
			for _, fe := range list {
				p := path
				if fe.path != "" {
					p += "." + fe.path
				}
				add(p, fe.msg)
			}
		}
	}
	c.validateProxy(add)
	known := c.pipelineNames()
	sloNames := map[string]int{}
	for i, slo := range c.SLOs {
		path := fmt.Sprintf("slos[%d]", i)
		if c.noDemo {
			// A hub's SLOs are on the fleet's pipelines: service/pipeline.
			addAll(&errs, lines, path, slo.Validate(nil))
			c.validateHubSLO(path, slo, add)
		} else {
			addAll(&errs, lines, path, slo.Validate(known))
		}
		if first, dup := sloNames[slo.Name]; dup && slo.Name != "" {
			add(path+".name", fmt.Sprintf("%q is used by slos[%d]", slo.Name, first))
		} else {
			sloNames[slo.Name] = i
		}
	}
	hookNames := map[string]int{}
	for i, w := range c.Webhooks {
		path := fmt.Sprintf("webhooks[%d]", i)
		addAll(&errs, lines, path, w.Validate())
		if first, dup := hookNames[w.Name]; dup && w.Name != "" {
			add(path+".name", fmt.Sprintf("%q is used by webhooks[%d]", w.Name, first))
		} else {
			hookNames[w.Name] = i
		}
	}
	c.Alerts.validate(add)
	return errs
}

// addAll adds the field errors joined in err below path.
func addAll(errs *configErrors, lines map[string]int, path string, err error) {
	if err == nil {
		return
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	for _, e := range list {
		var fe *alerting.FieldError
		p, msg := path, e.Error()
		if errors.As(e, &fe) {
			p, msg = path+"."+fe.Field, fmt.Sprintf("%s (got %v)", fe.Msg, fe.Value)
		}
		*errs = append(*errs, fieldError{path: p, line: lineOf(p, lines), msg: msg})
	}
}

// demoMode reports whether the embedded demo runs: with no pipelines
// configured, or when asked for.
func (c *fileConfig) demoMode() bool { return !c.noDemo && (len(c.Pipelines) == 0 || c.Demo != nil) }

// pipelineNames lists the configured pipelines and the demo's.
func (c *fileConfig) pipelineNames() []string {
	var names []string
	for _, p := range c.Pipelines {
		names = append(names, p.Name)
	}
	if c.demoMode() {
		names = append(names, demo.Payments, demo.Inventory, demo.Shipping, demo.Recommendations)
	}
	return names
}

// slos returns the configured SLOs, or the demo's in demo mode when none
// are configured.
func (c *fileConfig) slos() []alerting.SLOConfig {
	if len(c.SLOs) > 0 || !c.demoMode() {
		return c.SLOs
	}
	var out []alerting.SLOConfig
	for _, s := range demo.SLOs() {
		sli := alerting.SLIAvailability
		if s.Kind == demo.SLOLatency {
			sli = alerting.SLILatency
		}
		out = append(out, alerting.SLOConfig{
			Name: s.Name, Pipeline: s.Pipeline, SLI: sli,
			Objective: s.Objective, Period: s.Period, LatencyThreshold: s.LatencyThreshold,
		})
	}
	return out
}

var validName = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

func (fe fieldError) Error() string { return fe.String() }

// lineOf returns the line of path, or of its nearest parent that has one.
func lineOf(path string, lines map[string]int) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// buildPolicies builds the policies of pc, outermost first. The settings
// the resilience package refuses come back as configErrors, one per policy
// (its first refused field), with YAML paths below the pipeline.
func buildPolicies(pc pipelineConfig) ([]resilience.Policy, error) {
	order := pc.Order
	if len(order) == 0 {
		order = defaultOrder()
	}
	var (
		out  []resilience.Policy
		errs configErrors
	)
	if pc.Timeout != nil && pc.Timeout.Call != 0 {
		t, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: pc.Timeout.Call})
		if err != nil {
			errs = append(errs, fieldError{path: "timeout.call", msg: policyMsg(err)})
		}
		out = append(out, t)
	}
	used := map[string]bool{}
	for i, name := range order {
		if used[name] {
			errs = append(errs, fieldError{path: fmt.Sprintf("order[%d]", i), msg: fmt.Sprintf("%q appears twice", name)})
			continue
		}
		used[name] = true
		var (
			p   resilience.Policy
			err error
		)
		switch name {
		case "adaptive_limit":
			if pc.AdaptiveLimit == nil {
				continue
			}
			p, err = pc.AdaptiveLimit.build()
		case "hedge":
			if pc.Hedge == nil {
				continue
			}
			p, err = pc.Hedge.build()
		case "rate_limiter":
			if pc.RateLimiter == nil {
				continue
			}
			p, err = resilience.NewRateLimiter(resilience.RateLimiterConfig(*pc.RateLimiter))
		case "bulkhead":
			if pc.Bulkhead == nil {
				continue
			}
			p, err = resilience.NewBulkhead(resilience.BulkheadConfig(*pc.Bulkhead))
		case "breaker":
			if pc.Breaker == nil {
				continue
			}
			p, err = newBreaker(*pc.Breaker)
		case "retry":
			if pc.Retry == nil {
				continue
			}
			r := pc.Retry
			p, err = resilience.NewRetry(resilience.RetryConfig{
				MaxAttempts: r.MaxAttempts,
				MaxElapsed:  r.MaxElapsed,
				Backoff:     resilience.BackoffConfig(r.Backoff),
				Budget:      resilience.BudgetConfig(r.Budget),

				MaxRetryAfter: r.MaxRetryAfter,
			})
		case "timeout":
			if pc.Timeout == nil || pc.Timeout.Attempt == 0 && pc.Timeout.Adaptive == nil {
				continue
			}
			p, err = resilience.NewTimeout(resilience.TimeoutConfig{Duration: pc.Timeout.Attempt, Adaptive: pc.Timeout.Adaptive.resilience()})
			if err != nil && pc.Timeout.Adaptive == nil {
				err = fieldError{path: "timeout.attempt", msg: policyMsg(err)}
			}
		default:
			err = fieldError{path: fmt.Sprintf("order[%d]", i), msg: fmt.Sprintf("unknown policy %q (want %s)", name, policyNames)}
		}
		var (
			ce *resilience.ConfigError
			fe fieldError
		)
		switch {
		case err == nil:
			out = append(out, p)
		case errors.As(err, &fe):
			errs = append(errs, fe)
		case errors.As(err, &ce):
			errs = append(errs, fieldError{path: snakePath(ce.Field), msg: policyMsg(err)})
		default:
			errs = append(errs, fieldError{path: name, msg: err.Error()})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func newBreaker(bc breakerConfig) (*resilience.Breaker, error) {
	var w resilience.WindowType
	switch bc.Window {
	case "", "count":
		w = resilience.WindowCount
	case "time":
		w = resilience.WindowTime
	default:
		return nil, fieldError{path: "breaker.window", msg: fmt.Sprintf("unknown window %q (want count or time)", bc.Window)}
	}
	return resilience.NewBreaker(resilience.BreakerConfig{
		Window:                w,
		WindowSize:            bc.WindowSize,
		WindowDuration:        bc.WindowDuration,
		FailureRateThreshold:  bc.FailureRateThreshold,
		SlowCallDuration:      bc.SlowCallDuration,
		SlowCallRateThreshold: bc.SlowCallRateThreshold,
		MinimumCalls:          bc.MinimumCalls,
		HalfOpenProbes:        bc.HalfOpenProbes,
		OpenDuration:          bc.OpenDuration,
		OpenBackoff:           bc.OpenBackoff,
		MaxOpenDuration:       bc.MaxOpenDuration,
	})
}

// policyMsg returns the reason of a policy's ConfigError without its field.
func policyMsg(err error) string {
	var ce *resilience.ConfigError
	if errors.As(err, &ce) {
		return fmt.Sprintf("%v %s", ce.Value, ce.Msg)
	}
	return err.Error()
}

// snakePath turns "Retry.Backoff.MaxOpen" into "retry.backoff.max_open".
func snakePath(field string) string {
	parts := strings.Split(field, ".")
	for i, p := range parts {
		var sb strings.Builder
		for j, r := range p {
			if unicode.IsUpper(r) {
				if j > 0 {
					sb.WriteByte('_')
				}
				r = unicode.ToLower(r)
			}
			sb.WriteRune(r)
		}
		parts[i] = sb.String()
	}
	return strings.Join(parts, ".")
}
