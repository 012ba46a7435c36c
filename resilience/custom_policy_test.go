package resilience_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/fusebox-dev/fusebox/resilience"
)

// gate is a policy defined outside the package, whole in this file: shut,
// it refuses every call; open, it counts the calls and passes them on.
type gate struct {
	resilience.Binding
	shut   atomic.Bool
	passed atomic.Int64
	// kept is the Execution of the last call, to show it dies with it.
	kept *resilience.Execution
}

var errShut = errors.New("gate is shut")

func (g *gate) String() string { return "gate" }

func (g *gate) Execute(ctx context.Context, x *resilience.Execution) error {
	g.kept = x
	if g.shut.Load() {
		return x.Reject(ctx, resilience.ReasonBulkheadFull, errShut)
	}
	g.passed.Add(1)
	x.Emit(ctx, resilience.Event{Kind: resilience.KindAttemptStart})
	return x.Next(ctx)
}

func TestCustomPolicyComposesWithThePackagesPolicies(t *testing.T) {
	g := &gate{}
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 3, Backoff: resilience.BackoffConfig{Base: 1, Max: 1},
	}))
	var log eventLog
	p := mustPipeline(t, "custom", resilience.Config{Policies: []resilience.Policy{retry, g}, Observers: []resilience.Observer{&log}})
	if g.Pipeline() != p {
		t.Fatalf("the gate's pipeline is %v, want the one it was given to", g.Pipeline())
	}
	calls := 0
	v, err := resilience.Do(context.Background(), p, failing(2, errBoom, &calls))
	if err != nil || v != "ok" {
		t.Fatalf("Do = %q, %v; want ok after two failures", v, err)
	}
	if got := g.passed.Load(); got != 3 {
		t.Errorf("the gate saw %d passes, want one per attempt, 3", got)
	}
	// The gate's own event and the attempt's, for each attempt, numbered.
	var attempts []int
	for _, e := range log.of(resilience.KindAttemptStart) {
		if e.Pipeline != "custom" || e.Call == 0 {
			t.Errorf("event %+v is not stamped with the call", e)
		}
		attempts = append(attempts, e.Attempt)
	}
	if want := []int{1, 1, 2, 2, 3, 3}; !slices.Equal(attempts, want) {
		t.Errorf("attempt starts numbered %v, want %v", attempts, want)
	}

	g.shut.Store(true)
	_, err = resilience.Do(context.Background(), p, failing(0, nil, &calls))
	if !errors.Is(err, errShut) {
		t.Fatalf("Do through a shut gate = %v, want errShut", err)
	}
	rej := log.of(resilience.KindRejected)
	if len(rej) != 3 || rej[0].Reason != resilience.ReasonBulkheadFull || !errors.Is(rej[0].Err, errShut) {
		t.Errorf("rejections = %+v, want three (the retry tries again) with the gate's reason and error", rej)
	}
	if err := g.kept.Next(context.Background()); err == nil {
		t.Error("Next on an Execution whose Execute returned succeeded, want an error")
	}
}

func TestCustomPolicyLetsAPanicThrough(t *testing.T) {
	g := &gate{}
	p := mustPipeline(t, "custom", resilience.Config{Policies: []resilience.Policy{g}})
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want the function's panic", r)
		}
	}()
	_ = resilience.Run(context.Background(), p, func(context.Context) error { panic("boom") })
	t.Error("Run returned, want the function's panic")
}

// unrun embeds a Binding but cannot run calls.
type unrun struct{ resilience.Binding }

func (*unrun) String() string { return "unrun" }

func TestCustomPolicyMustExecuteAndBelongsToOnePipeline(t *testing.T) {
	var ce *resilience.ConfigError
	if _, err := resilience.New("x", resilience.Config{Policies: []resilience.Policy{&unrun{}}}); !errors.As(err, &ce) || ce.Field != "Pipeline.Policies[0]" {
		t.Errorf("New with a policy that is no Executor = %v, want a *ConfigError naming Pipeline.Policies[0]", err)
	}
	g := &gate{}
	mustPipeline(t, "a", resilience.Config{Policies: []resilience.Policy{g}})
	if _, err := resilience.New("b", resilience.Config{Policies: []resilience.Policy{g}}); !errors.As(err, &ce) {
		t.Errorf("New with a gate of another pipeline = %v, want a *ConfigError", err)
	}
	var nilGate *gate
	if _, err := resilience.New("c", resilience.Config{Policies: []resilience.Policy{nilGate}}); !errors.As(err, &ce) {
		t.Errorf("New with a nil gate = %v, want a *ConfigError", err)
	}
}
