package resilience_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func TestBreakerAllowWithoutPipelineOpensOnFailures(t *testing.T) {
	br := must[*resilience.Breaker](t)(resilience.NewBreaker(resilience.BreakerConfig{WindowSize: 4, MinimumCalls: 4, OpenDuration: time.Hour}))
	for i := range 4 {
		done, err := br.Allow()
		if err != nil {
			t.Fatalf("Allow %d = %v, want admitted while closed", i, err)
		}
		done(i == 0) // one success, three failures: 75 %
		done(true)   // a second report is ignored
	}
	if s := br.State(); s != resilience.StateOpen {
		t.Fatalf("state after 3 failures of 4 = %s, want open", s)
	}
	if done, err := br.Allow(); !errors.Is(err, resilience.ErrOpen) || done != nil {
		t.Errorf("Allow while open = %v, %v; want ErrOpen and no done", done != nil, err)
	}
	if m := br.Metrics(); m.Calls != 4 || m.Failures != 3 {
		t.Errorf("metrics = %+v, want the 4 calls that tripped it, 3 failed", m)
	}
}

func TestBreakerAllowInAPipelineProbesOnItsClock(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	br := must[*resilience.Breaker](t)(resilience.NewBreaker(resilience.BreakerConfig{WindowSize: 2, MinimumCalls: 2, HalfOpenProbes: 1, OpenDuration: time.Second}))
	var log eventLog
	p := mustPipeline(t, "two-step", resilience.Config{Policies: []resilience.Policy{br}, Clock: clk, Observers: []resilience.Observer{&log}})
	for range 2 {
		done, err := br.Allow()
		if err != nil {
			t.Fatal(err)
		}
		done(false)
	}
	if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("a pipeline call after two failed two-step calls = %v, want ErrOpen", err)
	}
	clk.Advance(time.Second)
	done, err := br.Allow()
	if err != nil {
		t.Fatalf("Allow after the open period = %v, want the probe admitted", err)
	}
	if _, err := br.Allow(); !errors.Is(err, resilience.ErrOpen) {
		t.Errorf("a second Allow while the only probe is out = %v, want ErrOpen", err)
	}
	done(true)
	if s := br.State(); s != resilience.StateClosed {
		t.Errorf("state after a successful probe = %s, want closed", s)
	}
	var trans []string
	for _, e := range log.of(resilience.KindBreakerTransition) {
		trans = append(trans, e.From.String()+">"+e.To.String())
	}
	if want := "closed>open open>half_open half_open>closed"; strings.Join(trans, " ") != want {
		t.Errorf("transitions %v, want %s", trans, want)
	}
}
