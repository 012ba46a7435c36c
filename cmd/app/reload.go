package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fusebox-dev/fusebox/gateway"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/store"
	"github.com/fusebox-dev/fusebox/ui"
)

// errNoConfigFile is returned by a reload of an app started without
// --config.
var errNoConfigFile = errors.New("no configuration file to reload: the app was started without --config")

// reloader re-reads the configuration file and applies its pipelines (and
// the gateway's routes) without a restart. It is safe for concurrent use.
type reloader struct {
	a       *app
	reloads *prometheus.CounterVec
	// mu serializes reloads; inForce is the configuration of the
	// configured pipelines now, and bound the observers each name was
	// bound to, kept when a pipeline is removed so that it can come back
	// (all but the aggregator's: a pipeline that comes back starts afresh
	// on the dashboard).
	mu      sync.Mutex
	inForce map[string]pipelineConfig
	bound   map[string][]resilience.Observer
	// drains wait for removed pipelines to drain (drain.go); stopped is
	// set, under mu, once the app stops waiting for them. draining holds
	// the removed pipelines that still show, by name, under drainMu.
	drains   sync.WaitGroup
	drainMu  sync.Mutex
	draining map[string]*resilience.Pipeline
	stop     chan struct{}
	stopped  bool
	// settled, when a test sets it (under mu), receives each removed
	// pipeline once its wait has ended and acted.
	settled chan<- *resilience.Pipeline
	// loaded is the hash of the content the latest reload read, or the
	// app started with (watch.go); watch watches the file, when the
	// configuration asks for it.
	loaded atomic.Pointer[[sha256.Size]byte]
	watch  *fileWatch
	// refused is the error of the latest reload if it was refused;
	// pending the changes of the latest reload that applied which wait
	// for a restart.
	refused atomic.Pointer[string]
	pending atomic.Pointer[[]string]
}

// Refused returns the error of the latest reload if it was refused.
func (r *reloader) Refused() string {
	if s := r.refused.Load(); s != nil {
		return *s
	}
	return ""
}

// Pending returns the changes of the latest reload that applied which
// take effect only at the next restart ("slos changed: applies at the
// next restart").
func (r *reloader) Pending() []string {
	if p := r.pending.Load(); p != nil {
		return *p
	}
	return nil
}

func newReloader(a *app) *reloader {
	r := &reloader{
		a: a,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fusebox_config_reloads_total",
			Help: "Configuration reloads by result: success, or failure (the configuration in force stays).",
		}, []string{"result"}),
		inForce:  map[string]pipelineConfig{},
		bound:    map[string][]resilience.Observer{},
		stop:     make(chan struct{}),
		draining: map[string]*resilience.Pipeline{},
	}
	r.reloads.WithLabelValues("success")
	r.reloads.WithLabelValues("failure")
	r.startWatch()
	for _, pc := range a.cfg.Pipelines {
		r.inForce[pc.Name] = pc
		if p, err := a.registry.Get(pc.Name); err == nil {
			r.bound[pc.Name] = p.Observers()
		}
	}
	return r
}

// Reload re-reads the configuration file. A file with any error changes
// nothing: the error is returned (and audited, and counted as a failure).
// Otherwise an unchanged pipeline keeps everything; a changed one is
// rebuilt and its breaker carries on from the old one's state when its
// window keeps its shape (the audit entry says when it had to start
// afresh), and its kill switches and breaker override carry over; new
// pipelines appear and removed ones leave the registry, while calls in
// flight finish on the pipeline they started on. Changes outside the
// pipelines and the gateway's routes take effect at the next start: the
// report's Notes, the audit entry and Pending name each such section.
func (r *reloader) Reload(ctx context.Context, actor string) (ui.ReloadReport, error) {
	return r.apply(ctx, actor, nil)
}

