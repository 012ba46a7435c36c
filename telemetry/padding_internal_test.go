package telemetry

import (
	"testing"
	"unsafe"

	"github.com/fusebox-dev/fusebox/internal/cacheline"
)

// span is a range of bytes of a struct: see cacheline.Span.
type span struct {
	name      string
	off, size uintptr
}

// noSharedLine fails t for every pair of spans that share a cache line.
func noSharedLine(t *testing.T, size uintptr, spans ...span) {
	t.Helper()
	cs := make([]cacheline.Span, len(spans))
	for i, s := range spans {
		cs[i] = cacheline.Span{Name: s.name, Off: s.off, Size: s.size}
	}
	for _, msg := range cacheline.Shared(size, cs...) {
		t.Error(msg)
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
