package demo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []resilience.Event
}

func (r *recorder) Observe(_ context.Context, e resilience.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// count returns how many events of kind k each pipeline saw.
func (r *recorder) count(k resilience.Kind) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, e := range r.events {
		if e.Kind == k {
			out[e.Pipeline]++
		}
	}
	return out
}

func (r *recorder) matching(match func(resilience.Event) bool) []resilience.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []resilience.Event
	for _, e := range r.events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

// binder is an Observer that records which pipelines bound to it.
type binder struct {
	mu    sync.Mutex
	names []string
}

func (b *binder) Observe(context.Context, resilience.Event) {}

func (b *binder) Bind(name string) (resilience.Observer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.Contains(b.names, name) {
		return nil, fmt.Errorf("%q bound twice", name)
	}
	b.names = append(b.names, name)
	return b, nil
}

func newDemo(t *testing.T, cfg Config) *Demo {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

var names = []string{Payments, Inventory, Shipping, Recommendations}

func TestNewBuildsFourPipelinesWithDistinctPolicyMixes(t *testing.T) {
	d := newDemo(t, Config{})
	if d.Rate() != DefaultRate {
		t.Errorf("Rate() = %v, want the default %v", d.Rate(), DefaultRate)
	}
	want := map[string]string{
		Payments:        "*resilience.Breaker *resilience.Retry *resilience.Timeout",
		Inventory:       "*resilience.Bulkhead *resilience.Breaker *resilience.Timeout",
		Shipping:        "*resilience.Retry *resilience.Timeout",
		Recommendations: "*resilience.Retry *resilience.Timeout",
	}
	var got []string
	for i, p := range d.Pipelines() {
		got = append(got, p.Name())
		var mix string
		for j, pol := range p.Policies() {
			if j > 0 {
				mix += " "
			}
			mix += fmt.Sprintf("%T", pol)
		}
		if mix != want[p.Name()] {
			t.Errorf("pipeline %s policies = %s, want %s", p.Name(), mix, want[p.Name()])
		}
		if ds := d.Downstreams()[i]; ds.Name() != p.Name() {
			t.Errorf("Downstreams()[%d] = %s, want it to match pipeline %s", i, ds.Name(), p.Name())
		}
	}
	if !slices.Equal(got, names) {
		t.Errorf("Pipelines() = %v, want %v", got, names)
	}
	for _, pol := range d.Pipelines()[0].Policies() {
		if to, ok := pol.(*resilience.Timeout); ok && to.Scope() != resilience.ScopeAttempt {
			t.Errorf("payments timeout bounds the %s, want each attempt", to.Scope())
		}
	}
}

func TestNewBindsObserversToEveryPipeline(t *testing.T) {
	b := &binder{}
	newDemo(t, Config{Observers: []resilience.Observer{b}})
	if !slices.Equal(b.names, names) {
		t.Errorf("bound pipelines = %v, want %v", b.names, names)
	}
	if _, err := New(Config{Observers: []resilience.Observer{b}}); err == nil {
		t.Error("New with an observer that refuses to bind again = nil error, want the bind error")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"a negative rate is rejected", Config{Rate: -1}, "Config.Rate"},
		{"a NaN rate is rejected", Config{Rate: math.NaN()}, "Config.Rate"},
		{"an infinite rate is rejected", Config{Rate: math.Inf(1)}, "Config.Rate"},
		{"a rate above the maximum is rejected", Config{Rate: MaxRate + 1}, "Config.Rate"},
		{"a negative concurrency bound is rejected", Config{MaxConcurrent: -1}, "Config.MaxConcurrent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("New(%+v) = %v, want a *FieldError for %s", tc.cfg, err, tc.field)
			}
		})
	}
}

func TestDownstreamLookup(t *testing.T) {
	d := newDemo(t, Config{})
	for _, name := range names {
		ds, err := d.Downstream(name)
		if err != nil || ds.Name() != name {
			t.Errorf("Downstream(%q) = %v, %v", name, ds, err)
		}
	}
	_, err := d.Downstream("billing")
	if !errors.Is(err, ErrUnknownDownstream) {
		t.Errorf("Downstream(billing) error = %v, want ErrUnknownDownstream", err)
	}
}

