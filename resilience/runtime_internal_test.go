package resilience

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Both builds run this file: the default one, where nanotime is the
// runtime's, and the one tagged fusebox_portable (see .ci/run).

func TestNanotimeReadsTheClockThatTimeSinceReads(t *testing.T) {
	for range 1000 {
		before := time.Now()
		n0 := nanotime()
		n1 := nanotime()
		since := time.Since(before)
		// Both read the same monotonic clock: the two readings lie inside
		// the interval time.Since measured around them, in order.
		if d := time.Duration(n1 - n0); d < 0 || d > since {
			t.Fatalf("nanotime went from %d to %d (%v) inside an interval time.Since measured as %v", n0, n1, d, since)
		}
	}
}

func TestPipelineTimesOnTheSystemClockFollowItsClock(t *testing.T) {
	var ends []Event
	o := ObserverFunc(func(_ context.Context, e Event) {
		if e.Kind == KindCallEnd {
			ends = append(ends, e)
		}
	})
	clock := SystemClock()
	p, err := New("p", Config{Observers: []Observer{o}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if !p.sys {
		t.Fatal("a pipeline on SystemClock does not read the monotonic clock directly")
	}
	for range 100 {
		before := clock.Now()
		if err := Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		after := clock.Now()
		e := ends[len(ends)-1]
		// The pipeline's epoch is read from the clock just before its
		// monotonic reading, so its times may trail the clock's by the
		// gap between the two, never lead them.
		if e.Time.After(after) || e.Duration < 0 || e.Duration > after.Sub(before) {
			t.Fatalf("call end at %v lasting %v, for a call between %v and %v", e.Time, e.Duration, before, after)
		}
	}
}

func TestLinknameStaysInRuntimeGo(t *testing.T) {
	root := ".."
	var found []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(src), "//go:"+"linkname") {
			found = append(found, filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0] != "../resilience/runtime.go" {
		t.Errorf("go:linkname appears in %v, want only ../resilience/runtime.go", found)
	}
}
