package otelexport

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/fusebox-dev/fusebox/internal/cacheline"
)

func TestCallShardPaddingKeepsNeighbouringShardsApart(t *testing.T) {
	// A pipeline's call shards sit side by side in an array, each locked
	// by the calls whose ids land on it: one shard's lock and map must
	// not share a line with the next one's.
	var p tracePipeline
	var sh callShard
	hot := unsafe.Offsetof(sh.spans) + unsafe.Sizeof(sh.spans)
	spans := make([]cacheline.Span, 0, len(p.shards))
	for i := range p.shards {
		spans = append(spans, cacheline.Span{Name: fmt.Sprintf("shards[%d]", i), Off: unsafe.Offsetof(p.shards) + uintptr(i)*unsafe.Sizeof(sh), Size: hot})
	}
	for _, msg := range cacheline.Shared(unsafe.Sizeof(p), spans...) {
		t.Error(msg)
	}
}
