package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// Config configures an Agent.
type Config struct {
	// URL lists the NATS servers, comma-separated (nats://host:4222).
	// Required unless Conn is set.
	URL string
	// Conn is a connection to use instead of dialling URL; the agent does
	// not close it, but sets its reconnect handler (to read the bucket again
	// after a reconnection). Nil means dial URL.
	Conn *nats.Conn
	// Options are added to the agent's own when it dials URL: credentials
	// (nats.UserCredentials), TLS, a token.
	Options []nats.Option
	// Service names the service the instance belongs to. Required.
	Service string
	// Instance names the instance; empty means DefaultInstance().
	Instance string
	// Names sets the subject prefix; the zero value uses "fusebox".
	Names Names
	// Interval is the time between snapshots; zero means 1 s.
	Interval time.Duration
	// ReconnectWait and MaxReconnectWait bound the backoff between
	// reconnection attempts and bucket watches: it doubles from the first
	// up to the second, with jitter. Zero means 100 ms and 5 s.
	ReconnectWait, MaxReconnectWait time.Duration
	// Clock stamps the snapshots and judges whether a time-boxed override
	// has ended; nil means the system clock.
	Clock resilience.Clock
	// Logger logs; nil discards.
	Logger *slog.Logger
}

// AgentStats count what an agent did since it joined.
type AgentStats struct {
	// Published counts the snapshots published; PublishErrors those that
	// could not be.
	Published, PublishErrors uint64
	// Applied counts the overrides applied to a breaker and the kill
	// switches applied to a pipeline (and released).
	Applied uint64
	// Invalid counts the bucket entries that could not be read.
	Invalid uint64
	// Syncs counts the complete reads of the bucket (the first and one
	// after each reconnection).
	Syncs uint64
}

// Agent is an instance's member of the fleet. It is safe for concurrent
// use. Join starts one; Close (or the end of Join's context) stops it.
type Agent struct {
	cfg    Config
	reg    *resilience.Registry
	agg    *telemetry.Aggregator
	log    *slog.Logger
	nc     *nats.Conn
	ownsNC bool
	sub    *nats.Subscription

	ready     chan struct{}
	readyOnce sync.Once
	resync    chan struct{}
	stop      context.CancelFunc
	done      chan struct{}

	mu   sync.Mutex
	held map[targetKey]held  // the fleet overrides in force
	bad  map[uint64]struct{} // revisions of unreadable entries; run's only

	published, publishErrors, appliedN, invalid, syncs atomic.Uint64
}

// Join connects the instance to the fleet and returns its agent, which runs
// until ctx ends or Close is called. The connection is retried in the
// background when the servers cannot be reached, so Join fails only on a
// bad Config. Ready is closed once the overrides in the bucket have been
// read and applied.
func Join(ctx context.Context, cfg Config, reg *resilience.Registry, agg *telemetry.Aggregator) (*Agent, error) {
	if cfg.Instance == "" {
		cfg.Instance = DefaultInstance()
	}
	if err := validName("service", cfg.Service); err != nil {
		return nil, err
	}
	if err := validName("instance", cfg.Instance); err != nil {
		return nil, err
	}
	if cfg.URL == "" && cfg.Conn == nil {
		return nil, errors.New("fleet: Config.URL is empty: give the NATS server's URL")
	}
	if reg == nil || agg == nil {
		return nil, errors.New("fleet: Join needs a registry and an aggregator")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.ReconnectWait <= 0 {
		cfg.ReconnectWait = 100 * time.Millisecond
	}
	if cfg.MaxReconnectWait <= 0 {
		cfg.MaxReconnectWait = 5 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = resilience.SystemClock()
	}
	a := &Agent{
		cfg: cfg, reg: reg, agg: agg, log: cfg.Logger,
		ready: make(chan struct{}), resync: make(chan struct{}, 1), done: make(chan struct{}),
		held: make(map[targetKey]held), bad: make(map[uint64]struct{}),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("service", cfg.Service, "instance", cfg.Instance)
	a.nc = cfg.Conn
	if a.nc == nil {
		opts := append([]nats.Option{
			nats.Name("fusebox " + cfg.Service + "/" + cfg.Instance),
			nats.RetryOnFailedConnect(true),
			nats.MaxReconnects(-1),
			nats.CustomReconnectDelay(a.backoff),
			// Snapshots held while disconnected are stale when sent: keep few.
			nats.ReconnectBufSize(256 << 10),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				a.log.Warn("fleet: disconnected from NATS; keeping the overrides in force", "err", err)
			}),
		}, cfg.Options...)
		nc, err := nats.Connect(cfg.URL, opts...)
		if err != nil {
			return nil, fmt.Errorf("fleet: connecting to %s: %w", cfg.URL, err)
		}
		a.nc, a.ownsNC = nc, true
	}
	// Registered on a connection we may not own: the handler only signals.
	a.nc.SetReconnectHandler(func(*nats.Conn) {
		a.log.Info("fleet: reconnected to NATS; reading the overrides again")
		select {
		case a.resync <- struct{}{}:
		default:
		}
	})
	sub, err := a.nc.Subscribe(cfg.Names.Events(cfg.Service, cfg.Instance), a.answerEvents)
	if err != nil {
		a.closeConn()
		return nil, fmt.Errorf("fleet: subscribing to event requests: %w", err)
	}
	a.sub = sub
	ctx, a.stop = context.WithCancel(ctx)
	go a.run(ctx)
	return a, nil
}

