package bench

import (
	"context"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// op is one operation of a benchmark: one call through the implementation
// under test. It must be safe for concurrent use.
type op func() error

// impl names an implementation and builds its op. setup may fail the
// benchmark; its cost is not measured.
type impl struct {
	name  string
	setup func(b *testing.B) op
}

// generousTimeout bounds calls in the timeout benchmarks; it never fires.
const generousTimeout = time.Second

// work is the protected function: a bare call that succeeds.
//
//go:noinline
func work(context.Context) error { return nil }

// workValue is work for APIs that return a value as well.
//
//go:noinline
func workValue() (struct{}, error) { return struct{}{}, nil }

// noopObserver is an observer that does nothing; it makes a pipeline time
// and describe its calls, which is the cost any real observer adds before
// doing its own work.
var noopObserver = resilience.ObserverFunc(func(context.Context, resilience.Event) {})

// quietObserver is a no-op observer that says so (resilience.KindFilter
// with no kind), as tracing does when it is turned off: the pipeline then
// builds no event and reads no clock for it.
var quietObserver resilience.Observer = quiet{}

type quiet struct{}

func (quiet) Observe(context.Context, resilience.Event) {}
func (quiet) Kinds() resilience.KindSet                 { return 0 }

// runSerial runs each implementation's op b.N times on one goroutine. Every
// op must return nil when wantErr is false and an error when it is true.
func runSerial(b *testing.B, impls []impl, wantErr bool) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			o := im.setup(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := o(); (err != nil) != wantErr {
					b.Fatalf("op returned %v, want error: %t", err, wantErr)
				}
			}
		})
	}
}

// runParallel runs each implementation's op under b.RunParallel, on
// GOMAXPROCS goroutines sharing one instance.
func runParallel(b *testing.B, impls []impl, wantErr bool) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			o := im.setup(b)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := o(); (err != nil) != wantErr {
						b.Errorf("op returned %v, want error: %t", err, wantErr)
						return
					}
				}
			})
		})
	}
}

// newPipeline builds a fusebox pipeline or fails the benchmark.
func newPipeline(b *testing.B, cfg resilience.Config) *resilience.Pipeline {
	b.Helper()
	p, err := resilience.New("bench", cfg)
	if err != nil {
		b.Fatalf("resilience.New: %v", err)
	}
	return p
}

// check fails the benchmark if err is not nil.
func check(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// baselineImpls are the floors: a bare call, and a bare call under a
// context deadline (the timer any timeout policy pays for).
var baselineImpls = []impl{
	{"direct", func(b *testing.B) op {
		ctx := context.Background()
		return func() error { return work(ctx) }
	}},
	{"context_with_timeout", func(b *testing.B) op {
		ctx := context.Background()
		return func() error {
			tctx, cancel := context.WithTimeout(ctx, generousTimeout)
			err := work(tctx)
			cancel()
			return err
		}
	}},
}

func BenchmarkBaseline(b *testing.B)         { runSerial(b, baselineImpls, false) }
func BenchmarkBaselineParallel(b *testing.B) { runParallel(b, baselineImpls, false) }
