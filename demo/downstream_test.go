package demo

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newDownstream(t *testing.T, cfg DownstreamConfig) *Downstream {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	d, err := NewDownstream(cfg)
	if err != nil {
		t.Fatalf("NewDownstream: %v", err)
	}
	return d
}

var knobCases = []struct {
	name  string
	knobs Knobs
	field string // empty when the knobs are valid
	value string
}{
	{name: "zero knobs are a healthy instant downstream", knobs: Knobs{}},
	{name: "an error rate of one is valid", knobs: Knobs{ErrorRate: 1}},
	{name: "a minute of latency and jitter is valid", knobs: Knobs{LatencyMS: MaxDelayMS, JitterMS: MaxDelayMS}},
	{name: "jitter larger than latency is valid", knobs: Knobs{LatencyMS: 10, JitterMS: 100}},
	{name: "an error rate above one is rejected", knobs: Knobs{ErrorRate: 1.5}, field: "error_rate", value: "1.5"},
	{name: "a negative error rate is rejected", knobs: Knobs{ErrorRate: -0.1}, field: "error_rate", value: "-0.1"},
	{name: "a NaN error rate is rejected", knobs: Knobs{ErrorRate: math.NaN()}, field: "error_rate", value: "NaN"},
	{name: "negative latency is rejected", knobs: Knobs{LatencyMS: -1}, field: "latency_ms", value: "-1"},
	{name: "latency above a minute is rejected", knobs: Knobs{LatencyMS: MaxDelayMS + 1}, field: "latency_ms", value: "60001"},
	{name: "negative jitter is rejected", knobs: Knobs{JitterMS: -5}, field: "jitter_ms", value: "-5"},
	{name: "jitter above a minute is rejected", knobs: Knobs{JitterMS: 1 << 30}, field: "jitter_ms", value: "1073741824"},
}

func TestKnobsValidate(t *testing.T) {
	for _, tc := range knobCases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.knobs.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("Field = %q, want %q", fe.Field, tc.field)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.field) || !strings.Contains(msg, tc.value) {
				t.Errorf("error %q does not name the field %q and value %s", msg, tc.field, tc.value)
			}
		})
	}
}

func TestSetWithBadKnobsChangesNothing(t *testing.T) {
	d := newDownstream(t, DownstreamConfig{})
	good := Knobs{ErrorRate: 0.2, LatencyMS: 30, JitterMS: 5, Outage: true}
	if err := d.Set(good); err != nil {
		t.Fatalf("Set(%+v) = %v", good, err)
	}
	for _, tc := range knobCases {
		if tc.field == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if err := d.Set(tc.knobs); err == nil {
				t.Fatalf("Set(%+v) = nil, want an error", tc.knobs)
			}
			if got := d.Knobs(); got != good {
				t.Errorf("Knobs() = %+v after a rejected Set, want %+v", got, good)
			}
		})
	}
}

func TestNewDownstreamRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name  string
		cfg   DownstreamConfig
		field string
	}{
		{"an empty name is rejected", DownstreamConfig{Name: " "}, "DownstreamConfig.Name"},
		{"bad starting knobs are rejected", DownstreamConfig{Name: "x", Knobs: Knobs{LatencyMS: -1}}, "DownstreamConfig.Knobs.latency_ms"},
		{"an outage as long as its period is rejected", DownstreamConfig{Name: "x", OutageEvery: time.Second, OutageFor: time.Second}, "DownstreamConfig.OutageEvery"},
		{"a negative outage is rejected", DownstreamConfig{Name: "x", OutageFor: -time.Second}, "DownstreamConfig.OutageFor"},
		{"a negative first outage is rejected", DownstreamConfig{Name: "x", FirstOutage: -1}, "DownstreamConfig.FirstOutage"},
		{"a slow rate above one is rejected", DownstreamConfig{Name: "x", SlowRate: 2}, "DownstreamConfig.SlowRate"},
		{"a negative slow minimum is rejected", DownstreamConfig{Name: "x", SlowMin: -1}, "DownstreamConfig.SlowMin"},
		{"a slow maximum below the minimum is rejected", DownstreamConfig{Name: "x", SlowMin: time.Second}, "DownstreamConfig.SlowMax"},
		{"a NaN rate-limit rate is rejected", DownstreamConfig{Name: "x", RateLimitRate: math.NaN()}, "DownstreamConfig.RateLimitRate"},
		{"a negative Retry-After is rejected", DownstreamConfig{Name: "x", RetryAfter: -time.Second}, "DownstreamConfig.RetryAfter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDownstream(tc.cfg)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("NewDownstream() = %v, want a *FieldError for %s", err, tc.field)
			}
		})
	}
}

// failures makes n instant calls and returns how many failed with ErrFailed.
func failures(t *testing.T, d *Downstream, n int) (failed int, pattern []bool) {
	t.Helper()
	ctx := context.Background()
	for range n {
		err := d.Call(ctx)
		if err != nil && !errors.Is(err, ErrFailed) {
			t.Fatalf("Call() = %v, want nil or ErrFailed", err)
		}
		if err != nil {
			failed++
		}
		pattern = append(pattern, err != nil)
	}
	return failed, pattern
}

