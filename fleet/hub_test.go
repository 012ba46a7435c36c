package fleet_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry"
)

func encode(t testing.TB, s fleet.Snapshot) []byte {
	t.Helper()
	data, err := s.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func bucket(d time.Duration) uint16 { return uint16(telemetry.LatencyBucketIndex(d)) }

// publish sends raw snapshot bytes as an instance would, and waits until
// the hub has handled them: a good snapshot of the service "marker" sent
// after them on the same connection arrives after them.
func publish(t testing.TB, h *fleet.Hub, url, subject string, data []byte) {
	t.Helper()
	nc := connect(t, url)
	if err := nc.Publish(subject, data); err != nil {
		t.Fatal(err)
	}
	seq := uint64(time.Now().UnixNano())
	marker := encode(t, fleet.Snapshot{Service: "marker", Instance: "m", Seq: seq})
	if err := nc.Publish("fusebox.snap.marker.m", marker); err != nil {
		t.Fatal(err)
	}
	waitHub(t, h, func() bool {
		sv, err := h.Service("marker")
		return err == nil && sv.Instances[0].Seq == seq
	})
}

func TestInstancesTurnStaleThenGoneOnTheHubsClock(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{Clock: clock})
	snap := func(inst string, st resilience.State) {
		publish(t, hub, srv.ClientURL(), "fusebox.snap.shop."+inst, encode(t, fleet.Snapshot{
			Service: "shop", Instance: inst, Seq: 1, Time: clock.Now(), Interval: time.Second,
			Pipelines: []fleet.PipelineDelta{{Name: "payments", State: st}},
		}))
	}
	snap("a", resilience.StateOpen)
	snap("b", resilience.StateClosed)
	states := func() map[string]fleet.InstanceState {
		sv, err := hub.Service("shop")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]fleet.InstanceState{}
		for _, in := range sv.Instances {
			m[in.ID] = in.State
		}
		return m
	}
	want := func(a, b fleet.InstanceState) {
		t.Helper()
		if got := states(); got["a"] != a || got["b"] != b {
			t.Errorf("at %v: states %v, want a %s, b %s", clock.Now().Format(time.TimeOnly), got, a, b)
		}
	}
	want(fleet.InstanceUp, fleet.InstanceUp)
	clock.Advance(9 * time.Second)
	snap("b", resilience.StateClosed)
	want(fleet.InstanceUp, fleet.InstanceUp)
	clock.Advance(time.Second)
	want(fleet.InstanceStale, fleet.InstanceUp)
	p, err := hub.Pipeline("shop", "payments")
	if err != nil {
		t.Fatal(err)
	}
	if p.Instances != 2 || p.Open != 1 {
		t.Errorf("payments: %d of %d open, want 1 of 2 (a stale instance still counts)", p.Open, p.Instances)
	}
	clock.Advance(50 * time.Second)
	want(fleet.InstanceGone, fleet.InstanceStale)
	if p, _ = hub.Pipeline("shop", "payments"); p.Instances != 1 || p.Open != 0 {
		t.Errorf("payments: %d of %d open, want 0 of 1 (a gone instance does not count)", p.Open, p.Instances)
	}
	sv, _ := hub.Service("shop")
	if sv.Up != 0 || sv.Stale != 1 || sv.Gone != 1 {
		t.Errorf("service counts up %d stale %d gone %d, want 0 1 1", sv.Up, sv.Stale, sv.Gone)
	}
}

