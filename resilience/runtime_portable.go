//go:build fusebox_portable

// The portable stand-in for runtime.go, built with the tag fusebox_portable:
// the same two functions from the standard library alone, a little slower.

package resilience

import (
	"math/rand/v2"
	"time"
)

// monoEpoch is the reading nanotime counts from. It is set once, when the
// package is initialized, and never written again.
var monoEpoch = time.Now()

// nanotime reads the monotonic clock, as time.Since does: nanoseconds since
// monoEpoch, never going back.
func nanotime() int64 { return int64(time.Since(monoEpoch)) }

// procHint returns a random number, to spread counters: without the
// runtime's P id, calls pick their counter at random rather than by the
// core they run on.
func procHint() int { return int(rand.Uint32() >> 1) }