// apply reloads the configuration data holds, or the file's when data is
// nil, as Reload describes.
func (r *reloader) apply(ctx context.Context, actor string, data []byte) (ui.ReloadReport, error) {
	rep, err := r.reload(ctx, actor, data)
	if err != nil && !errors.Is(err, errNoConfigFile) {
		err = fmt.Errorf("%w: %w", ui.ErrReloadInvalid, err)
	}
	if err != nil {
		r.reloads.WithLabelValues("failure").Inc()
		msg := truncate(err.Error(), 2000)
		r.refused.Store(&msg)
		entry := store.AuditEntry{At: r.a.opts.Clock.Now(), Actor: actor, Action: "config.reload_failed", Reason: msg, Detail: msg}
		if _, aerr := r.a.store.AppendAudit(entry); aerr != nil {
			r.a.log.Error("auditing a failed reload", "err", aerr)
		}
		r.a.log.Warn("configuration reload refused; the configuration in force stays", "err", err)
		return rep, err
	}
	r.reloads.WithLabelValues("success").Inc()
	r.refused.Store(nil)
	r.pending.Store(&rep.Notes)
	return rep, nil
}

func (r *reloader) reload(ctx context.Context, actor string, data []byte) (ui.ReloadReport, error) {
	var rep ui.ReloadReport
	if r.a.opts.ConfigPath == "" {
		return rep, errNoConfigFile
	}
	if data == nil {
		var err error
		if data, err = os.ReadFile(r.a.opts.ConfigPath); err != nil {
			return rep, fmt.Errorf("reading config: %w", err)
		}
	}
	r.tried(data)
	cfg, err := parseConfigAs(data, r.a.opts.hub != nil)
	if err != nil {
		return rep, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	reg := r.a.registry
	// Build every changed pipeline, then check the routes, before
	// anything changes.
	type change struct {
		pc     pipelineConfig
		p, old *resilience.Pipeline
		// fresh is the aggregator's observer of a pipeline bound afresh
		// (Aggregator.Prepare): it shows only once the reload commits.
		fresh resilience.Observer
	}
	var changes []change
	next := map[string]pipelineConfig{}
	for _, pc := range cfg.Pipelines {
		next[pc.Name] = pc
		prev, had := r.inForce[pc.Name]
		if had && reflect.DeepEqual(prev, pc) {
			rep.Unchanged = append(rep.Unchanged, pc.Name)
			continue
		}
		if !had {
			if _, err := reg.Get(pc.Name); err == nil {
				return rep, fmt.Errorf("pipeline %q: the name is taken by a pipeline of the demo", pc.Name)
			}
		}
		policies, err := buildPolicies(pc)
		if err != nil {
			return rep, fmt.Errorf("pipeline %q: %w", pc.Name, err)
		}
		// Nothing outside this reload changes before it commits: the
		// aggregator's observer of a pipeline bound afresh is only
		// prepared, and shown at the commit.
		c := change{pc: pc}
		observers, seen := r.bound[pc.Name]
		if had {
			c.old, _ = reg.Get(pc.Name)
		} else {
			// New, or back after an earlier reload removed it: the other
			// observers keep their binding, the aggregator binds it
			// afresh, so that it starts from nothing.
			if !seen {
				if observers, err = r.a.observers(); err != nil {
					return rep, err
				}
			}
			if c.fresh, err = r.a.agg.Prepare(pc.Name); err != nil {
				return rep, err
			}
			observers = append([]resilience.Observer{c.fresh}, observers[1:]...)
		}
		if c.p, err = resilience.New(pc.Name, resilience.Config{Policies: policies, Observers: observers, Clock: r.a.opts.Clock}); err != nil {
			return rep, err
		}
		if !seen {
			// The other observers are bound for good: a pipeline of this
			// name built later reuses their binding.
			r.bound[pc.Name] = c.p.Observers()
		}
		changes = append(changes, c)
	}
	var routes []gateway.Route
	if r.a.gateway != nil {
		byName := map[string]*resilience.Pipeline{}
		for _, c := range changes {
			byName[c.pc.Name] = c.p
		}
		var missing []string
		routes = cfg.routeSpecs(func(name string) *resilience.Pipeline {
			if p, ok := byName[name]; ok {
				return p
			}
			if _, ok := next[name]; ok || r.a.demo != nil {
				if p, err := reg.Get(name); err == nil {
					return p
				}
			}
			missing = append(missing, name)
			return nil
		})
		if len(missing) > 0 {
			return rep, fmt.Errorf("proxy.routes: unknown pipelines %s", strings.Join(missing, ", "))
		}
		if err := gateway.CheckRoutes(routes); err != nil {
			return rep, fmt.Errorf("proxy.routes: %w", err)
		}
	}
	rep.Notes = restartNotes(r.a.cfg, cfg)

	// Commit.
	now := r.a.opts.Clock.Now()
	audit := func(action, pipeline, detail string) {
		e := store.AuditEntry{At: now, Actor: actor, Action: action, Pipeline: pipeline, Reason: truncate(detail, 2000), Detail: detail}
		if _, err := r.a.store.AppendAudit(e); err != nil {
			r.a.log.Error("auditing a reload", "err", err)
		}
	}
	for _, c := range changes {
		if c.old == nil {
			// New, or back (perhaps while the earlier one drains): it
			// shows from nothing, in place of the earlier one.
			r.setDraining(c.pc.Name, nil)
			r.a.agg.Install(c.fresh)
			r.bound[c.pc.Name] = c.p.Observers()
			reg.Replace(c.p)
			rep.Added = append(rep.Added, c.pc.Name)
			audit("config.pipeline_added", c.pc.Name, c.p.String())
			continue
		}
		detail := "rebuilt: " + c.p.String()
		if nb, ob := c.p.Breaker(), c.old.Breaker(); nb != nil && ob != nil {
			if nb.Adopt(ob) {
				detail += "; breaker state and window kept"
			} else {
				detail += "; breaker reset: its window changed shape (an override in force is kept)"
				rep.Reset = append(rep.Reset, c.pc.Name)
			}
		}
		if dropped := c.p.AdoptKillSwitches(c.old); len(dropped) > 0 {
			detail += "; kill switches of policies it no longer has dropped: " + resilience.PolicyKindNames(dropped)
		}
		reg.Replace(c.p)
		rep.Changed = append(rep.Changed, c.pc.Name)
		audit("config.pipeline_changed", c.pc.Name, detail)
	}
	for name := range r.inForce {
		if _, ok := next[name]; !ok {
			if old, err := reg.Remove(name); err == nil {
				rep.Removed = append(rep.Removed, name)
				audit("config.pipeline_removed", name, r.drain(old, actor))
			}
		}
	}
	if r.a.gateway != nil {
		if err := r.a.gateway.gw.SetRoutes(routes); err != nil {
			rep.Notes = append(rep.Notes, "proxy routes not replaced: "+err.Error())
		}
	}
	r.inForce = next
	sort.Strings(rep.Removed)
	audit("config.reload", "", reloadSummary(rep))
	r.a.log.Info("configuration reloaded", "unchanged", rep.Unchanged, "changed", rep.Changed, "added", rep.Added, "removed", rep.Removed)
	return rep, nil
}

// run reloads the configuration on every SIGHUP, and when the watched
// file changes, until ctx ends; then it stops waiting for removed
// pipelines to drain.
func (r *reloader) run(ctx context.Context) {
	defer r.stopDrains()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP)
	defer signal.Stop(sigs)
	w := r.watch
	var tick <-chan time.Time
	if w != nil {
		tick = w.timer.C()
		defer func() { w.timer.Stop() }()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sigs:
			_, _ = r.Reload(ctx, "SIGHUP")
		case <-tick:
			// The next timer first: a test that sees this poll's result
			// may move the clock at once.
			w.timer = r.a.opts.Clock.NewTimer(w.every)
			tick = w.timer.C()
			reloaded := w.poll(ctx)
			if w.polled != nil {
				w.polled <- reloaded
			}
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
