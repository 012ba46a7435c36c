// Package telemetry turns the events of resilience pipelines into live
// statistics: an Aggregator keeps rolling windows of counts, latency
// histograms, breaker timelines and recent events per pipeline, and hands
// out consistent snapshots of them.
//
// It imports only the standard library and resilience. The exporters and
// consumers of its figures live elsewhere: telemetry/promexport (the
// Prometheus collector and /metrics handler), telemetry/otelexport
// (OpenTelemetry traces and metrics) and alerting (SLOs, alert rules and
// webhook delivery).
package telemetry

import (
	"context"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-dev/fusebox/internal/callid"
	"github.com/fusebox-dev/fusebox/internal/fold"
	"github.com/fusebox-dev/fusebox/resilience"
)

// AggregatorConfig configures an Aggregator. The zero value works.
type AggregatorConfig struct {
	// Clock is read when a snapshot is taken, to place the windows; events
	// are placed by their own Time. Nil means resilience.SystemClock().
	Clock resilience.Clock
	// Policies reads the live figures of the breakers and retry budgets at
	// snapshot and scrape time (see RegistryReader). Nil leaves them out.
	Policies PolicyReader
	// Shards is the number of shards of a pipeline's hot state, a power of
	// two from 1 to 64: events of different calls land on different shards
	// so that concurrent calls do not contend. Zero means GOMAXPROCS rounded
	// up to a power of two, at most 4. Each shard costs about 8 KiB.
	Shards int
}

// Aggregator is a resilience.Observer and resilience.Binder that keeps live
// statistics per pipeline: rolling windows of counts, latency percentiles,
// breaker state and timeline, and recent events. Give it to pipelines in
// resilience.Config.Observers; each pipeline binds it once, and its events
// then go straight to the pipeline's state, without a lookup by name.
//
// Observing an event never blocks on a reader and never allocates; it reads
// no clock (the event's Time places it). Snapshot, Pipeline and the
// Prometheus collector read consistent copies. It is safe for concurrent use.
type Aggregator struct {
	clock    resilience.Clock
	policies PolicyReader
	shards   int

	mu     sync.RWMutex
	byName map[string]*pipeline
	sorted []*pipeline // by name; rebuilt when a pipeline is added
	// members counts the additions and removals of pipelines (Members).
	members atomic.Uint64

	subMu    sync.Mutex
	subs     atomic.Pointer[[]chan struct{}]
	lastTick atomic.Int64
}

// NewAggregator returns an aggregator, or an error naming an invalid field
// of cfg.
func NewAggregator(cfg AggregatorConfig) (*Aggregator, error) {
	a := &Aggregator{clock: cfg.Clock, policies: cfg.Policies, shards: cfg.Shards, byName: map[string]*pipeline{}}
	if a.clock == nil {
		a.clock = resilience.SystemClock()
	}
	switch {
	case a.shards == 0:
		a.shards = min(1<<bits.Len(uint(max(runtime.GOMAXPROCS(0), 1)-1)), 4)
	case a.shards < 0 || a.shards > 64 || a.shards&(a.shards-1) != 0:
		return nil, fmt.Errorf("telemetry: invalid AggregatorConfig.Shards = %d: must be a power of two from 1 to 64", cfg.Shards)
	}
	a.lastTick.Store(noSlot)
	return a, nil
}

// Bind returns the observer of the named pipeline's events. Binding a name
// twice is an error wrapping ErrAlreadyBound; an empty name is an error.
func (a *Aggregator) Bind(name string) (resilience.Observer, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("telemetry: invalid pipeline name %q: must not be empty", name)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.byName[name]
	switch {
	case p == nil:
		p = a.addLocked(name)
	case p.bound:
		return nil, fmt.Errorf("%w: %q", ErrAlreadyBound, name)
	}
	p.bound = true
	return p, nil
}

// Observe records e for the pipeline e.Pipeline, found by name. Pipelines
// bind the aggregator and skip this lookup; Observe serves observers chains
// that do not bind. A name seen here first can still be bound once.
func (a *Aggregator) Observe(ctx context.Context, e resilience.Event) {
	a.mu.RLock()
	p := a.byName[e.Pipeline]
	a.mu.RUnlock()
	if p == nil {
		if strings.TrimSpace(e.Pipeline) == "" {
			return
		}
		a.mu.Lock()
		if p = a.byName[e.Pipeline]; p == nil {
			p = a.addLocked(e.Pipeline)
		}
		a.mu.Unlock()
	}
	p.Observe(ctx, e)
}

func (a *Aggregator) addLocked(name string) *pipeline {
	p := newPipeline(a, name, a.clock.Now())
	a.insertLocked(p)
	return p
}

