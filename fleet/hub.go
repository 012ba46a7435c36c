package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// ErrUnknownService is wrapped by the error about a service the hub has
// never heard from.
var ErrUnknownService = errors.New("fleet: unknown service")

// ErrUnknownPipeline is wrapped by the error about a pipeline no instance
// of the service reports.
var ErrUnknownPipeline = errors.New("fleet: unknown pipeline")

// HubConfig configures a Hub.
type HubConfig struct {
	// Conn is the hub's NATS connection; the hub does not close it.
	// Required.
	Conn *nats.Conn
	// Names sets the subject prefix; the zero value uses "fusebox".
	Names Names
	// Clock judges instances stale and gone; nil means the system clock.
	Clock resilience.Clock
	// StaleAfter and GoneAfter: an instance without a snapshot for that
	// long is stale, then gone. Zero means 10 s and 60 s.
	StaleAfter, GoneAfter time.Duration
	// ForgetAfter drops a gone instance from the state that long after its
	// last snapshot; zero means 1 h.
	ForgetAfter time.Duration
	// MaxSnapshotBytes bounds a snapshot; zero means MaxSnapshotBytes.
	MaxSnapshotBytes int
	// Replicas is the replica count of the bucket and the stream on a
	// cluster; zero means 1.
	Replicas int
	// Logger logs; nil discards.
	Logger *slog.Logger
	// OnSnapshot, when set, is called with each snapshot taken in and the
	// hub's time of it, outside the hub's lock (SLOFeed feeds an SLO
	// engine). It must not keep s.
	OnSnapshot func(s *Snapshot, at time.Time)
}

// Drop reasons of HubStats.Dropped.
const (
	DropMalformed = iota // could not be decoded
	DropVersion          // another format version
	DropOversized        // over MaxSnapshotBytes
	DropMismatch         // subject and content name different senders
	NumDrops
)

var dropNames = [NumDrops]string{"malformed", "version", "oversized", "mismatch"}

// DropReason returns the name of drop reason i ("malformed").
func DropReason(i int) string {
	if i >= 0 && i < NumDrops {
		return dropNames[i]
	}
	return "unknown"
}

// HubStats count what a hub received.
type HubStats struct {
	// Received counts the snapshots taken in.
	Received uint64
	// Dropped counts the messages dropped, by reason (DropMalformed…).
	Dropped [NumDrops]uint64
	// LastLag is the age of the last snapshot when it arrived (hub clock
	// minus the instance's), an estimate that includes clock skew.
	LastLag time.Duration
}

// Hub keeps the fleet's state from the snapshots and writes the overrides.
// It is safe for concurrent use.
type Hub struct {
	cfg   HubConfig
	log   *slog.Logger
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	audit jetstream.Stream
	sub   *nats.Subscription

	mu        sync.Mutex
	services  map[string]*serviceState
	lastPrune time.Time

	subsMu sync.Mutex
	subs   map[chan struct{}]struct{}

	received atomic.Uint64
	dropped  [NumDrops]atomic.Uint64
	lastLag  atomic.Int64
}