func TestDownstreamsMisbehaveDistinctly(t *testing.T) {
	d := newDemo(t, Config{Clock: resiliencetest.NewClock(epoch)})
	payments, _ := d.Downstream(Payments)
	inventory, _ := d.Downstream(Inventory)
	shipping, _ := d.Downstream(Shipping)
	if payments.cfg.OutageFor != 0 || payments.ScheduledOutage() {
		t.Error("payments has an outage schedule: the demo must start healthy")
	}
	if inventory.cfg.SlowRate == 0 || inventory.cfg.SlowMin < time.Second {
		t.Error("inventory has no slow tail of a second or more")
	}
	if shipping.cfg.RateLimitRate == 0 || shipping.cfg.RetryAfter == 0 {
		t.Error("shipping does not rate limit with Retry-After")
	}
	for _, ds := range d.Downstreams() {
		if ds.Description() == "" {
			t.Errorf("%s has no description", ds.Name())
		}
	}
}

func TestSLOsAreValid(t *testing.T) {
	d := newDemo(t, Config{})
	slos := d.SLOs()
	if len(slos) == 0 {
		t.Fatal("no demo SLOs")
	}
	seen := map[string]bool{}
	for _, s := range slos {
		if seen[s.Name] {
			t.Errorf("SLO name %q is used twice", s.Name)
		}
		seen[s.Name] = true
		if !slices.Contains(names, s.Pipeline) {
			t.Errorf("SLO %s is on unknown pipeline %q", s.Name, s.Pipeline)
		}
		if !(s.Objective > 0 && s.Objective < 100) {
			t.Errorf("SLO %s objective %v is outside (0, 100)", s.Name, s.Objective)
		}
		if s.Period <= 0 || s.Period > 24*time.Hour {
			t.Errorf("SLO %s period %v, want a short demo period", s.Name, s.Period)
		}
		switch s.Kind {
		case SLOAvailability:
			if s.LatencyThreshold != 0 {
				t.Errorf("availability SLO %s has a latency threshold", s.Name)
			}
		case SLOLatency:
			if s.LatencyThreshold <= 0 {
				t.Errorf("latency SLO %s has no threshold", s.Name)
			}
		default:
			t.Errorf("SLO %s has unknown kind %q", s.Name, s.Kind)
		}
	}
	slos[0].Objective = 1
	if d.SLOs()[0].Objective == 1 {
		t.Error("SLOs() returns shared data that callers can change")
	}
}

// caller returns a function making one call to the demo's pipeline i and
// settling it on clock.
func caller(d *Demo, i int, clock *stepClock) func() error {
	return func() error {
		done := make(chan error, 1)
		go func() { done <- d.targets[i].call(context.Background()) }()
		return clock.settle(done)
	}
}

func TestPaymentsBreakerOpensInAnOutageAndClosesAfter(t *testing.T) {
	clock := newStepClock()
	d := newDemo(t, Config{Clock: clock, Seed: 1})
	ds, _ := d.Downstream(Payments)
	breaker := d.Pipelines()[0].Breaker()
	call := caller(d, 0, clock)
	if err := ds.Set(Knobs{}); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := call(); err != nil {
			t.Fatalf("call to a healthy downstream = %v", err)
		}
	}

	if err := ds.Set(Knobs{Outage: true}); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for ; failed < 20; failed++ {
		err := call()
		if errors.Is(err, resilience.ErrOpen) {
			break
		}
		if !errors.Is(err, ErrOutage) {
			t.Fatalf("call in an outage = %v, want ErrOutage or ErrOpen", err)
		}
	}
	if got := breaker.State(); got != resilience.StateOpen {
		t.Fatalf("breaker is %s after %d failed calls, want open", got, failed)
	}
	t.Logf("the breaker opened after %d failed calls", failed)

	if err := ds.Set(Knobs{}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second) // the open duration
	for i := range 10 {
		if err := call(); err != nil {
			t.Fatalf("call %d after the outage = %v, want nil", i, err)
		}
	}
	if got := breaker.State(); got != resilience.StateClosed {
		t.Errorf("breaker is %s after the outage, want closed", got)
	}
}

