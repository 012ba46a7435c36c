// Package bench holds side-by-side benchmarks of Fusebox's resilience
// policies against peer libraries: sony/gobreaker v2, failsafe-go,
// afex/hystrix-go and cenkalti/backoff v5. It is its own module so that the
// peers never enter the main module's go.mod.
//
// Every benchmark is named Benchmark<Path>[Parallel]/impl=<library>, reports
// allocations, and has a b.RunParallel variant. Run them side by side with
//
//	go test -run='^$' -bench=. -count=6 ./...
//
// and see BENCHMARKS.md at the repository root for the recorded figures.
package bench
