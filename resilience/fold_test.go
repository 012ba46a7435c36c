package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/internal/fold"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// folder is an event log that takes the end of a call's last attempt with
// the call's end (fold.Folder); lasts[i] is the attempt that came with the
// i-th call end, nil for one that came to Observe.
type folder struct {
	eventLog
	want  resilience.KindSet
	lasts []*fold.Attempt
}

func (f *folder) Kinds() resilience.KindSet { return f.want }

func (f *folder) Observe(ctx context.Context, e resilience.Event) {
	f.eventLog.Observe(ctx, e)
	if e.Kind == resilience.KindCallEnd {
		f.mu.Lock()
		f.lasts = append(f.lasts, nil)
		f.mu.Unlock()
	}
}

func (f *folder) ObserveFolded(ctx context.Context, e resilience.Event, last fold.Attempt) {
	f.eventLog.Observe(ctx, e)
	f.mu.Lock()
	f.lasts = append(f.lasts, &last)
	f.mu.Unlock()
}

// last returns the attempt that came with the i-th call end, or nil.
func (f *folder) last(i int) *fold.Attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lasts[i]
}

func newFolder() *folder { return &folder{want: resilience.AllKinds} }

var _ fold.Folder[resilience.Event] = (*folder)(nil)

// outcome returns the resilience.Outcome of a folded attempt.
func outcome(a *fold.Attempt) resilience.Outcome { return resilience.Outcome(a.Outcome) }

func TestAFolderGetsOneEventForACallThatSucceedsAtOnce(t *testing.T) {
	clk := resiliencetest.NewClock(epoch)
	var plain eventLog
	f := newFolder()
	p := mustPipeline(t, "p", resilience.Config{Observers: []resilience.Observer{&plain, f}, Clock: clk})
	err := resilience.Run(context.Background(), p, func(context.Context) error {
		clk.Advance(30 * time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []resilience.Kind{resilience.KindAttemptStart, resilience.KindCallEnd}
	if got := f.kinds(); !equalSlices(got, want) {
		t.Fatalf("folder got %v, want %v", got, want)
	}
	if got := plain.kinds(); !equalSlices(got, []resilience.Kind{resilience.KindAttemptStart, resilience.KindAttemptEnd, resilience.KindCallEnd}) {
		t.Fatalf("an observer that does not fold got %v, want every kind", got)
	}
	end, last := f.of(resilience.KindCallEnd)[0], f.last(0)
	if last == nil || outcome(last) != resilience.OutcomeSuccess || last.Duration != 30*time.Millisecond ||
		last.Err != nil || end.Attempt != 1 || !end.Time.Equal(epoch.Add(30*time.Millisecond)) {
		t.Fatalf("call end = %+v with %+v, want the attempt folded in: success in 30ms, attempt 1, at the attempt's end", end, last)
	}
	att := plain.of(resilience.KindAttemptEnd)[0]
	if att.Outcome != outcome(last) || att.Duration != last.Duration || !att.Time.Equal(end.Time) {
		t.Errorf("the folded attempt %+v does not match the attempt end %+v", last, att)
	}
	if e := plain.of(resilience.KindCallEnd)[0]; e != end {
		t.Errorf("an observer that does not fold got call end %+v, the folder %+v: want the same event", e, end)
	}
}

func TestAFolderGetsTheEndsOfEarlierAttemptsBeforeWhatFollowsThem(t *testing.T) {
	f := newFolder()
	var plain eventLog
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 3, Backoff: resilience.BackoffConfig{Base: 1, Max: 1}}))
	p := mustPipeline(t, "p", resilience.Config{Policies: []resilience.Policy{retry}, Observers: []resilience.Observer{f, &plain}})
	calls := 0
	if _, err := resilience.Do(context.Background(), p, failing(2, errBoom, &calls)); err != nil {
		t.Fatal(err)
	}
	var got []resilience.Kind
	for _, e := range f.all() {
		if e.Kind != resilience.KindAttemptStart {
			got = append(got, e.Kind)
		}
	}
	want := []resilience.Kind{
		resilience.KindAttemptEnd, resilience.KindRetryScheduled,
		resilience.KindAttemptEnd, resilience.KindRetryScheduled,
		resilience.KindCallEnd, // with the third attempt, which succeeded
	}
	if !equalSlices(got, want) {
		t.Fatalf("folder got %v, want %v", got, want)
	}
	for i, e := range f.of(resilience.KindAttemptEnd) {
		if e.Attempt != i+1 || e.Outcome != resilience.OutcomeFailure || !errors.Is(e.Err, errBoom) {
			t.Errorf("attempt end %d = %+v, want attempt %d failing with boom", i, e, i+1)
		}
	}
	end, last := f.of(resilience.KindCallEnd)[0], f.last(0)
	if last == nil || end.Attempt != 3 || outcome(last) != resilience.OutcomeSuccess || end.Outcome != resilience.OutcomeSuccess {
		t.Errorf("call end = %+v with %+v, want attempt 3 folded in, successful", end, last)
	}
	if n := len(plain.of(resilience.KindAttemptEnd)); n != 3 {
		t.Errorf("an observer that does not fold got %d attempt ends, want 3", n)
	}
}