// backoff returns the wait before reconnection attempt n (from 1).
func (a *Agent) backoff(n int) time.Duration {
	d := a.cfg.ReconnectWait << min(max(n-1, 0), 20)
	if d <= 0 || d > a.cfg.MaxReconnectWait {
		d = a.cfg.MaxReconnectWait
	}
	return d/2 + rand.N(d/2+1)
}

// Ready is closed once the agent has read the overrides bucket and applied
// what it holds for this instance.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Service and Instance return the agent's names.
func (a *Agent) Service() string  { return a.cfg.Service }
func (a *Agent) Instance() string { return a.cfg.Instance }

// Stats returns the agent's counters.
func (a *Agent) Stats() AgentStats {
	return AgentStats{
		Published: a.published.Load(), PublishErrors: a.publishErrors.Load(),
		Applied: a.appliedN.Load(), Invalid: a.invalid.Load(), Syncs: a.syncs.Load(),
	}
}

// Overrides returns the fleet breaker overrides in force on this instance,
// by pipeline name (Holds tells of the kill switches too).
func (a *Agent) Overrides() map[string]Override {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]Override)
	for k, v := range a.held {
		if k.policy == "" {
			out[k.pipeline] = v.o
		}
	}
	return out
}

// Close stops the agent and waits for it. The overrides it applied stay in
// force. It is safe to call more than once.
func (a *Agent) Close() error {
	a.stop()
	<-a.done
	return nil
}

func (a *Agent) closeConn() {
	if a.ownsNC {
		a.nc.Close()
	}
}

// run publishes snapshots and follows the bucket until ctx ends.
func (a *Agent) run(ctx context.Context) {
	defer close(a.done)
	defer a.closeConn()
	defer func() { _ = a.sub.Unsubscribe() }()
	snap := newSnapshotter(a)
	tick := time.NewTicker(a.cfg.Interval)
	defer tick.Stop()

	var (
		w        jetstream.KeyWatcher
		updates  <-chan jetstream.KeyValueEntry
		entries  = map[string]Override{} // the bucket as last synced
		pending  map[string]Override     // the bucket being read again
		attempts int
		retry    = time.NewTimer(0) // fires: (re)start the watch
	)
	stopWatch := func() {
		if w != nil {
			_ = w.Stop()
			w, updates, pending = nil, nil, nil
		}
	}
	defer stopWatch()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			a.publish(snap)
			a.apply(ctx, entries) // time-boxed overrides end, new pipelines
		case <-a.resync:
			stopWatch()
			retry.Reset(0)
		case <-retry.C:
			var err error
			w, err = a.watch(ctx)
			if err != nil {
				attempts++
				a.log.Debug("fleet: watching the overrides bucket", "err", err, "attempt", attempts)
				retry.Reset(a.backoff(attempts))
				continue
			}
			attempts = 0
			updates, pending = w.Updates(), map[string]Override{}
		case e, ok := <-updates:
			if !ok { // the subscription ended: start again
				w, updates, pending = nil, nil, nil
				attempts++
				retry.Reset(a.backoff(attempts))
				continue
			}
			if e == nil { // all the current values have arrived
				entries, pending = pending, nil
				a.syncs.Add(1)
				a.apply(ctx, entries)
				a.readyOnce.Do(func() { close(a.ready) })
				continue
			}
			target := entries
			if pending != nil {
				target = pending
			}
			a.record(target, e)
			if pending == nil {
				a.apply(ctx, entries)
			}
		}
	}
}

// watch starts watching this service's keys.
func (a *Agent) watch(ctx context.Context) (jetstream.KeyWatcher, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	js, err := jetstream.New(a.nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, a.cfg.Names.Bucket())
	if err != nil {
		return nil, fmt.Errorf("opening bucket %s: %w", a.cfg.Names.Bucket(), err)
	}
	return kv.Watch(ctx, a.cfg.Service+".>")
}