// NewHub creates (or opens) the overrides bucket and the audit stream and
// starts taking in snapshots. Close stops it.
func NewHub(ctx context.Context, cfg HubConfig) (*Hub, error) {
	if cfg.Conn == nil {
		return nil, errors.New("fleet: HubConfig.Conn is nil")
	}
	if cfg.Clock == nil {
		cfg.Clock = resilience.SystemClock()
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 10 * time.Second
	}
	if cfg.GoneAfter <= 0 {
		cfg.GoneAfter = 60 * time.Second
	}
	if cfg.GoneAfter < cfg.StaleAfter {
		return nil, fmt.Errorf("fleet: GoneAfter %v is shorter than StaleAfter %v", cfg.GoneAfter, cfg.StaleAfter)
	}
	if cfg.ForgetAfter <= 0 {
		cfg.ForgetAfter = time.Hour
	}
	if cfg.MaxSnapshotBytes <= 0 {
		cfg.MaxSnapshotBytes = MaxSnapshotBytes
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	h := &Hub{cfg: cfg, log: cfg.Logger, services: make(map[string]*serviceState), subs: make(map[chan struct{}]struct{})}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if h.js, err = jetstream.New(cfg.Conn); err != nil {
		return nil, err
	}
	h.kv, err = h.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Names.Bucket(),
		Description: "Fusebox fleet breaker overrides and kill switches: <service>.<pipeline>[.policy=<policy>][.<instance>]",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: creating the overrides bucket %s: %w", cfg.Names.Bucket(), err)
	}
	h.audit, err = h.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Names.AuditStream(),
		Description: "Fusebox fleet audit log",
		Subjects:    []string{cfg.Names.AuditSubjects()},
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      365 * 24 * time.Hour,
		MaxMsgs:     1_000_000,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: creating the audit stream %s: %w", cfg.Names.AuditStream(), err)
	}
	if h.sub, err = cfg.Conn.Subscribe(cfg.Names.Snapshots(), h.receive); err != nil {
		return nil, fmt.Errorf("fleet: subscribing to snapshots: %w", err)
	}
	// A burst of instances must not have the server cut the hub off as a
	// slow consumer before it catches up.
	if err := h.sub.SetPendingLimits(1<<16, 256<<20); err != nil {
		_ = h.sub.Unsubscribe()
		return nil, err
	}
	// The server knows of the subscription once the flush returns, so no
	// snapshot published after NewHub returns is missed.
	flushCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cfg.Conn.FlushWithContext(flushCtx); err != nil {
		_ = h.sub.Unsubscribe()
		return nil, fmt.Errorf("fleet: subscribing to snapshots: %w", err)
	}
	return h, nil
}

// Close stops taking in snapshots (one being taken in finishes). The hub's
// views, overrides and audit stay readable while the connection lasts.
func (h *Hub) Close() error {
	if err := h.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		return err
	}
	return nil
}

// receive takes in one snapshot message; it runs on the subscription's
// goroutine.
func (h *Hub) receive(m *nats.Msg) {
	if err := h.Ingest(m.Subject, m.Data); err != nil {
		h.log.Debug("fleet: dropped a snapshot", "subject", m.Subject, "err", err)
	}
}

// Ingest takes in one encoded snapshot received on subject. A message that
// cannot be taken in is counted by reason and its error returned.
func (h *Hub) Ingest(subject string, data []byte) error {
	s, err := DecodeSnapshot(data, h.cfg.MaxSnapshotBytes)
	switch {
	case errors.Is(err, ErrTooLarge):
		h.dropped[DropOversized].Add(1)
		return err
	case errors.Is(err, ErrVersion):
		h.dropped[DropVersion].Add(1)
		return err
	case err != nil:
		h.dropped[DropMalformed].Add(1)
		return err
	}
	if subject != h.cfg.Names.Snapshot(s.Service, s.Instance) {
		h.dropped[DropMismatch].Add(1)
		return fmt.Errorf("fleet: snapshot of %s/%s on subject %s", s.Service, s.Instance, subject)
	}
	now := h.cfg.Clock.Now()
	h.received.Add(1)
	h.lastLag.Store(int64(now.Sub(s.Time)))
	h.mu.Lock()
	h.take(s, now)
	h.pruneLocked(now)
	h.mu.Unlock()
	if h.cfg.OnSnapshot != nil {
		h.cfg.OnSnapshot(s, now)
	}
	h.notify()
	return nil
}

