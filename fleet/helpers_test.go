package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// startServer starts an embedded NATS server with JetStream on a free
// loopback port, storing under dir (a new temporary one when empty).
func startServer(t testing.TB, listen, dir string) *fleet.Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if listen == "" {
		listen = "127.0.0.1:-1"
	}
	s, err := fleet.StartServer(fleet.ServerConfig{Listen: listen, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.ReconnectWait(50 * time.Millisecond), nats.MaxReconnects(-1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func startHub(t testing.TB, url string, cfg fleet.HubConfig) *fleet.Hub {
	t.Helper()
	cfg.Conn = connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := fleet.NewHub(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// instance is a service instance: a registry with pipelines "payments"
// and "inventory" (with breakers) and "search" (without), an aggregator, and
// its breaker transitions on a channel.
type instance struct {
	reg         *resilience.Registry
	agg         *telemetry.Aggregator
	transitions chan resilience.Event
	agent       *fleet.Agent
}

func newInstance(t testing.TB, clock resilience.Clock) *instance {
	t.Helper()
	in := &instance{reg: &resilience.Registry{}, transitions: make(chan resilience.Event, 64)}
	var err error
	if in.agg, err = telemetry.NewAggregator(telemetry.AggregatorConfig{Clock: clock}); err != nil {
		t.Fatal(err)
	}
	watch := resilience.ObserverFunc(func(_ context.Context, e resilience.Event) {
		if e.Kind == resilience.KindBreakerTransition {
			select {
			case in.transitions <- e:
			default:
			}
		}
	})
	for _, name := range []string{"payments", "inventory"} {
		b, err := resilience.NewBreaker(resilience.BreakerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := resilience.New(name, resilience.Config{Policies: []resilience.Policy{b}, Observers: []resilience.Observer{in.agg, watch}, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		if err := in.reg.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	// search has no breaker: it reports no breaker state.
	p, err := resilience.New("search", resilience.Config{Observers: []resilience.Observer{in.agg}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.reg.Add(p); err != nil {
		t.Fatal(err)
	}
	return in
}

// join makes the instance an agent of service; cfg.URL or cfg.Conn must
// be set.
func (in *instance) join(t testing.TB, cfg fleet.Config) *fleet.Agent {
	t.Helper()
	if cfg.ReconnectWait == 0 {
		cfg.ReconnectWait, cfg.MaxReconnectWait = 20*time.Millisecond, 200*time.Millisecond
	}
	a, err := fleet.Join(context.Background(), cfg, in.reg, in.agg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	in.agent = a
	return a
}

func (in *instance) state(t testing.TB, pipeline string) resilience.State {
	t.Helper()
	p, err := in.reg.Get(pipeline)
	if err != nil {
		t.Fatal(err)
	}
	return p.Breaker().State()
}

// waitTransition waits until the pipeline's breaker moves to want, or
// fails the test when deadline passes first.
func (in *instance) waitTransition(t testing.TB, pipeline string, want resilience.State, deadline <-chan time.Time) {
	t.Helper()
	if in.state(t, pipeline) == want {
		return
	}
	for {
		select {
		case e := <-in.transitions:
			if e.Pipeline == pipeline && e.To == want {
				return
			}
		case <-deadline:
			t.Fatalf("breaker %s is %s, want %s", pipeline, in.state(t, pipeline), want)
		}
	}
}

func waitReady(t testing.TB, a *fleet.Agent) {
	t.Helper()
	select {
	case <-a.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("agent %s not ready after 10 s", a.Instance())
	}
}

// waitHub waits for the hub to take in snapshots until cond holds.
func waitHub(t testing.TB, h *fleet.Hub, cond func() bool) {
	t.Helper()
	ch, stop := h.Subscribe()
	defer stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("condition on the hub's state not met after 10 s")
		}
	}
}

func setOverride(t testing.TB, h *fleet.Hub, o fleet.Override) fleet.Override {
	t.Helper()
	if o.Reason == "" {
		o.Reason = "test"
	}
	if o.Actor == "" {
		o.Actor = "tester"
	}
	got, err := h.SetOverride(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
