package cacheline

import (
	"strings"
	"testing"
)

func TestShared(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  uintptr
		spans []Span
		want  string // a pair that shares, or "" for none
	}{
		{"two fields a line apart in a struct of whole lines", 128, []Span{{"a", 0, 8}, {"b", 64, 8}}, ""},
		{"two fields in the same line", 128, []Span{{"a", 0, 8}, {"b", 56, 8}}, "a (bytes 0-7) and b (bytes 56-63)"},
		{"a field that straddles into the next line", 128, []Span{{"a", 60, 8}, {"b", 64, 8}}, "a (bytes 60-67) and b"},
		// 8-byte fields 64 apart never share, wherever the struct starts.
		{"8-byte fields 64 apart, struct not of whole lines", 72, []Span{{"a", 0, 8}, {"b", 64, 8}}, ""},
		// 16 bytes then 48 of padding: a struct starting 56 bytes into a
		// line puts bytes 8-15 on the same line as byte 64.
		{"16-byte fields 64 apart, struct not of whole lines", 72, []Span{{"a", 0, 16}, {"b", 64, 16}}, "starts 56 bytes into a line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Shared(tc.size, tc.spans...)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("Shared = %q, want none", got)
			case tc.want != "" && (len(got) == 0 || !strings.Contains(got[0], tc.want)):
				t.Errorf("Shared = %q, want one naming %q", got, tc.want)
			}
		})
	}
}
