package telemetry

import (
	"testing"
	"unsafe"
)

const cacheLine = 64

// span is a range of bytes of a struct that is written or read as one.
type span struct {
	name      string
	off, size uintptr
}

// noSharedLine checks that no two of spans, within a struct of size bytes,
// share a cache line, wherever the allocator may place the struct: on a
// line boundary when its size is a whole number of lines (every size class
// such a size rounds to is a multiple of 64), on any 8-byte boundary
// otherwise. It is resilience's check of the same name.
func noSharedLine(t *testing.T, size uintptr, spans ...span) {
	t.Helper()
	bases := []uintptr{0}
	if size%cacheLine != 0 {
		bases = []uintptr{0, 8, 16, 24, 32, 40, 48, 56}
	}
	for _, base := range bases {
		for i, a := range spans {
			for _, b := range spans[i+1:] {
				aFirst, aLast := (base+a.off)/cacheLine, (base+a.off+a.size-1)/cacheLine
				bFirst, bLast := (base+b.off)/cacheLine, (base+b.off+b.size-1)/cacheLine
				if aFirst <= bLast && bFirst <= aLast {
					t.Errorf("%s (bytes %d-%d) and %s (bytes %d-%d) share a cache line when the %d-byte struct starts %d bytes into a line",
						a.name, a.off, a.off+a.size-1, b.name, b.off, b.off+b.size-1, size, base)
					return
				}
			}
		}
	}
}

func TestShardPaddingKeepsNeighbouringShardsApart(t *testing.T) {
	// A pipeline's shards sit side by side in a slice, each written by
	// the calls of its own P: the end of one (its count of pending
	// events) must not share a line with the head of the next (its lock
	// and the counts of the second in progress).
	var sh shard
	size := unsafe.Sizeof(sh)
	noSharedLine(t, size,
		span{"npending of shard 0", unsafe.Offsetof(sh.npending), unsafe.Sizeof(sh.npending)},
		span{"mu, sec, dirty and cur of shard 1", size, unsafe.Offsetof(sh.cur) + unsafe.Sizeof(sh.cur)})
}