// take folds s into the state; h.mu is held.
func (h *Hub) take(s *Snapshot, now time.Time) {
	svc := h.services[s.Service]
	if svc == nil {
		svc = &serviceState{instances: make(map[string]*instanceState), pipelines: make(map[string]*pipelineAgg)}
		h.services[s.Service] = svc
	}
	in := svc.instances[s.Instance]
	if in == nil {
		in = &instanceState{id: s.Instance, firstSeen: now, pipelines: make(map[string]*instancePipeline)}
		svc.instances[s.Instance] = in
	}
	switch {
	case in.seq != 0 && s.Seq > in.seq+1:
		in.lost += s.Seq - in.seq - 1
	case in.seq != 0 && s.Seq <= in.seq:
		// The instance restarted under the same id (or a duplicate):
		// start its sequence again.
	}
	in.seq, in.lastSeen, in.sentAt = s.Seq, now, s.Time
	sec := now.Unix()
	for i := range s.Pipelines {
		d := &s.Pipelines[i]
		ip := in.pipelines[d.Name]
		if ip == nil {
			ip = &instancePipeline{}
			in.pipelines[d.Name] = ip
		}
		ip.state, ip.override, ip.noBreaker = d.State, d.Override, d.NoBreaker
		ip.policies, ip.off, ip.fleetOff = d.Policies, d.Off, d.FleetOff
		ip.slots[sec%rateWindow].at(sec, false).add(d, false)
		pa := svc.pipelines[d.Name]
		if pa == nil {
			pa = &pipelineAgg{}
			svc.pipelines[d.Name] = pa
		}
		pa.slots[sec%latencyWindow].at(sec, true).add(d, true)
	}
}

// pruneLocked forgets instances silent for ForgetAfter, once a minute.
func (h *Hub) pruneLocked(now time.Time) {
	if now.Sub(h.lastPrune) < time.Minute {
		return
	}
	h.lastPrune = now
	for name, svc := range h.services {
		for id, in := range svc.instances {
			if now.Sub(in.lastSeen) >= h.cfg.ForgetAfter {
				delete(svc.instances, id)
			}
		}
		if len(svc.instances) == 0 {
			delete(h.services, name)
		}
	}
}

// Stats returns the hub's counters.
func (h *Hub) Stats() HubStats {
	st := HubStats{Received: h.received.Load(), LastLag: time.Duration(h.lastLag.Load())}
	for i := range st.Dropped {
		st.Dropped[i] = h.dropped[i].Load()
	}
	return st
}

// Subscribe returns a channel that receives a value (without blocking the
// hub: one is kept at most) after snapshots are taken in, and a function
// that ends the subscription.
func (h *Hub) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.subsMu.Lock()
	h.subs[ch] = struct{}{}
	h.subsMu.Unlock()
	return ch, func() {
		h.subsMu.Lock()
		delete(h.subs, ch)
		h.subsMu.Unlock()
	}
}