// insertLocked shows p, whose name nothing shows yet. The sorted slice is
// replaced, not modified: readers of list() keep the one they have.
func (a *Aggregator) insertLocked(p *pipeline) {
	a.byName[p.name] = p
	i, _ := slices.BinarySearchFunc(a.sorted, p.name, func(q *pipeline, n string) int { return strings.Compare(q.name, n) })
	a.sorted = slices.Insert(slices.Clip(a.sorted), i, p)
	a.members.Add(1)
}

// removeLocked stops showing p, which is shown, replacing the sorted slice
// as insertLocked does.
func (a *Aggregator) removeLocked(p *pipeline) {
	delete(a.byName, p.name)
	i := slices.Index(a.sorted, p)
	a.sorted = slices.Delete(slices.Clone(a.sorted), i, i+1)
	a.members.Add(1)
}

// list returns the pipelines sorted by name. The slice is shared: do not
// modify it.
func (a *Aggregator) list() []*pipeline {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.sorted
}

// Names returns the names of the pipelines, sorted.
func (a *Aggregator) Names() []string {
	l := a.list()
	out := make([]string, len(l))
	for i, p := range l {
		out[i] = p.name
	}
	return out
}

// Snapshot returns a copy of every pipeline's figures, sorted by name,
// without the detail fields (Hour, Recent, Breaker.Transitions).
func (a *Aggregator) Snapshot() Snapshot {
	now := a.clock.Now()
	l := a.list()
	s := Snapshot{Time: now, Pipelines: make([]PipelineSnapshot, len(l))}
	for i, p := range l {
		s.Pipelines[i] = p.snapshot(now, false)
	}
	return s
}

// Pipeline returns a copy of the named pipeline's figures with the detail
// fields, or an error wrapping ErrUnknownPipeline.
func (a *Aggregator) Pipeline(name string) (PipelineSnapshot, error) {
	a.mu.RLock()
	p := a.byName[name]
	a.mu.RUnlock()
	if p == nil {
		return PipelineSnapshot{}, fmt.Errorf("%w %q", ErrUnknownPipeline, name)
	}
	return p.snapshot(a.clock.Now(), true), nil
}

// Subscribe returns a channel that receives a tick when the figures change,
// and a function that ends the subscription. Ticks are coalesced: at most
// one waits in the channel, and a subscriber that does not keep up misses
// ticks instead of slowing anyone down. They come at most once per second of
// event time (when a second's counts are complete) and on every breaker
// transition; a live view should also refresh on its own timer while no
// traffic flows. The channel is never closed.
func (a *Aggregator) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	a.subMu.Lock()
	defer a.subMu.Unlock()
	var next []chan struct{}
	if old := a.subs.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, ch)
	a.subs.Store(&next)
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			a.subMu.Lock()
			defer a.subMu.Unlock()
			cur := *a.subs.Load()
			next := make([]chan struct{}, 0, len(cur))
			for _, c := range cur {
				if c != ch {
					next = append(next, c)
				}
			}
			a.subs.Store(&next)
		})
	}
}