func TestFleetPercentilesComeFromMergedBuckets(t *testing.T) {
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{Clock: clock})
	var fast, slow fleet.PipelineDelta
	fast.Name, slow.Name = "payments", "payments"
	fast.Counts.Calls[resilience.OutcomeSuccess] = 98
	fast.Latency = []fleet.BucketCount{{Index: bucket(10 * time.Millisecond), Count: 98}}
	slow.Counts.Calls[resilience.OutcomeFailure] = 2
	slow.Latency = []fleet.BucketCount{{Index: bucket(time.Second), Count: 2}}
	publish(t, hub, srv.ClientURL(), "fusebox.snap.shop.fast", encode(t, fleet.Snapshot{Service: "shop", Instance: "fast", Seq: 1, Time: clock.Now(), Pipelines: []fleet.PipelineDelta{fast}}))
	publish(t, hub, srv.ClientURL(), "fusebox.snap.shop.slow", encode(t, fleet.Snapshot{Service: "shop", Instance: "slow", Seq: 1, Time: clock.Now(), Pipelines: []fleet.PipelineDelta{slow}}))

	p, err := hub.Pipeline("shop", "payments")
	if err != nil {
		t.Fatal(err)
	}
	near := func(got, want time.Duration) bool { return got > want*97/100 && got < want*103/100 }
	if p.Latency.Count != 100 || !near(p.Latency.P50, 10*time.Millisecond) || !near(p.Latency.P99, time.Second) {
		t.Errorf("latency %+v, want 100 calls, p50 ≈ 10ms, p99 ≈ 1s (98 fast calls and 2 slow ones)", p.Latency)
	}
	if p.Counts.CallCount() != 100 || p.SuccessRate != 0.98 || p.CallsPerSecond != 10 {
		t.Errorf("calls %d, success %v, rate %v/s; want 100, 0.98, 10/s over the 10 s window", p.Counts.CallCount(), p.SuccessRate, p.CallsPerSecond)
	}
}

func TestBadMessagesAreDroppedAndCounted(t *testing.T) {
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{MaxSnapshotBytes: 1024})
	good := encode(t, fleet.Snapshot{Service: "shop", Instance: "a", Seq: 1, Time: time.Now(), Pipelines: []fleet.PipelineDelta{{Name: "payments"}}})
	wrongVersion := slices.Clone(good)
	wrongVersion[2] = fleet.Version + 1
	big := fleet.Snapshot{Service: "shop", Instance: "a", Seq: 2, Time: time.Now()}
	for i := range 100 {
		big.Pipelines = append(big.Pipelines, fleet.PipelineDelta{Name: "pipeline-" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	for _, tc := range []struct {
		subject string
		data    []byte
		reason  int
	}{
		{"fusebox.snap.shop.a", []byte("garbage"), fleet.DropMalformed},
		{"fusebox.snap.shop.a", nil, fleet.DropMalformed},
		{"fusebox.snap.shop.a", good[:len(good)-3], fleet.DropMalformed},
		{"fusebox.snap.shop.a", append(slices.Clone(good), 0), fleet.DropMalformed},
		{"fusebox.snap.shop.a", wrongVersion, fleet.DropVersion},
		{"fusebox.snap.shop.a", encode(t, big), fleet.DropOversized},
		{"fusebox.snap.shop.b", good, fleet.DropMismatch},
	} {
		before := hub.Stats().Dropped[tc.reason]
		publish(t, hub, srv.ClientURL(), tc.subject, tc.data)
		if got := hub.Stats().Dropped[tc.reason]; got != before+1 {
			t.Errorf("%q on %s: dropped[%s] = %d, want %d", tc.data, tc.subject, fleet.DropReason(tc.reason), got, before+1)
		}
	}
	if _, err := hub.Service("shop"); !errors.Is(err, fleet.ErrUnknownService) {
		t.Errorf("after bad messages only, Service(shop) = %v, want ErrUnknownService", err)
	}
	publish(t, hub, srv.ClientURL(), "fusebox.snap.shop.a", good)
	if _, err := hub.Service("shop"); err != nil {
		t.Errorf("the hub took no good snapshot after bad ones: %v", err)
	}
}

func TestAHubRestartLosesNoOverrideOrAuditEntry(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, "", dir)
	addr := srv.Addr().String()
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{})
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen, Reason: "outage", Actor: "ann", Until: until})
	setOverride(t, hub, fleet.Override{Service: "shop", Pipeline: "db.main", Instance: "a", State: resilience.StateForcedClosed})
	setOverride(t, hub, fleet.Override{Service: "billing", Pipeline: "ledger", State: resilience.StateForcedOpen})
	if err := hub.Release(context.Background(), fleet.Override{Service: "billing", Pipeline: "ledger", Actor: "bob", Reason: "fixed"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	overrides, err := hub.Overrides(ctx)
	if err != nil {
		t.Fatal(err)
	}
	audit, err := hub.Audit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(overrides) != 2 || len(audit) != 4 {
		t.Fatalf("before: %d overrides, %d audit entries; want 2 and 4", len(overrides), len(audit))
	}
	_ = hub.Close()
	srv.Shutdown()

	srv2 := startServer(t, addr, dir)
	hub2 := startHub(t, srv2.ClientURL(), fleet.HubConfig{})
	overrides2, err := hub2.Overrides(ctx)
	if err != nil {
		t.Fatal(err)
	}
	audit2, err := hub2.Audit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(overrides, overrides2, func(a, b fleet.Override) bool {
		return a.Key() == b.Key() && a.Revision == b.Revision && a.Until.Equal(b.Until) && a.Reason == b.Reason
	}) {
		t.Errorf("after a restart overrides are\n%+v\nwant\n%+v", overrides2, overrides)
	}
	if !slices.EqualFunc(audit, audit2, func(a, b fleet.AuditEntry) bool { return a.Seq == b.Seq && a.Action == b.Action && a.Actor == b.Actor }) {
		t.Errorf("after a restart audit is\n%+v\nwant\n%+v", audit2, audit)
	}
	if audit2[0].Action != "override.release" || audit2[0].Actor != "bob" || audit2[3].Reason != "outage" || !audit2[3].Until.Equal(until) {
		t.Errorf("audit (newest first) = %+v", audit2)
	}
}

func TestTheHubRefusesBadOverrides(t *testing.T) {
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{})
	for _, o := range []fleet.Override{
		{Service: "shop", Pipeline: "payments", State: resilience.StateOpen, Reason: "x"},
		{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen, Reason: "  "},
		{Service: "sh op", Pipeline: "payments", State: resilience.StateForcedOpen, Reason: "x"},
		{Service: "shop", Pipeline: "pay/ments", State: resilience.StateForcedOpen, Reason: "x"},
		{Service: "shop", Pipeline: "payments", Instance: "a.b", State: resilience.StateForcedOpen, Reason: "x"},
		{Service: "shop", Pipeline: "payments", State: resilience.StateForcedOpen, Reason: "x", Until: time.Now().Add(-time.Second)},
	} {
		if _, err := hub.SetOverride(context.Background(), o); err == nil {
			t.Errorf("SetOverride(%+v) succeeded", o)
		}
	}
	if got, _ := hub.Overrides(context.Background()); len(got) != 0 {
		t.Errorf("overrides %+v after refusals, want none", got)
	}
}