func (h *Hub) notify() {
	h.subsMu.Lock()
	defer h.subsMu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// stateOf returns the state of an instance last seen at seen.
func (h *Hub) stateOf(seen, now time.Time) InstanceState {
	switch age := now.Sub(seen); {
	case age >= h.cfg.GoneAfter:
		return InstanceGone
	case age >= h.cfg.StaleAfter:
		return InstanceStale
	}
	return InstanceUp
}

// Fleet returns every service with its instances and pipelines.
func (h *Hub) Fleet() FleetView {
	now := h.cfg.Clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	v := FleetView{Time: now, Services: make([]ServiceView, 0, len(h.services))}
	for name, svc := range h.services {
		v.Services = append(v.Services, h.serviceView(name, svc, now))
	}
	sort.Slice(v.Services, func(i, j int) bool { return v.Services[i].Name < v.Services[j].Name })
	return v
}

// Service returns one service, or an error wrapping ErrUnknownService.
func (h *Hub) Service(name string) (ServiceView, error) {
	now := h.cfg.Clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	svc := h.services[name]
	if svc == nil {
		return ServiceView{}, fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	return h.serviceView(name, svc, now), nil
}

// serviceView builds the view of one service; h.mu is held.
func (h *Hub) serviceView(name string, svc *serviceState, now time.Time) ServiceView {
	v := ServiceView{Name: name, Instances: make([]InstanceView, 0, len(svc.instances))}
	states := make(map[string]InstanceState, len(svc.instances))
	for id, in := range svc.instances {
		st := h.stateOf(in.lastSeen, now)
		states[id] = st
		switch st {
		case InstanceUp:
			v.Up++
		case InstanceStale:
			v.Stale++
		default:
			v.Gone++
		}
		v.Instances = append(v.Instances, InstanceView{ID: id, State: st, LastSeen: in.lastSeen, Age: now.Sub(in.lastSeen), Seq: in.seq, Lost: in.lost})
	}
	sort.Slice(v.Instances, func(i, j int) bool { return v.Instances[i].ID < v.Instances[j].ID })
	sec := now.Unix()
	names := make([]string, 0, len(svc.pipelines))
	for pn := range svc.pipelines {
		names = append(names, pn)
	}
	sort.Strings(names)
	for _, pn := range names {
		pa := svc.pipelines[pn]
		pv := PipelineView{Name: pn, Window: rateWindow * time.Second, LatencyWindow: latencyWindow * time.Second}
		pv.Counts, pv.Transitions = sumSlots(pa.slots[:], sec, rateWindow)
		fillRates(&pv, rateWindow)
		pv.Latency = percentiles(mergedLatency(pa.slots[:], sec, latencyWindow))
		for _, in := range v.Instances {
			ip := svc.instances[in.ID].pipelines[pn]
			if ip == nil || in.State == InstanceGone {
				continue
			}
			c, _ := sumSlots(ip.slots[:], sec, rateWindow)
			b := InstanceBreaker{
				Instance: in.ID, InstanceState: in.State, State: ip.state, Override: ip.override, NoBreaker: ip.noBreaker,
				Policies: ip.policies, Off: ip.off, FleetOff: ip.fleetOff,
				CallsPerSecond: float64(c.CallCount()) / rateWindow, SuccessRate: c.EffectiveSuccessRate(),
			}
			pv.Instances++
			pv.HasBreaker = pv.HasBreaker || !b.NoBreaker
			pv.Policies |= b.Policies
			if b.Open() {
				pv.Open++
			}
			pv.Breakers = append(pv.Breakers, b)
		}
		if pv.Instances == 0 && pv.Counts.CallCount() == 0 {
			continue // only gone instances report it
		}
		v.Pipelines = append(v.Pipelines, pv)
	}
	return v
}

func fillRates(pv *PipelineView, secs float64) {
	c := &pv.Counts
	pv.CallsPerSecond = float64(c.CallCount()) / secs
	pv.SuccessRate = c.EffectiveSuccessRate()
	pv.RetriesPerSecond = float64(c.Retries) / secs
	pv.RejectionsPerSecond = float64(c.RejectionCount()) / secs
}

// percentiles reads the percentiles of a merged histogram.
func percentiles(h telemetry.Histogram) (p telemetry.Percentiles) {
	p.Count = h.Count
	if h.Count == 0 {
		return p
	}
	p.P50, p.P90, p.P99, p.P999 = h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99), h.Quantile(0.999)
	last := h.Buckets[len(h.Buckets)-1]
	p.Max = last.Lower + (last.Upper-last.Lower)/2
	return p
}

// Pipeline returns one pipeline of a service, or an error wrapping
// ErrUnknownService or ErrUnknownPipeline.
func (h *Hub) Pipeline(service, pipeline string) (PipelineView, error) {
	sv, err := h.Service(service)
	if err != nil {
		return PipelineView{}, err
	}
	for _, p := range sv.Pipelines {
		if p.Name == pipeline {
			return p, nil
		}
	}
	return PipelineView{}, fmt.Errorf("%w %q in service %q", ErrUnknownPipeline, pipeline, service)
}

// SetOverride writes o (a breaker override, or a kill switch when
// o.Policy is set) to the bucket, stamped with now, and appends its audit
// entry. Errors about o wrap ErrInvalidOverride or ErrInvalidName.
func (h *Hub) SetOverride(ctx context.Context, o Override) (Override, error) {
	o.Reason = strings.TrimSpace(o.Reason)
	if o.KillSwitch() {
		o.State = 0
	}
	if err := o.validate(); err != nil {
		return Override{}, err
	}
	now := h.cfg.Clock.Now()
	if !o.Until.IsZero() && !o.Until.After(now) {
		return Override{}, fmt.Errorf("%w: until %v is not after now", ErrInvalidOverride, o.Until.Format(time.RFC3339))
	}
	o.At = now
	data, err := o.marshal()
	if err != nil {
		return Override{}, err
	}
	if o.Revision, err = h.kv.Put(ctx, o.Key(), data); err != nil {
		return Override{}, fmt.Errorf("fleet: writing override %s: %w", o.Key(), err)
	}
	e := AuditEntry{
		Time: now, Actor: o.Actor, Action: "override.set", Service: o.Service, Pipeline: o.Pipeline,
		Instance: o.Instance, State: o.State.String(), Reason: o.Reason, Until: o.Until,
	}
	if o.KillSwitch() {
		e.Action, e.Policy, e.State = "killswitch.off", o.Policy, stateOff
	}
	return o, h.appendAudit(ctx, e)
}

// Release deletes the override that o names (its Service, Pipeline,
// Instance and Policy: a breaker's, or a kill switch's, which switches the
// policy back on) and appends its audit entry with o.Actor and o.Reason.
// Releasing what is not there is not an error (and is audited all the
// same).
func (h *Hub) Release(ctx context.Context, o Override) error {
	o.Reason = strings.TrimSpace(o.Reason)
	if err := o.validateKey(); err != nil {
		return err
	}
	if err := validReason(o.Reason); err != nil {
		return err
	}
	if err := h.kv.Delete(ctx, o.Key()); err != nil {
		return fmt.Errorf("fleet: deleting override %s: %w", o.Key(), err)
	}
	e := AuditEntry{
		Time: h.cfg.Clock.Now(), Actor: o.Actor, Action: "override.release", Service: o.Service, Pipeline: o.Pipeline,
		Instance: o.Instance, State: "auto", Reason: o.Reason,
	}
	if o.KillSwitch() {
		e.Action, e.Policy, e.State = "killswitch.on", o.Policy, "on"
	}
	return h.appendAudit(ctx, e)
}

func (h *Hub) appendAudit(ctx context.Context, e AuditEntry) error {
	e.Time = e.Time.UTC()
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := h.js.Publish(ctx, h.cfg.Names.Audit(e.Service), data); err != nil {
		return fmt.Errorf("fleet: appending to the audit stream: %w", err)
	}
	return nil
}

// Overrides returns the overrides in the bucket, sorted by key, including
// time-boxed ones that have ended but were not released.
func (h *Hub) Overrides(ctx context.Context) ([]Override, error) {
	lister, err := h.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Override, 0, len(keys))
	for _, k := range keys {
		e, err := h.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		o, err := parseOverride(k, e.Value(), e.Revision())
		if err != nil {
			h.log.Warn("fleet: unreadable overrides entry", "key", k, "err", err)
			continue
		}
		out = append(out, o)
	}
	return out, nil
}