func TestAFailedLastAttemptIsFoldedWithItsError(t *testing.T) {
	f := newFolder()
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2, Backoff: resilience.BackoffConfig{Base: 1, Max: 1}}))
	p := mustPipeline(t, "p", resilience.Config{Policies: []resilience.Policy{retry}, Observers: []resilience.Observer{f}})
	calls := 0
	_, err := resilience.Do(context.Background(), p, failing(5, errBoom, &calls))
	var re *resilience.RetryError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a RetryError", err)
	}
	end, last := f.of(resilience.KindCallEnd)[0], f.last(0)
	if last == nil || outcome(last) != resilience.OutcomeFailure || last.Err != errBoom || end.Err != err || end.Attempt != 2 {
		t.Errorf("call end = %+v with %+v, want attempt 2 folded in with boom, the call ending with the RetryError", end, last)
	}
	if n := len(f.of(resilience.KindAttemptEnd)); n != 1 {
		t.Errorf("folder got %d attempt ends, want 1 (the first attempt)", n)
	}
}

func TestAFallbackComesAfterTheAttemptItAnswersFor(t *testing.T) {
	f := newFolder()
	p := mustPipeline(t, "p", resilience.Config{Observers: []resilience.Observer{f}})
	v, err := resilience.DoFallback(context.Background(), p,
		func(context.Context) (string, error) { return "", errBoom },
		func(context.Context, error) (string, error) { return "cached", nil })
	if err != nil || v != "cached" {
		t.Fatalf("DoFallback = %q, %v", v, err)
	}
	var got []resilience.Kind
	for _, e := range f.all() {
		if e.Kind != resilience.KindAttemptStart {
			got = append(got, e.Kind)
		}
	}
	if want := []resilience.Kind{resilience.KindAttemptEnd, resilience.KindFallback, resilience.KindCallEnd}; !equalSlices(got, want) {
		t.Fatalf("folder got %v, want %v", got, want)
	}
	if last := f.last(0); last != nil {
		t.Errorf("call end carries %+v, an attempt already delivered", last)
	}
}

func TestACallRefusedBeforeAnyAttemptCarriesNone(t *testing.T) {
	f := newFolder()
	br := must[*resilience.Breaker](t)(resilience.NewBreaker(resilience.BreakerConfig{}))
	p := mustPipeline(t, "p", resilience.Config{Policies: []resilience.Policy{br}, Observers: []resilience.Observer{f}})
	if err := br.Override(context.Background(), resilience.StateForcedOpen, "test", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("err = %v, want ErrOpen", err)
	}
	end := f.of(resilience.KindCallEnd)
	if len(end) != 1 || f.last(0) != nil || end[0].Outcome != resilience.OutcomeRejected {
		t.Errorf("call ends = %+v, want one rejected call without an attempt", end)
	}
}

func TestOnlyAFolderThatTakesBothKindsIsFoldedFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *folder
	}{
		{"it takes no call end", &folder{want: resilience.Kinds(resilience.KindAttemptEnd)}},
		{"it takes no attempt end", &folder{want: resilience.Kinds(resilience.KindCallEnd)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPipeline(t, "p", resilience.Config{Observers: []resilience.Observer{tc.f}})
			if err := resilience.Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
			wantEnds := 0
			if tc.f.want.Has(resilience.KindAttemptEnd) {
				wantEnds = 1
			}
			if n := len(tc.f.of(resilience.KindAttemptEnd)); n != wantEnds {
				t.Errorf("got %d attempt ends, want %d", n, wantEnds)
			}
			for i := range tc.f.of(resilience.KindCallEnd) {
				if last := tc.f.last(i); last != nil {
					t.Errorf("call end %d carries the attempt %+v", i, last)
				}
			}
		})
	}
}

func TestTheAttemptThatTripsTheBreakerComesBeforeTheTransition(t *testing.T) {
	f := newFolder()
	br := must[*resilience.Breaker](t)(resilience.NewBreaker(resilience.BreakerConfig{WindowSize: 2, MinimumCalls: 2}))
	p := mustPipeline(t, "p", resilience.Config{Policies: []resilience.Policy{br}, Observers: []resilience.Observer{f}})
	for range 2 {
		_ = resilience.Run(context.Background(), p, func(context.Context) error { return errBoom })
	}
	var got []resilience.Kind
	for _, e := range f.all() {
		if e.Kind != resilience.KindAttemptStart {
			got = append(got, e.Kind)
		}
	}
	want := []resilience.Kind{
		resilience.KindCallEnd, // the first call, its attempt folded in
		resilience.KindAttemptEnd, resilience.KindBreakerTransition, resilience.KindCallEnd,
	}
	if !equalSlices(got, want) {
		t.Fatalf("folder got %v, want %v", got, want)
	}
	if f.last(0) == nil || f.last(1) != nil {
		t.Errorf("call ends carry %+v, %+v: want the first to carry its attempt and the second not", f.last(0), f.last(1))
	}
}