func TestErrorRateStatistics(t *testing.T) {
	const n = 20_000
	tests := []struct {
		name string
		rate float64
	}{
		{"no call fails at rate zero", 0},
		{"about a quarter of calls fail at rate 0.25", 0.25},
		{"about nine in ten calls fail at rate 0.9", 0.9},
		{"every call fails at rate one", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDownstream(t, DownstreamConfig{Seed: 42, Knobs: Knobs{ErrorRate: tc.rate}})
			failed, _ := failures(t, d, n)
			got := float64(failed) / n
			// Four standard deviations of a binomial share.
			tol := 4 * math.Sqrt(tc.rate*(1-tc.rate)/n)
			if math.Abs(got-tc.rate) > tol {
				t.Errorf("failure share = %.4f, want %.2f ± %.4f", got, tc.rate, tol)
			}
		})
	}
}

func TestEqualSeedsGiveEqualFaults(t *testing.T) {
	a := newDownstream(t, DownstreamConfig{Seed: 7, Knobs: Knobs{ErrorRate: 0.5}})
	b := newDownstream(t, DownstreamConfig{Seed: 7, Knobs: Knobs{ErrorRate: 0.5}})
	c := newDownstream(t, DownstreamConfig{Seed: 8, Knobs: Knobs{ErrorRate: 0.5}})
	_, pa := failures(t, a, 200)
	_, pb := failures(t, b, 200)
	_, pc := failures(t, c, 200)
	if !equal(pa, pb) {
		t.Error("two downstreams with seed 7 failed different calls")
	}
	if equal(pa, pc) {
		t.Error("downstreams with seeds 7 and 8 failed the same 200 calls")
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// start calls d.Call in a goroutine and returns the channel of its result.
func start(ctx context.Context, d *Downstream) <-chan error {
	done := make(chan error, 1)
	go func() { done <- d.Call(ctx) }()
	return done
}

func TestLatencyWaitsOnTheClock(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDownstream(t, DownstreamConfig{Clock: clock, Knobs: Knobs{LatencyMS: 200}})
	done := start(context.Background(), d)
	clock.BlockUntil(1)
	clock.Advance(199 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Call returned %v after 199 ms of a 200 ms latency", err)
	default:
	}
	clock.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatalf("Call() = %v, want nil", err)
	}
}

func TestFailuresComeAfterTheLatency(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDownstream(t, DownstreamConfig{Clock: clock, Knobs: Knobs{ErrorRate: 1, LatencyMS: 50}})
	done := start(context.Background(), d)
	clock.BlockUntil(1)
	clock.Advance(50 * time.Millisecond)
	if err := <-done; !errors.Is(err, ErrFailed) {
		t.Fatalf("Call() = %v, want ErrFailed", err)
	}
}

func TestJitterSpreadsLatencyBothWays(t *testing.T) {
	d := newDownstream(t, DownstreamConfig{Seed: 1, Knobs: Knobs{LatencyMS: 100, JitterMS: 40}})
	lo, hi := 60*time.Millisecond, 140*time.Millisecond
	var below, above int
	for range 2000 {
		delay, err := d.draw(epoch)
		if err != nil {
			t.Fatalf("draw() error = %v", err)
		}
		if delay < lo || delay > hi {
			t.Fatalf("delay %v outside [%v, %v]", delay, lo, hi)
		}
		switch {
		case delay < 80*time.Millisecond:
			below++
		case delay > 120*time.Millisecond:
			above++
		}
	}
	if below < 400 || above < 400 {
		t.Errorf("of 2000 delays %d were under 80 ms and %d over 120 ms, want about 500 each", below, above)
	}
}

func TestJitterNeverMakesLatencyNegative(t *testing.T) {
	d := newDownstream(t, DownstreamConfig{Seed: 1, Knobs: Knobs{LatencyMS: 5, JitterMS: 100}})
	for range 1000 {
		if delay, _ := d.draw(epoch); delay < 0 {
			t.Fatalf("delay = %v, want ≥ 0", delay)
		}
	}
}

func TestSlowTail(t *testing.T) {
	d := newDownstream(t, DownstreamConfig{
		Seed: 3, Knobs: Knobs{LatencyMS: 30},
		SlowRate: 0.02, SlowMin: time.Second, SlowMax: 2 * time.Second,
	})
	const n = 20_000
	slow := 0
	for range n {
		delay, _ := d.draw(epoch)
		switch {
		case delay == 30*time.Millisecond:
		case delay >= time.Second+30*time.Millisecond && delay <= 2*time.Second+30*time.Millisecond:
			slow++
		default:
			t.Fatalf("delay = %v, want 30ms or 1.03s–2.03s", delay)
		}
	}
	if got := float64(slow) / n; math.Abs(got-0.02) > 0.005 {
		t.Errorf("slow share = %.4f, want about 0.02", got)
	}
}

func TestContextEndCutsTheLatency(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDownstream(t, DownstreamConfig{Clock: clock, Knobs: Knobs{LatencyMS: 10_000}})
	cause := errors.New("caller gave up")
	ctx, cancel := context.WithCancelCause(context.Background())
	done := start(ctx, d)
	clock.BlockUntil(1)
	cancel(cause)
	if err := <-done; err != cause {
		t.Fatalf("Call() = %v, want the context's cause", err)
	}
	if n := clock.Timers(); n != 0 {
		t.Errorf("%d timers left waiting, want the latency timer stopped", n)
	}
}

func TestPerAttemptTimeoutCutsTheLatency(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDownstream(t, DownstreamConfig{Clock: clock, Knobs: Knobs{LatencyMS: 2000}})
	timeout, err := resilience.NewTimeout(resilience.TimeoutConfig{Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("test", resilience.Config{Policies: []resilience.Policy{timeout}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- resilience.Run(context.Background(), p, d.Call) }()
	clock.BlockUntil(2) // the timeout and the latency
	clock.Advance(500 * time.Millisecond)
	if err := <-done; !errors.Is(err, resilience.ErrTimeout) {
		t.Fatalf("Run() = %v, want a timeout", err)
	}
}

func TestOutageSchedule(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDownstream(t, DownstreamConfig{
		Clock: clock, OutageEvery: 90 * time.Second, OutageFor: 20 * time.Second, FirstOutage: 30 * time.Second,
	})
	tests := []struct {
		name string
		at   time.Duration
		down bool
	}{
		{"it is up at start", 0, false},
		{"it is up just before the first outage", 30*time.Second - 1, false},
		{"it goes down when the first outage begins", 30 * time.Second, true},
		{"it stays down through the outage", 49 * time.Second, true},
		{"it comes back up after 20 s", 50 * time.Second, false},
		{"it stays up between outages", 119*time.Second + 999*time.Millisecond, false},
		{"it goes down again 90 s after the first outage", 120 * time.Second, true},
		{"it comes back up after the second outage", 140 * time.Second, false},
		{"it goes down a tenth time on schedule", 30*time.Second + 9*90*time.Second + 10*time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock.Set(epoch.Add(tc.at))
			if got := d.ScheduledOutage(); got != tc.down {
				t.Fatalf("ScheduledOutage() at +%v = %v, want %v", tc.at, got, tc.down)
			}
			if got := d.Status().ScheduledOutage; got != tc.down {
				t.Fatalf("Status().ScheduledOutage at +%v = %v, want %v", tc.at, got, tc.down)
			}
			err := d.Call(context.Background())
			if tc.down != errors.Is(err, ErrOutage) {
				t.Fatalf("Call() at +%v = %v, want down=%v", tc.at, err, tc.down)
			}
		})
	}
}

func TestOutageKnobFailsAtOnce(t *testing.T) {
	clock := resiliencetest.NewClock(epoch)
	d := newDownstream(t, DownstreamConfig{Name: "payments", Clock: clock, Knobs: Knobs{LatencyMS: 1000, Outage: true}})
	err := d.Call(context.Background()) // no clock advance: an outage does not wait
	if !errors.Is(err, ErrOutage) {
		t.Fatalf("Call() = %v, want ErrOutage", err)
	}
	if !strings.Contains(err.Error(), "payments") {
		t.Errorf("error %q does not name the downstream", err)
	}
	if err := d.Set(Knobs{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Call(context.Background()); err != nil {
		t.Fatalf("Call() after lifting the outage = %v, want nil", err)
	}
}

func TestRateLimitCarriesRetryAfter(t *testing.T) {
	d := newDownstream(t, DownstreamConfig{RateLimitRate: 1, RetryAfter: 1500 * time.Millisecond})
	err := d.Call(context.Background())
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("Call() = %v, want ErrRateLimited", err)
	}
	var hint interface{ RetryAfter() time.Duration }
	if !errors.As(err, &hint) {
		t.Fatalf("Call() = %v, which carries no Retry-After hint", err)
	}
	if got := hint.RetryAfter(); got != 1500*time.Millisecond {
		t.Errorf("RetryAfter() = %v, want 1.5s", got)
	}
}

func TestKnobsJSONNames(t *testing.T) {
	d := newDownstream(t, DownstreamConfig{Name: "x", Description: "y", Knobs: Knobs{ErrorRate: 0.5, LatencyMS: 10, JitterMS: 2}})
	b, err := json.Marshal(d.Status())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"x","description":"y","knobs":{"error_rate":0.5,"latency_ms":10,"jitter_ms":2,"outage":false},"scheduled_outage":false,"in_force":{"error_rate":0.5,"latency_ms":10,"jitter_ms":2,"outage":false}}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
}

func BenchmarkCall(b *testing.B) {
	d, err := NewDownstream(DownstreamConfig{Name: "bench", Knobs: Knobs{ErrorRate: 0.1}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("mode=serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = d.Call(ctx)
		}
	})
	b.Run("mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = d.Call(ctx)
			}
		})
	})
}
