package resilience

import _ "unsafe" // for go:linkname

// nanotime is the runtime's monotonic clock, the one time.Now and
// time.Since read, without the conversions around it.
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
