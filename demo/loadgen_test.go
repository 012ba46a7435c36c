package demo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// loadRun is a Run of a Demo on a fake clock that a test steps through.
type loadRun struct {
	t      *testing.T
	d      *Demo
	clock  *resiliencetest.Clock
	ticks  chan time.Time
	cancel context.CancelFunc
	done   chan error
}

// startLoad starts d.Run and waits for its first round of calls.
func startLoad(t *testing.T, d *Demo, clock *resiliencetest.Clock) *loadRun {
	t.Helper()
	r := &loadRun{t: t, d: d, clock: clock, ticks: make(chan time.Time, 1), done: make(chan error, 1)}
	d.onTick = func(now time.Time) { r.ticks <- now }
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- d.Run(ctx) }()
	r.waitTick()
	return r
}

// waitTick waits until Run has issued the calls due now and set its timer.
func (r *loadRun) waitTick() {
	r.t.Helper()
	now := <-r.ticks
	if want := r.clock.Now(); !now.Equal(want) {
		r.t.Fatalf("load generator woke at %v, want %v", now, want)
	}
}

// advance moves the fake clock by total in steps, letting Run catch up after
// each step.
func (r *loadRun) advance(total, step time.Duration) {
	r.t.Helper()
	for moved := time.Duration(0); moved < total; moved += step {
		r.clock.Advance(step)
		r.waitTick()
	}
}

// stop ends the Run and returns its error once every call has returned.
func (r *loadRun) stop() error {
	r.cancel()
	return <-r.done
}

func TestLoadGeneratorIssuesRateCallsPerSecond(t *testing.T) {
	tests := []struct {
		name    string
		rate    float64
		seconds int
		want    uint64
	}{
		{"the default rate issues forty calls a second", 0, 10, 400},
		{"a fractional rate issues its share over time", 7.5, 4, 30},
		{"a high rate issues every call", 500, 2, 1000},
		{"a slow rate issues a call every few seconds", 0.5, 10, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := resiliencetest.NewClock(epoch)
			rec := &recorder{}
			d := newDemo(t, Config{Clock: clock, Rate: tc.rate, MaxConcurrent: 5000, Observers: []resilience.Observer{rec}})
			r := startLoad(t, d, clock)
			r.advance(time.Duration(tc.seconds)*time.Second, tick)
			stats := d.Stats()
			if err := r.stop(); err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			if stats != (LoadStats{Issued: tc.want}) {
				t.Errorf("Stats() after %d s = %+v, want %d issued, none dropped", tc.seconds, stats, tc.want)
			}
			// Every call issued ended (the last ones cancelled by the stop),
			// and the calls went round the pipelines in turn.
			ends := rec.count(resilience.KindCallEnd)
			total := 0
			for _, name := range names {
				total += ends[name]
				if diff := ends[name]*len(names) - int(tc.want); diff < -len(names) || diff > len(names) {
					t.Errorf("pipeline %s got %d calls of %d, want a quarter", name, ends[name], tc.want)
				}
			}
			if uint64(total) != tc.want {
				t.Errorf("%d calls ended, want %d", total, tc.want)
			}
		})
	}
}

func TestLoadGeneratorCatchesUpWhenTheClockJumps(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDemo(t, Config{Clock: clock, MaxConcurrent: 5000})
	r := startLoad(t, d, clock)
	r.advance(time.Second, time.Second) // ten ticks in one step
	if got := d.Stats(); got != (LoadStats{Issued: 40}) {
		t.Errorf("Stats() after a 1 s jump = %+v, want 40 issued", got)
	}
	r.advance(5*time.Second, 5*time.Second) // more than the backlog allows
	if got := d.Stats(); got != (LoadStats{Issued: 80, Dropped: 160}) {
		t.Errorf("Stats() after a 5 s jump = %+v, want one second's calls issued and the rest dropped", got)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
}

func TestLoadGeneratorBoundsCallsInFlight(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDemo(t, Config{Clock: clock, MaxConcurrent: 3})
	for _, ds := range d.Downstreams() {
		if err := ds.Set(Knobs{LatencyMS: 10_000}); err != nil {
			t.Fatal(err)
		}
	}
	r := startLoad(t, d, clock)
	r.advance(200*time.Millisecond, 100*time.Millisecond) // 8 calls due, each hangs
	if got := d.Stats(); got != (LoadStats{Issued: 3, Dropped: 5}) {
		t.Errorf("Stats() = %+v, want 3 issued and 5 dropped", got)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
}

func TestRunRefusesToRunTwice(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDemo(t, Config{Clock: clock})
	r := startLoad(t, d, clock)
	if err := d.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run() = %v, want ErrRunning", err)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	// Once stopped it may run again.
	r = startLoad(t, d, clock)
	if err := r.stop(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
}

func TestRunReturnsAtOnceForAnEndedContext(t *testing.T) {
	d := newDemo(t, Config{Clock: resiliencetest.NewClock(epoch)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatalf("Run() = %v, want nil", err)
	}
	if got := d.Stats(); got != (LoadStats{}) {
		t.Errorf("Stats() = %+v, want no calls", got)
	}
}
