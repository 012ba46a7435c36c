// Package cacheline checks the padding of the module's hot structs: that
// ranges of bytes written by different cores, or written apart from what
// every call reads, never share a cache line. The packages' tests describe
// each padded struct with unsafe.Sizeof and unsafe.Offsetof and call Shared.
package cacheline

import "fmt"

// Size is the cache line the padding is made for: 64 bytes, that of amd64
// and of most arm64 cores.
const Size = 64

// Span is a range of bytes of a struct that is written or read as one: a
// field, a run of fields, or a field of the next element of an array.
type Span struct {
	Name      string
	Off, Size uintptr
}

// Shared returns a description of every pair of spans that share a cache
// line, within a struct of size bytes, wherever the allocator may place the
// struct: on a line boundary when size is a whole number of lines (every
// size class such a size rounds to is a multiple of 64, and an array of
// such structs keeps the boundary), on any 8-byte boundary otherwise.
func Shared(size uintptr, spans ...Span) []string {
	bases := []uintptr{0}
	if size%Size != 0 {
		bases = []uintptr{0, 8, 16, 24, 32, 40, 48, 56}
	}
	var out []string
	for i, a := range spans {
		for _, b := range spans[i+1:] {
			for _, base := range bases {
				aFirst, aLast := (base+a.Off)/Size, (base+a.Off+a.Size-1)/Size
				bFirst, bLast := (base+b.Off)/Size, (base+b.Off+b.Size-1)/Size
				if aFirst <= bLast && bFirst <= aLast {
					out = append(out, fmt.Sprintf("%s (bytes %d-%d) and %s (bytes %d-%d) share a cache line when the %d-byte struct starts %d bytes into a line",
						a.Name, a.Off, a.Off+a.Size-1, b.Name, b.Off, b.Off+b.Size-1, size, base))
					break
				}
			}
		}
	}
	return out
}