// notify ticks every subscriber that has no tick waiting.
func (a *Aggregator) notify() {
	subs := a.subs.Load()
	if subs == nil {
		return
	}
	for _, ch := range *subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// secondDone ticks the subscribers the first time any pipeline completes a
// second at or after sec.
func (a *Aggregator) secondDone(sec int64) {
	if last := a.lastTick.Load(); sec > last && a.lastTick.CompareAndSwap(last, sec) {
		a.notify()
	}
}

// pipeline is the state of one pipeline, and the observer Bind returns.
type pipeline struct {
	agg   *Aggregator
	name  string
	start time.Time
	bound bool // guarded by agg.mu
	mask  uint64

	shards []shard
	// recent keeps the pipeline's recent events. Shards collect them in
	// batches and move a full batch here under recent.mu, so the cores
	// share its cache lines once per batch, not once per event.
	recent ring

	mu   sync.Mutex // guards hist; taken after a shard's mu, never before
	hist history
}

// shard is the hot state of a pipeline for a share of its calls: the
// counts of the second in progress, not yet folded into the history, and
// cumulative figures only the scrape reads.
type shard struct {
	mu sync.Mutex
	// sec is the second cur and lat belong to; dirty says they hold
	// something.
	sec                int64
	dirty              bool
	cur                counts32
	latLo, latHi       int
	latSum, backoffSum time.Duration
	lat                [latencyBuckets]uint32
	backoff            [backoffBuckets]uint64
	backLo, backHi     int // bound the buckets of backoff that may be non-zero
	attempts           [MaxAttemptsTracked]uint64
	pending            [recentBatch]record // recent events not yet in the ring
	npending           int
	_                  [64]byte
}

// recentBatch is how many recent events a shard collects before moving
// them to its pipeline's ring.
const recentBatch = 32

// ring is a circular buffer of recent events.
type ring struct {
	mu   sync.Mutex // taken after a shard's mu, never before
	recs [RecentEventsKept]record
	next uint64 // events written to recs
}

func newPipeline(a *Aggregator, name string, now time.Time) *pipeline {
	p := &pipeline{agg: a, name: name, start: now, mask: uint64(a.shards - 1), shards: make([]shard, a.shards)}
	p.hist.init(now)
	for i := range p.shards {
		sh := &p.shards[i]
		sh.sec = noSlot
		sh.latLo, sh.latHi = latencyBuckets, -1
		sh.backLo, sh.backHi = backoffBuckets, -1
	}
	return p
}

// Kinds tells the pipeline that attempt starts are not needed: an
// attempt's end carries its duration.
func (p *pipeline) Kinds() resilience.KindSet {
	return resilience.AllKinds &^ resilience.Kinds(resilience.KindAttemptStart)
}

// ObserveFolded records call end e with the end of the call's last
// attempt (see package internal/fold): one event and one lock for a call
// that succeeds at once.
func (p *pipeline) ObserveFolded(_ context.Context, e resilience.Event, last fold.Attempt) {
	p.record(&e, &last)
}

// Observe records e.
func (p *pipeline) Observe(_ context.Context, e resilience.Event) {
	if e.Kind == resilience.KindAttemptStart {
		return
	}
	p.record(&e, nil)
}

// record records e, and last, the end of the call's last attempt, when e
// is a call end that carries one. It takes the lock of one shard,
// uncontended unless two calls of the same shard end at once, and once per
// second of event time the pipeline's lock to fold the second into the
// history.
func (p *pipeline) record(e *resilience.Event, last *fold.Attempt) {
	// A call's id names the counter it was numbered on, the P it started
	// on (see package internal/callid): its shard.
	sh := &p.shards[callid.Stripe(e.Call)&p.mask]
	sec := e.Time.Unix()
	sh.mu.Lock()
	if sec != sh.sec {
		p.roll(sh, sec)
	}
	c := &sh.cur
	switch e.Kind {
	case resilience.KindAttemptEnd:
		if e.Outcome < resilience.NumOutcomes {
			c.attempts[e.Outcome]++
		}
	case resilience.KindCallEnd:
		if e.Outcome < resilience.NumOutcomes {
			c.calls[e.Outcome]++
		}
		if last != nil {
			if resilience.Outcome(last.Outcome) < resilience.NumOutcomes {
				c.attempts[last.Outcome]++
			}
			if !foldable(e, last) {
				sh.pending[sh.npending].setLastAttempt(e, last)
				p.kept(sh)
			}
		}
		i := bucketIndex(int64(e.Duration), latencyBits)
		sh.lat[i]++
		sh.latLo, sh.latHi = min(sh.latLo, i), max(sh.latHi, i)
		sh.latSum += e.Duration
		sh.attempts[min(max(e.Attempt, 1), MaxAttemptsTracked)-1]++
	case resilience.KindRetryScheduled:
		c.retries++
		i := bucketIndex(int64(e.Delay), backoffBits)
		sh.backoff[i]++
		sh.backLo, sh.backHi = min(sh.backLo, i), max(sh.backHi, i)
		sh.backoffSum += e.Delay
	case resilience.KindBudgetExhausted:
		c.rejections[RejectRetryBudget]++
	case resilience.KindRejected:
		switch e.Reason {
		case resilience.ReasonBreakerOpen:
			c.rejections[RejectBreakerOpen]++
		case resilience.ReasonBulkheadFull:
			c.rejections[RejectBulkheadFull]++
		case resilience.ReasonRetryBudget:
			c.rejections[RejectRetryBudget]++
		case resilience.ReasonRateLimited:
			c.rejections[RejectRateLimited]++
		case resilience.ReasonLimitExceeded:
			c.rejections[RejectConcurrencyLimit]++
		}
	case resilience.KindTimeout:
		if e.Scope < NumScopes {
			c.timeouts[e.Scope]++
		}
	case resilience.KindFallback:
		c.fallbacks++
	case resilience.KindBreakerTransition:
		p.mu.Lock()
		p.hist.breaker.transition(e)
		p.mu.Unlock()
	}
	sh.dirty = true
	sh.pending[sh.npending].set(e, last)
	p.kept(sh)
	sh.mu.Unlock()
	if e.Kind == resilience.KindBreakerTransition {
		p.agg.notify()
	}
}

// kept counts the recent event just written to sh.pending, and moves the
// batch to the ring once it is full. sh.mu is held.
func (p *pipeline) kept(sh *shard) {
	if sh.npending++; sh.npending == recentBatch {
		p.moveBatch(sh)
	}
}

// moveBatch moves sh's full batch of recent events to the ring.
func (p *pipeline) moveBatch(sh *shard) {
	p.recent.mu.Lock()
	p.recent.add(sh.pending[:])
	p.recent.mu.Unlock()
	sh.npending = 0
}

// roll moves sh to second sec, folding the second it held. sh.mu is held.
func (p *pipeline) roll(sh *shard, sec int64) {
	done := sh.sec
	if sh.dirty {
		p.fold(sh)
	}
	sh.sec = sec
	if done != noSlot && sec > done {
		p.agg.secondDone(done)
	}
}

// fold moves sh's second in progress into the history. sh.mu is held.
func (p *pipeline) fold(sh *shard) {
	p.mu.Lock()
	p.hist.fold(sh.sec, &sh.cur, &sh.lat, sh.latLo, sh.latHi, sh.latSum, sh.backoffSum)
	p.mu.Unlock()
	sh.cur = counts32{}
	if sh.latLo <= sh.latHi {
		clear(sh.lat[sh.latLo : sh.latHi+1])
	}
	sh.latLo, sh.latHi = latencyBuckets, -1
	sh.latSum, sh.backoffSum = 0, 0
	sh.dirty = false
}

// shardTotals are the cumulative figures kept in the shards.
type shardTotals struct {
	backoff  [backoffBuckets]uint64
	attempts [MaxAttemptsTracked]uint64
	// backLo and backHi bound the buckets of backoff that may be non-zero.
	backLo, backHi int
}

// flush folds every shard into the history and returns the figures kept in
// the shards; with recent, it also copies the recent events, the newest
// RecentEventsKept of those in the ring and the shards' batches.
func (p *pipeline) flush(recent bool) (t shardTotals, events []RecentEvent) {
	t.backLo, t.backHi = backoffBuckets, -1
	// The shards stay locked until the ring is read, so that no batch
	// moves to the ring in between and is copied twice.
	defer func() {
		for i := range p.shards {
			p.shards[i].mu.Unlock()
		}
	}()
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		if sh.dirty {
			p.fold(sh)
		}
		for j := sh.backLo; j <= sh.backHi; j++ {
			t.backoff[j] += sh.backoff[j]
		}
		t.backLo, t.backHi = min(t.backLo, sh.backLo), max(t.backHi, sh.backHi)
		for j, v := range sh.attempts {
			t.attempts[j] += v
		}
	}
	if !recent {
		return t, nil
	}
	recs := make([]record, 0, RecentEventsKept+len(p.shards)*recentBatch)
	for i := range p.shards {
		sh := &p.shards[i]
		recs = append(recs, sh.pending[:sh.npending]...)
	}
	p.recent.mu.Lock()
	recs = p.recent.appendTo(recs)
	p.recent.mu.Unlock()
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].time < recs[j].time })
	if len(recs) > RecentEventsKept {
		recs = recs[len(recs)-RecentEventsKept:]
	}
	events = make([]RecentEvent, 0, 2*len(recs))
	for i := range recs {
		events = recs[i].appendEvents(events)
	}
	if len(events) > RecentEventsKept {
		events = slices.Clip(events[len(events)-RecentEventsKept:])
	}
	return t, events
}