func TestRecommendationsFallBackToTheStaleCache(t *testing.T) {
	clock := newStepClock()
	rec := &recorder{}
	d := newDemo(t, Config{Clock: clock, Observers: []resilience.Observer{rec}, Seed: 1})
	ds, _ := d.Downstream(Recommendations)
	call := caller(d, 3, clock)

	// Down before any success: nothing to fall back on.
	if err := ds.Set(Knobs{Outage: true}); err != nil {
		t.Fatal(err)
	}
	if err := call(); !errors.Is(err, ErrOutage) {
		t.Fatalf("call with a cold cache = %v, want ErrOutage", err)
	}
	// Healthy: one success per page fills the cache.
	if err := ds.Set(Knobs{}); err != nil {
		t.Fatal(err)
	}
	for range 3 + 4 {
		if err := call(); err != nil {
			t.Fatalf("call to a healthy downstream = %v", err)
		}
	}
	// Down again: every page is answered from the cache.
	if err := ds.Set(Knobs{Outage: true}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := call(); err != nil {
			t.Fatalf("call during an outage = %v, want the stale answer", err)
		}
	}
	fallbacks := rec.matching(func(e resilience.Event) bool {
		return e.Kind == resilience.KindFallback && e.Reason == resilience.ReasonFallbackStale
	})
	if len(fallbacks) != 4 {
		t.Errorf("%d stale-cache fallback events, want 4", len(fallbacks))
	}
}

func Example_knobs() {
	d, err := New(Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ds, err := d.Downstream(Payments)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ds.Set(Knobs{ErrorRate: 1.5}))
	fmt.Println(ds.Set(Knobs{ErrorRate: 0.5, LatencyMS: 200, JitterMS: 50}))
	fmt.Printf("%+v\n", ds.Knobs())
	// Output:
	// demo: invalid error_rate = 1.5: must be between 0 and 1
	// <nil>
	// {ErrorRate:0.5 LatencyMS:200 JitterMS:50 Outage:false}
}

func TestShippingRetriesWaitAsLongAsRetryAfterAsks(t *testing.T) {
	clock := newStepClock()
	rec := &recorder{}
	d := newDemo(t, Config{Clock: clock, Observers: []resilience.Observer{rec}})
	ds, _ := d.Downstream(Shipping)
	ds.cfg.RateLimitRate = 1 // every call is rate limited; set before any call
	if err := caller(d, 2, clock)(); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("call = %v, want ErrRateLimited once retries give up", err)
	}
	retries := rec.matching(func(e resilience.Event) bool { return e.Kind == resilience.KindRetryScheduled })
	if len(retries) == 0 {
		t.Fatalf("no retry was scheduled: %v", rec.matching(func(resilience.Event) bool { return true }))
	}
	for _, e := range retries {
		if e.Delay < time.Second {
			t.Errorf("retry %d waits %v, want at least the 1 s Retry-After", e.Attempt, e.Delay)
		}
	}
}

func TestInventoryBreakerOpensOnSlowCalls(t *testing.T) {
	clock := newStepClock()
	d := newDemo(t, Config{Clock: clock, Seed: 1})
	ds, _ := d.Downstream(Inventory)
	ds.cfg.SlowRate = 0                                   // only the knobs decide; set before any call
	if err := ds.Set(Knobs{LatencyMS: 700}); err != nil { // slow, yet within the 1 s timeout
		t.Fatal(err)
	}
	call := caller(d, 1, clock)
	calls := 0
	for ; calls < 40; calls++ {
		err := call()
		if errors.Is(err, resilience.ErrOpen) {
			break
		}
		if err != nil {
			t.Fatalf("slow call %d = %v, want nil", calls, err)
		}
	}
	if got := d.Pipelines()[1].Breaker().State(); got != resilience.StateOpen {
		t.Fatalf("breaker is %s after %d slow calls, want open", got, calls)
	}
	if calls < 20 {
		t.Errorf("breaker opened after %d calls, before its minimum of 20", calls)
	}
}