// record folds one bucket update into entries.
func (a *Agent) record(entries map[string]Override, e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		delete(entries, e.Key())
		return
	}
	o, err := parseOverride(e.Key(), e.Value(), e.Revision())
	if err != nil {
		// A watch may deliver an entry again (its consumer restarted):
		// count and log each revision once.
		if _, seen := a.bad[e.Revision()]; !seen {
			if len(a.bad) >= 1024 {
				clear(a.bad)
			}
			a.bad[e.Revision()] = struct{}{}
			a.invalid.Add(1)
			a.log.Warn("fleet: ignoring an overrides entry", "key", e.Key(), "err", err)
		}
		delete(entries, e.Key())
		return
	}
	if o.Service != a.cfg.Service || (o.Instance != "" && o.Instance != a.cfg.Instance) {
		delete(entries, e.Key())
		return
	}
	entries[e.Key()] = o
}

// apply brings every breaker and kind of policy in line with entries: the
// instance's own fleet override, else the service's, over the instance's
// own decision while it lasts (see layer).
func (a *Agent) apply(ctx context.Context, entries map[string]Override) {
	now := a.cfg.Clock.Now()
	want := make(map[targetKey]Override)
	for _, o := range entries {
		if !o.Active(now) {
			continue
		}
		k := targetKey{o.Pipeline, o.Policy}
		if cur, ok := want[k]; !ok || cur.Instance == "" {
			want[k] = o // the instance's own wins
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	pipelines := a.reg.List()
	for _, p := range pipelines {
		a.applyPipeline(ctx, p, want, now)
	}
	// Forget the overrides of pipelines that left the registry.
	if len(a.held) > 0 {
		names := make(map[string]bool, len(pipelines))
		for _, p := range pipelines {
			names[p.Name()] = true
		}
		for k := range a.held {
			if !names[k.pipeline] {
				delete(a.held, k)
			}
		}
	}
}

func scope(o Override) string {
	if o.Instance == "" {
		return "service"
	}
	return "instance"
}

// publish sends one snapshot.
func (a *Agent) publish(s *snapshotter) {
	data, err := s.next()
	if err == nil {
		err = a.nc.Publish(a.cfg.Names.Snapshot(a.cfg.Service, a.cfg.Instance), data)
	}
	if err != nil {
		a.publishErrors.Add(1)
		return
	}
	a.published.Add(1)
}

// EventsRequest asks an instance for a pipeline's recent events.
type EventsRequest struct {
	Pipeline string `json:"pipeline"`
	// Limit bounds the events returned, the latest kept; zero means 100.
	Limit int `json:"limit,omitempty"`
}

// EventsReply answers an EventsRequest.
type EventsReply struct {
	Instance string  `json:"instance"`
	Pipeline string  `json:"pipeline"`
	Events   []Event `json:"events"`
	Error    string  `json:"error,omitempty"`
}

// Event is a recent event of an instance, as sent to the hub.
type Event struct {
	Time     time.Time     `json:"time"`
	Kind     string        `json:"kind"`
	Call     uint64        `json:"call"`
	Attempt  int           `json:"attempt,omitempty"`
	Outcome  string        `json:"outcome,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Delay    time.Duration `json:"delay_ns,omitempty"`
	From     string        `json:"from,omitempty"`
	To       string        `json:"to,omitempty"`
	Reason   string        `json:"reason,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// maxEvents bounds the events of one reply.
const maxEvents = 500

// answerEvents replies to a recent-events request.
func (a *Agent) answerEvents(m *nats.Msg) {
	var req EventsRequest
	reply := EventsReply{Instance: a.cfg.Instance}
	if len(m.Data) > 4096 {
		reply.Error = "request too large"
	} else if err := json.Unmarshal(m.Data, &req); err != nil {
		reply.Error = "bad request: " + err.Error()
	} else {
		reply.Pipeline = req.Pipeline
		reply.Events, reply.Error = a.events(req)
	}
	data, err := json.Marshal(reply)
	if err == nil {
		err = m.Respond(data)
	}
	if err != nil {
		a.log.Debug("fleet: answering an events request", "err", err)
	}
}

func (a *Agent) events(req EventsRequest) ([]Event, string) {
	ps, err := a.agg.Pipeline(req.Pipeline)
	if err != nil {
		return nil, fmt.Sprintf("unknown pipeline %q", req.Pipeline)
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxEvents)
	recent := ps.Recent
	if len(recent) > limit {
		recent = recent[len(recent)-limit:]
	}
	out := make([]Event, 0, len(recent))
	for _, e := range recent {
		ev := Event{Time: e.Time, Kind: e.Kind.String(), Call: e.Call, Attempt: e.Attempt, Duration: e.Duration, Delay: e.Delay}
		switch e.Kind {
		case resilience.KindBreakerTransition:
			ev.From, ev.To = e.From.String(), e.To.String()
		case resilience.KindAttemptEnd, resilience.KindCallEnd:
			ev.Outcome = e.Outcome.String()
		}
		if e.Reason != resilience.ReasonNone {
			ev.Reason = e.Reason.String()
		}
		if e.Err != nil {
			ev.Error = e.Err.Error()
		}
		out = append(out, ev)
	}
	return out, ""
}