// snapshot copies the pipeline's figures as of now.
func (p *pipeline) snapshot(now time.Time, detail bool) PipelineSnapshot {
	st, recent := p.flush(detail)
	s := PipelineSnapshot{Name: p.name, Time: now, Bound: p.start, Recent: recent}
	s.Totals.AttemptsPerCall = st.attempts
	s.Totals.Backoff = histogramOf(st.backoff[:], backoffBits, 0)
	p.mu.Lock()
	h := &p.hist
	s.Totals.Counts = h.totals
	s.Totals.Latency = histogramOf(h.cumLat[:], latencyBits, h.latSum)
	s.Totals.Backoff.Sum = h.backoffSum
	s.Windows = h.windows(now)
	s.Seconds = h.seconds(now)
	if detail {
		s.Hour = h.hour(now)
	}
	s.Breaker = h.breaker.snapshot(now, detail)
	p.mu.Unlock()
	p.readPolicies(&s)
	return s
}

// readPolicies adds the live figures of the policies, outside any lock.
func (p *pipeline) readPolicies(s *PipelineSnapshot) {
	if p.agg.policies == nil {
		return
	}
	ps, ok := p.agg.policies.ReadPolicies(p.name)
	if !ok {
		return
	}
	s.Breaker.Live = ps.Breaker
	if ps.Budget != nil {
		s.Budget = &BudgetSnapshot{BudgetStatus: *ps.Budget, Headroom: ps.Budget.Headroom()}
	}
}
