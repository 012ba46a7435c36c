package resilience_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func TestPipelineReportsASuccessfulCall(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var log eventLog
	p := mustPipeline(t, "p", resilience.Config{Observers: []resilience.Observer{&log}, Clock: clk})
	for range 2 {
		if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	want := []resilience.Kind{
		resilience.KindAttemptStart, resilience.KindAttemptEnd, resilience.KindCallEnd,
		resilience.KindAttemptStart, resilience.KindAttemptEnd, resilience.KindCallEnd,
	}
	if got := log.kinds(); !equalSlices(got, want) {
		t.Fatalf("kinds = %v, want %v", got, want)
	}
	all := log.all()
	for i, e := range all {
		if e.Pipeline != "p" || e.Call == 0 || e.Call != all[i/3*3].Call || e.Attempt != 1 || !e.Time.Equal(epoch) {
			t.Errorf("event %d = %+v, want pipeline p, the id of call %d, attempt 1 at %v", i, e, i/3+1, epoch)
		}
	}
	if all[0].Call == all[3].Call {
		t.Errorf("call ids %d then %d, want one id per call", all[0].Call, all[3].Call)
	}
}

func TestPipelineCallsEveryObserverInOrder(t *testing.T) {
	var order []string
	obs := func(name string) resilience.Observer {
		return resilience.ObserverFunc(func(_ context.Context, e resilience.Event) {
			if e.Kind == resilience.KindCallEnd {
				order = append(order, name)
			}
		})
	}
	p := mustPipeline(t, "p", resilience.Config{Observers: []resilience.Observer{obs("a"), obs("b")}})
	_ = resilience.Run(context.Background(), p, func(context.Context) error { return nil })
	if strings.Join(order, ",") != "a,b" {
		t.Errorf("order = %v, want a,b", order)
	}
}

// binder records the names it binds and refuses the second bind of a name.
type binder struct{ names []string }

func (b *binder) Observe(context.Context, resilience.Event) {}

func (b *binder) Bind(name string) (resilience.Observer, error) {
	for _, n := range b.names {
		if n == name {
			return nil, errors.New("bound already")
		}
	}
	b.names = append(b.names, name)
	return b, nil
}

func TestNewRejectsInvalidPipelines(t *testing.T) {
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{}))
	mustPipeline(t, "owner", resilience.Config{Policies: []resilience.Policy{retry}})
	b := &binder{}
	mustPipeline(t, "bound", resilience.Config{Observers: []resilience.Observer{b}})
	var nilRetry *resilience.Retry
	tests := []struct {
		name    string
		pName   string
		cfg     resilience.Config
		wantErr string
	}{
		{"an empty name", " ", resilience.Config{}, "Pipeline.Name"},
		{"a nil policy", "p", resilience.Config{Policies: []resilience.Policy{nilRetry}}, "Pipeline.Policies[0]"},
		{"a policy of another pipeline", "p", resilience.Config{Policies: []resilience.Policy{retry}}, "already belongs to pipeline owner"},
		{"a nil observer", "p", resilience.Config{Observers: []resilience.Observer{nil}}, "Pipeline.Observers[0]"},
		{"an observer bound to the name already", "bound", resilience.Config{Observers: []resilience.Observer{b}}, "bound already"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resilience.New(tt.pName, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestPipelineSuccessPathAllocatesNothing(t *testing.T) {
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{}))
	bulkhead := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 4}))
	noop := resilience.ObserverFunc(func(context.Context, resilience.Event) {})
	p := mustPipeline(t, "p", resilience.Config{Policies: []resilience.Policy{bulkhead, retry}, Observers: []resilience.Observer{noop}})
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	if n := testing.AllocsPerRun(1000, func() { _, _ = resilience.Do(ctx, p, fn) }); n != 0 {
		t.Errorf("allocations per successful call = %v, want 0", n)
	}
}

func TestRegistry(t *testing.T) {
	var r resilience.Registry
	for _, name := range []string{"b", "a"} {
		if err := r.Add(mustPipeline(t, name, resilience.Config{})); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Add(mustPipeline(t, "a", resilience.Config{})); err == nil {
		t.Error("a second pipeline named a was registered")
	}
	var names []string
	for _, p := range r.List() {
		names = append(names, p.Name())
	}
	if strings.Join(names, ",") != "a,b" {
		t.Errorf("List = %v, want a,b", names)
	}
	if _, err := r.Get("nope"); !errors.Is(err, resilience.ErrUnknownPipeline) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Get(nope) = %v, want ErrUnknownPipeline naming it", err)
	}
	if err := r.Override(context.Background(), "a", resilience.StateForcedOpen, "x", epoch); !errors.Is(err, resilience.ErrNoBreaker) {
		t.Errorf("Override of a pipeline without breaker = %v, want ErrNoBreaker", err)
	}
	if err := r.Auto(context.Background(), "nope", "x"); !errors.Is(err, resilience.ErrUnknownPipeline) {
		t.Errorf("Auto(nope) = %v, want ErrUnknownPipeline", err)
	}
}

