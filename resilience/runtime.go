//go:build !fusebox_portable

// This file is the package's only door into the runtime (go:linkname), for
// the two things a call does on every observed run and that the standard
// library offers only at a higher price: reading the monotonic clock, and
// learning which P the goroutine runs on. Building with the tag
// fusebox_portable swaps it for runtime_portable.go, which does the same
// with the standard library alone; CI runs the tests of both builds.

package resilience

import _ "unsafe" // for go:linkname

// nanotime is the runtime's monotonic clock, the one time.Now and
// time.Since read, without the conversions around it: nanoseconds since
// an arbitrary start, never going back.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// procHint returns the id of the P the goroutine runs on. The goroutine may
// move right after: it is a hint for spreading counters, not a guarantee.
func procHint() int {
	id := procPin()
	procUnpin()
	return id
}
