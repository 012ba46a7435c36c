package telemetry

import _ "unsafe" // for go:linkname

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// procID returns the id of the P the goroutine runs on. The goroutine may
// move right after: it is a hint for spreading work, not a guarantee.
func procID() int {
	id := procPin()
	procUnpin()
	return id
}
