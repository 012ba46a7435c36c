package resilience

import (
	"testing"
	"unsafe"

	"github.com/fusebox-dev/fusebox/internal/cacheline"
)

// The padded structs keep what one core writes on every call off the cache
// lines that other cores write or that every call reads (see package
// internal/cacheline for where the allocator may place them).

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

// span is a range of bytes of a struct: see cacheline.Span.
type span struct {
	name      string
	off, size uintptr
}

func TestPaddingKeepsHotFieldsOnLinesOfTheirOwn(t *testing.T) {
	t.Run("countWindow", func(t *testing.T) {
		// slots, n, magic and clean are read by every call; next is
		// written by every recorded call, totals on every change.
		var w countWindow
		noSharedLine(t, unsafe.Sizeof(w),
			span{"the settings", 0, unsafe.Offsetof(w.clean) + unsafe.Sizeof(w.clean)},
			span{"next", unsafe.Offsetof(w.next), unsafe.Sizeof(w.next)},
			span{"totals", unsafe.Offsetof(w.totals), unsafe.Sizeof(w.totals)})
		if unsafe.Sizeof(w)%cacheLine != 0 {
			t.Errorf("countWindow is %d bytes, not whole cache lines", unsafe.Sizeof(w))
		}
	})
	t.Run("timeWindow", func(t *testing.T) {
		// head and buckets are read by every call, total written by
		// every call.
		var w timeWindow
		noSharedLine(t, unsafe.Sizeof(w),
			span{"mu, head and buckets", 0, unsafe.Offsetof(w.buckets) + unsafe.Sizeof(w.buckets)},
			span{"total", unsafe.Offsetof(w.total), unsafe.Sizeof(w.total)})
	})
	t.Run("Pipeline.ids", func(t *testing.T) {
		// Each stripe's counters (of calls begun and returned) are
		// written by the calls of one P; the fields before them are read
		// by every call.
		var p Pipeline
		spans := []span{{"the fields before ids", 0, unsafe.Offsetof(p.retired) + unsafe.Sizeof(p.retired)}}
		for i := range p.ids {
			spans = append(spans, span{"ids[" + string(rune('0'+i)) + "]", unsafe.Offsetof(p.ids) + uintptr(i)*unsafe.Sizeof(p.ids[0]), unsafe.Sizeof(p.ids[i].n)})
		}
		for i := range p.returns {
			spans = append(spans, span{"returns[" + string(rune('0'+i)) + "]", unsafe.Offsetof(p.returns) + uintptr(i)*unsafe.Sizeof(p.returns[0]), unsafe.Sizeof(p.returns[i].n)})
		}
		noSharedLine(t, unsafe.Sizeof(p), spans...)
		if got := unsafe.Sizeof(idStripe{}); got != cacheLine {
			t.Errorf("idStripe is %d bytes, want one cache line", got)
		}
	})
	t.Run("budget.stripes", func(t *testing.T) {
		// Each stripe is written by the deposits of one P; the settings
		// are read by every deposit.
		var b budget
		spans := []span{{"the settings", 0, unsafe.Offsetof(b.buckets) + unsafe.Sizeof(b.buckets)}}
		for i := range b.stripes {
			spans = append(spans, span{"stripes[" + string(rune('0'+i)) + "]", unsafe.Offsetof(b.stripes) + uintptr(i)*unsafe.Sizeof(b.stripes[0]), unsafe.Offsetof(b.stripes[0].n) + unsafe.Sizeof(b.stripes[0].n)})
		}
		noSharedLine(t, unsafe.Sizeof(b), spans...)
	})
	t.Run("budgetBucket", func(t *testing.T) {
		// A bucket's calls are striped like the budget's stripes; sec and
		// retries change once a second and once a retry. Buckets sit side
		// by side in a slice: the next bucket's sec follows the last
		// stripe.
		var bk budgetBucket
		size := unsafe.Sizeof(bk)
		spans := []span{{"sec and retries", 0, unsafe.Offsetof(bk.retries) + unsafe.Sizeof(bk.retries)}}
		for i := range bk.calls {
			spans = append(spans, span{"calls[" + string(rune('0'+i)) + "]", unsafe.Offsetof(bk.calls) + uintptr(i)*unsafe.Sizeof(bk.calls[0]), unsafe.Sizeof(bk.calls[i].n)})
		}
		spans = append(spans, span{"the next bucket's sec", size, unsafe.Sizeof(bk.sec)})
		noSharedLine(t, size, spans...)
		if size%cacheLine != 0 {
			t.Errorf("budgetBucket is %d bytes, not whole cache lines", size)
		}
	})
}
