package resilience

import _ "unsafe" // for go:linkname

// nanotime is the runtime's monotonic clock, the one time.Now and
// time.Since read, without the conversions around it.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64