func TestAgentsReportTheirCallsAndAnswerForRecentEvents(t *testing.T) {
	srv := startServer(t, "", "")
	hub := startHub(t, srv.ClientURL(), fleet.HubConfig{})
	var ins []*instance
	for _, id := range []string{"a", "b"} {
		in := newInstance(t, nil)
		waitReady(t, in.join(t, fleet.Config{URL: srv.ClientURL(), Service: "shop", Instance: id, Interval: 20 * time.Millisecond}))
		ins = append(ins, in)
	}
	boom := errors.New("boom")
	for i, in := range ins {
		p, _ := in.reg.Get("payments")
		for j := range 10 {
			_ = resilience.Run(context.Background(), p, func(context.Context) error {
				if i == 1 && j < 5 {
					return boom
				}
				return nil
			})
		}
	}
	waitHub(t, hub, func() bool {
		p, err := hub.Pipeline("shop", "payments")
		return err == nil && p.Counts.CallCount() == 20
	})
	p, _ := hub.Pipeline("shop", "payments")
	if p.Counts.Calls[resilience.OutcomeFailure] != 5 || p.Latency.Count != 20 || p.Instances != 2 {
		t.Errorf("payments: %+v; want 5 failures of 20 calls on 2 instances", p)
	}
	if !p.HasBreaker || p.Open != 0 {
		t.Errorf("payments: has breaker %v, %d open; want a breaker, none open", p.HasBreaker, p.Open)
	}
	if search, err := hub.Pipeline("shop", "search"); err != nil || search.HasBreaker || !search.Breakers[0].NoBreaker {
		t.Errorf("search: %+v, %v; want it reported without a breaker", search, err)
	}
	events, err := hub.RecentEvents(context.Background(), "shop", "b", "payments", 0)
	if err != nil {
		t.Fatal(err)
	}
	var failed int
	for _, e := range events {
		if e.Kind == "call_end" && e.Outcome == "failure" && e.Error == "boom" {
			failed++
		}
	}
	if failed != 5 {
		t.Errorf("recent events of b: %d failed calls, want 5: %+v", failed, events)
	}
	if _, err := hub.RecentEvents(context.Background(), "shop", "b", "nope", 0); err == nil {
		t.Error("recent events of an unknown pipeline: no error")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := hub.RecentEvents(ctx, "shop", "nobody", "payments", 0); err == nil {
		t.Error("recent events of an unknown instance: no error")
	}
}

func TestSnapshotsRoundTrip(t *testing.T) {
	s := fleet.Snapshot{Service: "shop", Instance: "a-1", Seq: 42, Time: time.UnixMilli(1_780_000_000_123), Interval: time.Second}
	var d fleet.PipelineDelta
	d.Name, d.State, d.Override, d.Transitions, d.LatencySum = "db.main:primary", resilience.StateForcedOpen, 7, 3, 123456789
	d.Policies, d.Off, d.FleetOff = fleet.PolicyBit("retry")|fleet.PolicyBit("hedge")|fleet.PolicyBit("fallback"), fleet.PolicyBit("retry")|fleet.PolicyBit("hedge"), fleet.PolicyBit("hedge")
	d.Counts.Calls = [resilience.NumOutcomes]uint64{1, 2, 3, 4, 5}
	d.Counts.Attempts = [resilience.NumOutcomes]uint64{6, 7, 8, 9, 10}
	d.Counts.Retries, d.Counts.Fallbacks = 11, 12
	d.Counts.Rejections = [telemetry.NumRejections]uint64{13, 14, 15}
	d.Counts.Timeouts = [telemetry.NumScopes]uint64{16, 17}
	d.Latency = []fleet.BucketCount{{Index: 3, Count: 1}, {Index: 500, Count: 1 << 40}, {Index: telemetry.LatencyBuckets - 1, Count: 2}}
	s.Pipelines = []fleet.PipelineDelta{d, {Name: "empty"}, {Name: "bare", NoBreaker: true}}
	got, err := fleet.DecodeSnapshot(encode(t, s), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(s.Time) {
		t.Errorf("time %v, want %v", got.Time, s.Time)
	}
	got.Time = s.Time
	if again := encode(t, *got); !bytes.Equal(again, encode(t, s)) {
		t.Errorf("decoded %+v, want %+v", got, s)
	}
}

// TestSnapshotSize records what a snapshot costs on the wire: a busy
// instance of 20 pipelines, each with calls of every outcome, retries,
// rejections and 24 distinct latency buckets in the second.
func TestSnapshotSize(t *testing.T) {
	s := fleet.Snapshot{Service: "checkout", Instance: "checkout-7f9c5d-x2k4p", Seq: 86_400, Time: time.Now(), Interval: time.Second}
	idle := s
	for i := range 20 {
		var d fleet.PipelineDelta
		d.Name = "pipeline-" + string(rune('a'+i))
		idle.Pipelines = append(idle.Pipelines, d)
		d.Counts.Calls = [resilience.NumOutcomes]uint64{480, 12, 3, 5, 0}
		d.Counts.Attempts = [resilience.NumOutcomes]uint64{490, 20, 4, 0, 0}
		d.Counts.Retries, d.Counts.Rejections[0], d.LatencySum = 24, 5, 500*40*time.Millisecond
		for j := range 24 {
			d.Latency = append(d.Latency, fleet.BucketCount{Index: bucket(10*time.Millisecond + time.Duration(j)*3*time.Millisecond), Count: 20})
		}
		s.Pipelines = append(s.Pipelines, d)
	}
	busy, quiet := len(encode(t, s)), len(encode(t, idle))
	t.Logf("snapshot of 20 pipelines: %d bytes busy, %d bytes idle", busy, quiet)
	if busy > 2048 || quiet > 512 {
		t.Errorf("snapshot of 20 pipelines: %d bytes busy, %d idle; want at most 2 KiB and 512 bytes", busy, quiet)
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	good, _ := (&fleet.Snapshot{Service: "s", Instance: "i", Seq: 1, Pipelines: []fleet.PipelineDelta{{Name: "p", Latency: []fleet.BucketCount{{Index: 5, Count: 1}}}}}).AppendBinary(nil)
	f.Add(good)
	f.Add([]byte("FS\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := fleet.DecodeSnapshot(data, 0)
		if err != nil {
			return
		}
		again, err := s.AppendBinary(nil)
		if err != nil {
			t.Fatalf("a decoded snapshot does not encode: %v", err)
		}
		if _, err := fleet.DecodeSnapshot(again, 0); err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
	})
}
