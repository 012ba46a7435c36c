package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// holder is a function that signals it entered, then holds its slot until released.
type holder struct {
	entered chan struct{}
	release chan struct{}
}

func newHolder() *holder {
	return &holder{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (h *holder) fn(context.Context) error {
	h.entered <- struct{}{}
	<-h.release
	return nil
}

func bulkheadPipeline(t *testing.T, cfg resilience.BulkheadConfig) (*resilience.Pipeline, *resilience.Bulkhead, *resiliencetest.Clock, *eventLog) {
	clk := resiliencetest.NewClock(epoch)
	b := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(cfg))
	var log eventLog
	p := mustPipeline(t, "bulkhead", resilience.Config{Policies: []resilience.Policy{b}, Observers: []resilience.Observer{&log}, Clock: clk})
	return p, b, clk, &log
}

func TestBulkheadWithoutQueueRejectsTheCallBeyondItsLimit(t *testing.T) {
	p, b, _, log := bulkheadPipeline(t, resilience.BulkheadConfig{MaxConcurrent: 2})
	h := newHolder()
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- resilience.Run(context.Background(), p, h.fn) }()
		<-h.entered
	}
	if b.InFlight() != 2 {
		t.Errorf("InFlight = %d, want 2", b.InFlight())
	}
	err := resilience.Run(context.Background(), p, func(context.Context) error { t.Error("a third call ran"); return nil })
	if !errors.Is(err, resilience.ErrBulkheadFull) {
		t.Fatalf("third call: %v, want ErrBulkheadFull", err)
	}
	close(h.release)
	for range 2 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	rej := log.of(resilience.KindRejected)
	if len(rej) != 1 || rej[0].Reason != resilience.ReasonBulkheadFull {
		t.Errorf("rejections = %+v, want one for bulkhead_full", rej)
	}
	if end := log.of(resilience.KindCallEnd); end[0].Outcome != resilience.OutcomeRejected {
		t.Errorf("first call end = %+v, want the rejected call's outcome rejected", end[0])
	}
	if b.InFlight() != 0 {
		t.Errorf("InFlight after all returned = %d", b.InFlight())
	}
}

func TestBulkheadQueueWaitsForAFreeSlotAndRejectsBeyondIt(t *testing.T) {
	p, b, clk, _ := bulkheadPipeline(t, resilience.BulkheadConfig{MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Hour})
	h := newHolder()
	first := make(chan error, 1)
	go func() { first <- resilience.Run(context.Background(), p, h.fn) }()
	<-h.entered
	queued := make(chan error, 1)
	go func() {
		queued <- resilience.Run(context.Background(), p, func(context.Context) error { return nil })
	}()
	clk.BlockUntil(1) // the queued call waits on its MaxWait timer
	if b.Waiting() != 1 {
		t.Fatalf("Waiting = %d, want 1", b.Waiting())
	}
	if err := resilience.Run(context.Background(), p, h.fn); !errors.Is(err, resilience.ErrBulkheadFull) {
		t.Fatalf("call beyond the queue: %v, want ErrBulkheadFull", err)
	}
	close(h.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-queued; err != nil {
		t.Fatalf("queued call: %v, want it to run once the slot freed", err)
	}
}

func TestBulkheadQueuedCallGivesUpAfterMaxWait(t *testing.T) {
	p, _, clk, log := bulkheadPipeline(t, resilience.BulkheadConfig{MaxConcurrent: 1, MaxQueue: 1, MaxWait: 50 * time.Millisecond})
	h := newHolder()
	first := make(chan error, 1)
	go func() { first <- resilience.Run(context.Background(), p, h.fn) }()
	<-h.entered
	queued := make(chan error, 1)
	go func() { queued <- resilience.Run(context.Background(), p, h.fn) }()
	clk.BlockUntil(1)
	clk.Advance(50 * time.Millisecond)
	if err := <-queued; !errors.Is(err, resilience.ErrBulkheadFull) {
		t.Fatalf("queued call: %v, want ErrBulkheadFull after the wait", err)
	}
	close(h.release)
	<-first
	if end := log.of(resilience.KindCallEnd); end[0].Duration != 50*time.Millisecond {
		t.Errorf("rejected call took %v, want the 50ms it waited", end[0].Duration)
	}
}

func TestBulkheadQueuedCallLeavesWhenTheCallerCancels(t *testing.T) {
	p, _, clk, _ := bulkheadPipeline(t, resilience.BulkheadConfig{MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Minute})
	h := newHolder()
	first := make(chan error, 1)
	go func() { first <- resilience.Run(context.Background(), p, h.fn) }()
	<-h.entered
	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() { queued <- resilience.Run(ctx, p, h.fn) }()
	clk.BlockUntil(1)
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued call: %v, want context.Canceled", err)
	}
	close(h.release)
	<-first
}

func TestNewBulkheadRejectsInvalidSettings(t *testing.T) {
	tests := []struct {
		name  string
		cfg   resilience.BulkheadConfig
		field string
	}{
		{"no concurrency", resilience.BulkheadConfig{}, "Bulkhead.MaxConcurrent"},
		{"negative queue", resilience.BulkheadConfig{MaxConcurrent: 1, MaxQueue: -1}, "Bulkhead.MaxQueue"},
		{"negative wait", resilience.BulkheadConfig{MaxConcurrent: 1, MaxWait: -1}, "Bulkhead.MaxWait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resilience.NewBulkhead(tt.cfg)
			var ce *resilience.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("NewBulkhead = %v, want a ConfigError for %s", err, tt.field)
			}
		})
	}
}
