package ui

import (
	"testing"
	"time"
)

func TestMemo(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	builds := 0
	build := func(v string) func() ([]byte, error) {
		return func() ([]byte, error) { builds++; return []byte(v), nil }
	}
	var m memo
	get := func(now time.Time, gen uint64, v string) string {
		b, err := m.get(now, time.Second, gen, build(v))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := get(t0, 1, "a"); got != "a" || builds != 1 {
		t.Fatalf("first get = %q after %d builds", got, builds)
	}
	if got := get(t0.Add(500*time.Millisecond), 1, "b"); got != "a" || builds != 1 {
		t.Errorf("get within the ttl = %q after %d builds, want the cached body", got, builds)
	}
	if got := get(t0.Add(2*time.Second), 1, "c"); got != "c" || builds != 2 {
		t.Errorf("get after the ttl = %q after %d builds, want a rebuild", got, builds)
	}
	if got := get(t0.Add(2*time.Second), 2, "d"); got != "d" || builds != 3 {
		t.Errorf("get after a change = %q after %d builds, want a rebuild", got, builds)
	}

	// While one request rebuilds an aged body, the others get the previous one.
	m.build.Lock()
	if got := get(t0.Add(5*time.Second), 2, "e"); got != "d" || builds != 3 {
		t.Errorf("aged get during a build = %q after %d builds, want the previous body", got, builds)
	}
	done := make(chan string)
	go func() { done <- get(t0.Add(5*time.Second), 3, "f") }()
	select {
	case got := <-done:
		t.Fatalf("a get after a change returned %q during another build, want it to wait", got)
	case <-time.After(10 * time.Millisecond): // a bound on how long it must wait at least, not a pause for correctness
	}
	m.build.Unlock()
	if got := <-done; got != "f" {
		t.Errorf("get after a change = %q, want the new body", got)
	}
}