func TestParseStateNamesTheUnknownValue(t *testing.T) {
	for _, s := range []resilience.State{resilience.StateClosed, resilience.StateHalfOpen, resilience.StateForcedClosed} {
		got, err := resilience.ParseState(s.String())
		if err != nil || got != s {
			t.Errorf("ParseState(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := resilience.ParseState("ajar"); err == nil || !strings.Contains(err.Error(), `"ajar"`) {
		t.Errorf("ParseState(ajar) = %v, want an error quoting it", err)
	}
}

// callEnds observes only call ends.
type callEnds struct{ eventLog }

func (*callEnds) Kinds() resilience.KindSet { return resilience.Kinds(resilience.KindCallEnd) }

func TestPipelineDeliversAFilteringObserverOnlyTheKindsItWants(t *testing.T) {
	var all eventLog
	ends := &callEnds{}
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2, Backoff: resilience.BackoffConfig{Base: 1, Max: 1}}))
	p := mustPipeline(t, "p", resilience.Config{Policies: []resilience.Policy{retry}, Observers: []resilience.Observer{&all, ends}})
	calls := 0
	_, _ = resilience.Do(context.Background(), p, failing(1, errBoom, &calls))
	if got := ends.kinds(); !equalSlices(got, []resilience.Kind{resilience.KindCallEnd}) {
		t.Errorf("filtering observer got %v, want only the call end", got)
	}
	if len(all.all()) != 6 { // 2 × (start, end), retry scheduled, call end
		t.Errorf("unfiltered observer got %v", all.kinds())
	}
	if !resilience.AllKinds.Has(resilience.KindFallback) || resilience.Kinds(resilience.KindTimeout).Has(resilience.KindRejected) {
		t.Error("KindSet membership is wrong")
	}
}

// deaf is an observer that declares it wants no event, as a disabled
// exporter does.
type deaf struct{ calls int }

func (d *deaf) Observe(context.Context, resilience.Event) { d.calls++ }
func (*deaf) Kinds() resilience.KindSet                   { return 0 }

func TestAnObserverThatWantsNoEventCostsNoClockRead(t *testing.T) {
	clk := &countingClock{Clock: resilience.SystemClock()}
	d := &deaf{}
	p := mustPipeline(t, "p", resilience.Config{Observers: []resilience.Observer{d}, Clock: clk})
	if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if d.calls != 0 || clk.reads != 0 {
		t.Errorf("observer called %d times, clock read %d times; want neither", d.calls, clk.reads)
	}
}

// countingClock counts the readings of its clock.
type countingClock struct {
	resilience.Clock
	reads int
}

func (c *countingClock) Now() time.Time { c.reads++; return c.Clock.Now() }

func TestARefusedPipelineLeavesItsPoliciesFree(t *testing.T) {
	breaker := must[*resilience.Breaker](t)(resilience.NewBreaker(resilience.BreakerConfig{}))
	var nilRetry *resilience.Retry
	if _, err := resilience.New("d", resilience.Config{Policies: []resilience.Policy{breaker, nilRetry}}); err == nil {
		t.Fatal("a nil policy was accepted")
	}
	if _, err := resilience.New("d", resilience.Config{Policies: []resilience.Policy{breaker, breaker}}); err == nil {
		t.Fatal("a policy listed twice was accepted")
	}
	if _, err := resilience.New("d", resilience.Config{Policies: []resilience.Policy{breaker}}); err != nil {
		t.Fatalf("the corrected configuration: %v", err)
	}
}

func TestCallIdsAreUniqueWhenCallsRunOnManyGoroutines(t *testing.T) {
	ends := &callEnds{}
	p := mustPipeline(t, "p", resilience.Config{Observers: []resilience.Observer{ends}})
	const goroutines, calls = 8, 500
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				_ = resilience.Run(context.Background(), p, func(context.Context) error { return nil })
			}
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, e := range ends.all() {
		if e.Call == 0 || seen[e.Call] {
			t.Fatalf("call id %d is 0 or seen before", e.Call)
		}
		seen[e.Call] = true
	}
	if len(seen) != goroutines*calls {
		t.Errorf("%d call ids, want %d", len(seen), goroutines*calls)
	}
}