// Audit returns the last (at most limit) audit entries, newest first.
func (h *Hub) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	info, err := h.audit.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []AuditEntry
	for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0 && len(out) < limit; seq-- {
		m, err := h.audit.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var e AuditEntry
		if err := json.Unmarshal(m.Data, &e); err != nil {
			continue
		}
		e.Seq = seq
		out = append(out, e)
	}
	return out, nil
}

// RecentEvents asks one instance for a pipeline's recent events (at most
// limit, zero meaning 100), waiting at most until ctx ends.
func (h *Hub) RecentEvents(ctx context.Context, service, instance, pipeline string, limit int) ([]Event, error) {
	if err := validName("service", service); err != nil {
		return nil, err
	}
	if err := validName("instance", instance); err != nil {
		return nil, err
	}
	req, err := json.Marshal(EventsRequest{Pipeline: pipeline, Limit: limit})
	if err != nil {
		return nil, err
	}
	m, err := h.cfg.Conn.RequestWithContext(ctx, h.cfg.Names.Events(service, instance), req)
	if err != nil {
		return nil, fmt.Errorf("fleet: asking %s/%s for recent events: %w", service, instance, err)
	}
	var r EventsReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return nil, fmt.Errorf("fleet: reply of %s/%s: %w", service, instance, err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("fleet: %s/%s: %s", service, instance, r.Error)
	}
	return r.Events, nil
}
