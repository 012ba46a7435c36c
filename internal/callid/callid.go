// Package callid is the layout of the call ids that resilience gives the
// events of a call (resilience.Event.Call), shared with the packages of this
// module that read it: telemetry picks a shard by it, the dashboard prints
// it in two parts. Users see the id as an opaque number, unique within a
// pipeline and never 0.
//
// A pipeline counts its calls on Stripes counters, a goroutine on the
// counter of the P it runs on, so that cores do not take turns with one
// cache line on every call. The id of the n-th call counted on stripe s is
// s in the top byte and n below: calls made one after the other on a
// goroutine have consecutive ids, unless it moved to another P in between
// (in the default build: built with the tag fusebox_portable, resilience
// picks the counter at random, and ids are only unique).
package callid

// Stripes is the number of counters of call ids, a power of two.
const Stripes = 8

const shift = 56

// Make returns the id of the n-th call (n ≥ 1) counted on stripe s.
func Make(s, n uint64) uint64 { return s<<shift | n }

// Stripe returns the stripe the call with this id was counted on.
func Stripe(id uint64) uint64 { return id >> shift }

// Seq returns the call's number on its stripe.
func Seq(id uint64) uint64 { return id & (1<<shift - 1) }
