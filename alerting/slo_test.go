package alerting

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry"
)

func TestSLOConfigValidate(t *testing.T) {
	known := []string{"payments", "inventory"}
	ok := SLOConfig{Name: "payments-availability", Pipeline: "payments", Objective: 99.9}
	tests := []struct {
		name   string
		mutate func(*SLOConfig)
		fields []string // the fields the error names, in order
	}{
		{"a minimal availability SLO is valid", func(*SLOConfig) {}, nil},
		{"a latency SLO with a threshold is valid", func(c *SLOConfig) { c.SLI, c.LatencyThreshold = SLILatency, 300*time.Millisecond }, nil},
		{"an objective of 100 is rejected", func(c *SLOConfig) { c.Objective = 100 }, []string{"objective"}},
		{"an objective of 0 is rejected", func(c *SLOConfig) { c.Objective = 0 }, []string{"objective"}},
		{"a negative objective is rejected", func(c *SLOConfig) { c.Objective = -5 }, []string{"objective"}},
		{"a NaN objective is rejected", func(c *SLOConfig) { c.Objective = math.NaN() }, []string{"objective"}},
		{"a period under an hour is rejected", func(c *SLOConfig) { c.Period = 59 * time.Minute }, []string{"period"}},
		{"an unknown pipeline is rejected", func(c *SLOConfig) { c.Pipeline = "nope" }, []string{"pipeline"}},
		{"a missing pipeline is rejected", func(c *SLOConfig) { c.Pipeline = "" }, []string{"pipeline"}},
		{"a latency SLO without a threshold is rejected", func(c *SLOConfig) { c.SLI = SLILatency }, []string{"latency_threshold"}},
		{"a threshold on an availability SLO is rejected", func(c *SLOConfig) { c.LatencyThreshold = time.Second }, []string{"latency_threshold"}},
		{"an unknown SLI is rejected", func(c *SLOConfig) { c.SLI = numSLIs }, []string{"sli"}},
		{"a name with spaces is rejected", func(c *SLOConfig) { c.Name = "my slo" }, []string{"name"}},
		{"rejected calls may be ignored", func(c *SLOConfig) { c.RejectedCalls = RejectedIgnored }, nil},
		{"rejected calls may be said bad", func(c *SLOConfig) { c.RejectedCalls = RejectedBad }, nil},
		{"an unknown way to count rejected calls is rejected", func(c *SLOConfig) { c.RejectedCalls = numRejectedCalls }, []string{"rejected_calls"}},
		{"every problem is reported", func(c *SLOConfig) { c.Name, c.Objective, c.Period = "", 101, time.Minute }, []string{"name", "objective", "period"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			err := c.Validate(known)
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors on %v", tt.fields)
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("error %v is not a *FieldError", e)
				}
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("fields = %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
	if err := (SLOConfig{Name: "x", Pipeline: "anything", Objective: 99}).Validate(nil); err != nil {
		t.Errorf("Validate(nil) checks pipelines: %v", err)
	}
}

func TestSLOEngineRejectsInvalidAndDuplicateSLOs(t *testing.T) {
	good := SLOConfig{Name: "a", Pipeline: "p", Objective: 99}
	if _, err := NewSLOEngine(SLOEngineConfig{SLOs: []SLOConfig{good, {Name: "b", Pipeline: "p", Objective: 120}}}); err == nil || !strings.Contains(err.Error(), "SLOs[1]") || !strings.Contains(err.Error(), "objective") {
		t.Errorf("invalid SLO: err = %v, want it to name SLOs[1] and objective", err)
	}
	if _, err := NewSLOEngine(SLOEngineConfig{SLOs: []SLOConfig{good, good}}); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate SLO: err = %v", err)
	}
}

func TestSLOEngineBindsEachPipelineOnce(t *testing.T) {
	eng, err := NewSLOEngine(SLOEngineConfig{SLOs: []SLOConfig{{Name: "a", Pipeline: "p", Objective: 99}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Bind("p"); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Bind("p"); !errors.Is(err, telemetry.ErrAlreadyBound) {
		t.Errorf("second Bind: err = %v, want ErrAlreadyBound", err)
	}
	if _, err := eng.Bind("other"); err != nil {
		t.Errorf("a pipeline without SLO: %v", err)
	}
}

func TestSLOBudgetOfAPipelineThroughItsEvents(t *testing.T) {
	clock := resiliencetest.NewClock(sloStart)
	eng, err := NewSLOEngine(SLOEngineConfig{Clock: clock, SLOs: []SLOConfig{
		{Name: "avail", Pipeline: "api", Objective: 99},
		{Name: "fast", Pipeline: "api", SLI: SLILatency, Objective: 90, LatencyThreshold: 100 * time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("api", resilience.Config{Observers: []resilience.Observer{eng}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	// 1000 calls over 1000 s: every 200th fails, every 50th is slow.
	for i := range 1000 {
		err := resilience.Run(context.Background(), p, func(context.Context) error {
			if i%50 == 0 {
				clock.Advance(150 * time.Millisecond)
			}
			if i%200 == 0 {
				return errors.New("boom")
			}
			return nil
		})
		_ = err
		clock.Advance(time.Second)
	}
	st, ok := eng.Status("avail")
	if !ok {
		t.Fatal("no status")
	}
	if st.Total != 1000 || st.Good != 995 {
		t.Fatalf("good/total = %v/%v, want 995/1000", st.Good, st.Total)
	}
	if !near(st.Availability, 0.995, 1e-9) {
		t.Errorf("availability = %v, want 0.995", st.Availability)
	}
	// A 30-day period seen for 1000 s: the budget allows 1 % of the calls
	// extrapolated to the period; 5 bad calls spend 5/(0.01·1000·period/cov).
	cov := st.Coverage.Seconds()
	budget := 0.01 * 1000 * DefaultSLOPeriod.Seconds() / cov
	if !near(st.BudgetTotal, budget, 1e-6) || !near(st.BudgetRemaining, 1-5/budget, 1e-9) {
		t.Errorf("budget total %v remaining %v, want %v and %v", st.BudgetTotal, st.BudgetRemaining, budget, 1-5/budget)
	}
	if b := st.Burn("1h"); !near(b, 0.005*(cov/3600)/0.01, 1e-9) {
		t.Errorf("1h burn = %v, want %v", b, 0.005*(cov/3600)/0.01)
	}
	if !st.Exhausts || st.TimeToExhaustion <= 0 {
		t.Errorf("time to exhaustion = %v (%v), want positive", st.TimeToExhaustion, st.Exhausts)
	}
	lat, _ := eng.Status("fast")
	if lat.Total != 1000 || lat.Good != 980 {
		t.Errorf("latency good/total = %v/%v, want 980/1000", lat.Good, lat.Total)
	}
	if len(st.BudgetHistory) != budgetHistoryPoints || st.BudgetHistory[len(st.BudgetHistory)-1].Remaining != st.BudgetRemaining {
		t.Errorf("budget history ends at %v, want %v", st.BudgetHistory[len(st.BudgetHistory)-1], st.BudgetRemaining)
	}
}

func TestSLORejectedCallsAreBadForEverySLIUnlessIgnored(t *testing.T) {
	clock := resiliencetest.NewClock(sloStart)
	eng, err := NewSLOEngine(SLOEngineConfig{Clock: clock, SLOs: []SLOConfig{
		{Name: "avail", Pipeline: "api", Objective: 99},
		{Name: "fast", Pipeline: "api", SLI: SLILatency, Objective: 90, LatencyThreshold: 100 * time.Millisecond},
		{Name: "avail-seen", Pipeline: "api", Objective: 99, RejectedCalls: RejectedIgnored},
		{Name: "fast-seen", Pipeline: "api", SLI: SLILatency, Objective: 90, LatencyThreshold: 100 * time.Millisecond, RejectedCalls: RejectedIgnored},
	}})
	if err != nil {
		t.Fatal(err)
	}
	br, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := resilience.New("api", resilience.Config{Policies: []resilience.Policy{br}, Observers: []resilience.Observer{eng}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(context.Context) error { return nil }
	for range 10 {
		_ = resilience.Run(context.Background(), p, ok)
		clock.Advance(time.Second)
	}
	if err := br.Override(context.Background(), resilience.StateForcedOpen, "drill", time.Time{}); err != nil {
		t.Fatal(err)
	}
	for range 30 { // refused at once: fast, but no answer
		if err := resilience.Run(context.Background(), p, ok); !errors.Is(err, resilience.ErrOpen) {
			t.Fatalf("Run = %v, want ErrOpen", err)
		}
		clock.Advance(time.Second)
	}
	for _, tt := range []struct {
		slo         string
		good, total float64
	}{
		{"avail", 10, 40}, {"fast", 10, 40}, {"avail-seen", 10, 10}, {"fast-seen", 10, 10},
	} {
		st, _ := eng.Status(tt.slo)
		if st.Good != tt.good || st.Total != tt.total {
			t.Errorf("%s: good/total = %v/%v, want %v/%v", tt.slo, st.Good, st.Total, tt.good, tt.total)
		}
	}
}

func near(a, b, eps float64) bool { return math.Abs(a-b) <= eps*math.Max(1, math.Abs(b)) }

func TestSLOBurnRatesOverFullWindowsAreThePlainErrorRatio(t *testing.T) {
	h := newSLOHarness(t, SLOConfig{Name: "s", Pipeline: "p", Objective: 99.9}, AlertManagerConfig{})
	// Three days of 1 % errors, then an hour of 10 % errors.
	h.fill(72*time.Hour, 1000, 10)
	h.fill(time.Hour, 1000, 100)
	st, _ := h.engine.Status("s")
	want := map[string]float64{"5m": 100, "30m": 100, "1h": 100, "2h": 55, "6h": 25, "1d": 13.75}
	for w, v := range want {
		if got := st.Burn(w); !near(got, v, 1e-9) {
			t.Errorf("burn over %s = %v, want %v", w, got, v)
		}
	}
	// Over 3d the window reaches back an hour into the first fill.
	if got, v := st.Burn("3d"), (71*10+100)/(72*1000.0)/0.001; !near(got, v, 1e-9) {
		t.Errorf("burn over 3d = %v, want %v", got, v)
	}
}

func TestSLOBudgetOverALongPeriodUsesHourBuckets(t *testing.T) {
	h := newSLOHarness(t, SLOConfig{Name: "s", Pipeline: "p", Objective: 99, Period: 10 * 24 * time.Hour}, AlertManagerConfig{})
	// Ten days: the first five with 2 % errors, the last five clean.
	h.fill(5*24*time.Hour, 100, 2)
	h.fill(5*24*time.Hour, 100, 0)
	st, _ := h.engine.Status("s")
	calls := 10 * 24 * 60 * 100.0
	if !near(st.Total, calls, 1e-9) || !near(st.Total-st.Good, calls/2*0.02, 1e-9) {
		t.Errorf("total %v bad %v, want %v and %v", st.Total, st.Total-st.Good, calls, calls/2*0.02)
	}
	if !near(st.BudgetRemaining, 0, 1e-9) {
		t.Errorf("budget remaining = %v, want 0 (half the period at twice the allowed rate)", st.BudgetRemaining)
	}
	// Half a day later, the oldest half day of bad calls left the period.
	h.fill(12*time.Hour, 100, 0)
	st, _ = h.engine.Status("s")
	if want := 1 - (4.5*24*60*2)/(0.01*calls); !near(st.BudgetRemaining, want, 1e-6) {
		t.Errorf("budget remaining = %v, want %v", st.BudgetRemaining, want)
	}
	if n := len(h.engine.slos[0].counts.hours); n > 10*24+2 {
		t.Errorf("%d hour buckets for a 10-day period", n)
	}
}

func TestSLOHistorySurvivesARestart(t *testing.T) {
	hist := &memHistory{}
	clock := resiliencetest.NewClock(sloStart)
	cfg := SLOEngineConfig{Clock: clock, History: hist, SLOs: []SLOConfig{{Name: "s", Pipeline: "p", Objective: 99.9, Period: 7 * 24 * time.Hour}}}
	eng, err := NewSLOEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &sloHarness{t: t, clock: clock, engine: eng}
	h.fill(4*24*time.Hour, 100, 1) // reaches the hour buckets
	before, _ := eng.Status("s")
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute) // down for ten minutes
	eng2, err := NewSLOEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := eng2.Status("s")
	if !near(after.Total, before.Total, 1e-9) || !near(after.Good, before.Good, 1e-9) {
		t.Errorf("after restart good/total = %v/%v, want %v/%v", after.Good, after.Total, before.Good, before.Total)
	}
	if after.Coverage < 4*24*time.Hour {
		t.Errorf("coverage after restart = %v, want the history's", after.Coverage)
	}

	t.Run("a snapshot of another SLI is discarded", func(t *testing.T) {
		c := cfg
		c.SLOs = []SLOConfig{{Name: "s", Pipeline: "p", SLI: SLILatency, LatencyThreshold: time.Second, Objective: 99}}
		e, err := NewSLOEngine(c)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := e.Status("s"); st.Total != 0 {
			t.Errorf("total = %v, want 0", st.Total)
		}
	})
	t.Run("a damaged snapshot is an error naming the SLO", func(t *testing.T) {
		data, _, _ := hist.SLOSnapshot("s")
		for _, bad := range [][]byte{[]byte("garbage"), data[:len(data)-3], append(data, 1)} {
			_ = hist.PutSLOSnapshot("s", bad)
			if _, err := NewSLOEngine(cfg); err == nil || !strings.Contains(err.Error(), `"s"`) {
				t.Errorf("err = %v, want an error naming the SLO", err)
			}
		}
	})
	t.Run("a failing store is an error", func(t *testing.T) {
		hist.err = errors.New("disk on fire")
		defer func() { hist.err = nil }()
		if _, err := NewSLOEngine(cfg); err == nil {
			t.Error("NewSLOEngine with a failing store: nil error")
		}
		if err := eng2.Save(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("Save = %v", err)
		}
	})
}

func TestSLOEngineRunSavesPeriodically(t *testing.T) {
	hist := &memHistory{}
	clock := resiliencetest.NewClock(sloStart)
	eng, err := NewSLOEngine(SLOEngineConfig{Clock: clock, History: hist, SnapshotInterval: time.Minute,
		SLOs: []SLOConfig{{Name: "s", Pipeline: "p", Objective: 99.9}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- eng.Run(ctx) }()
	clock.BlockUntil(1)
	if _, ok, _ := hist.SLOSnapshot("s"); ok {
		t.Fatal("saved before the interval")
	}
	clock.Advance(time.Minute)
	clock.BlockUntil(1) // the loop saved and waits again
	if _, ok, _ := hist.SLOSnapshot("s"); !ok {
		t.Error("not saved after the interval")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestSLOObserveAllocatesNothing(t *testing.T) {
	eng, err := NewSLOEngine(SLOEngineConfig{SLOs: []SLOConfig{{Name: "s", Pipeline: "p", Objective: 99.9}}})
	if err != nil {
		t.Fatal(err)
	}
	obs, _ := eng.Bind("p")
	ev := resilience.Event{Kind: resilience.KindCallEnd, Time: time.Now()}
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { obs.Observe(ctx, ev) }); n != 0 {
		t.Errorf("Observe allocates %v times", n)
	}
}

func BenchmarkSLOObserve(b *testing.B) {
	eng, err := NewSLOEngine(SLOEngineConfig{SLOs: []SLOConfig{{Name: "s", Pipeline: "p", Objective: 99.9}}})
	if err != nil {
		b.Fatal(err)
	}
	obs, _ := eng.Bind("p")
	ev := resilience.Event{Kind: resilience.KindCallEnd, Time: time.Now()}
	ctx := context.Background()
	b.Run("parallel=false", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			obs.Observe(ctx, ev)
		}
	})
	b.Run("parallel=true", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				obs.Observe(ctx, ev)
			}
		})
	})
}

func BenchmarkSLOStatus(b *testing.B) {
	clock := resiliencetest.NewClock(sloStart)
	eng, err := NewSLOEngine(SLOEngineConfig{Clock: clock, SLOs: []SLOConfig{{Name: "s", Pipeline: "p", Objective: 99.9}}})
	if err != nil {
		b.Fatal(err)
	}
	h := &sloHarness{clock: clock, engine: eng}
	for t := clock.Now(); t.Before(sloStart.Add(30 * 24 * time.Hour)); t = t.Add(time.Minute) {
		fillMinute(eng.slos[0].counts, t, 99, 100)
	}
	clock.Set(sloStart.Add(30 * 24 * time.Hour))
	_ = h
	b.ReportAllocs()
	for b.Loop() {
		eng.Statuses(false)
	}
}
