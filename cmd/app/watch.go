package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// reloadConfig is the reload section of the file: whether a change of the
// file reloads it. Nil: only SIGHUP and POST /api/v1/config/reload do.
type reloadConfig struct {
	// Watch reloads the configuration when the file's content changes.
	Watch bool `yaml:"watch"`
	// Interval is how often the file is read and its content compared with
	// the one last loaded; a new content is applied once it has stayed the
	// same for one interval more. Zero means 2s; from 100ms to 1h.
	Interval time.Duration `yaml:"interval"`
}

// defaultWatchInterval is the interval of a watch that gives none.
const defaultWatchInterval = 2 * time.Second

func (c *reloadConfig) validate(add func(path, msg string)) {
	if c == nil {
		return
	}
	if c.Interval != 0 && (c.Interval < 100*time.Millisecond || c.Interval > time.Hour) {
		add("reload.interval", fmt.Sprintf("%v is outside [100ms, 1h]", c.Interval))
	}
}

// fileWatch reloads the configuration when the file's content changes. It
// reads the file every interval on the app's clock and compares the hash
// of its content, rather than following file system events: an editor
// that writes a new file and renames it over the old one, a Kubernetes
// ConfigMap that swaps a symbolic link, and a network file system all
// look the same to it. A content is applied once two reads in a row saw
// it (so a burst of saves, or a file being written, is applied once
// complete), and never twice (an invalid save is refused once, with the
// banner, the audit entry and the metric of any refused reload, and the
// next save is tried). Only the reloader's run loop uses it.
type fileWatch struct {
	r     *reloader
	path  string
	every time.Duration
	timer resilience.Timer
	// seen is the hash of the content the latest read found; have is
	// false when it found none (the file missing or unreadable).
	seen [sha256.Size]byte
	have bool
	// polled, when not nil, receives after each poll whether it reloaded:
	// tests wait on it instead of on time.
	polled chan<- bool
}

// startWatch records the content the app started with (as it read it,
// not as the file may be by now), and prepares the watch of the file when
// the configuration asks for one: its first read is one interval after the
// app starts.
func (r *reloader) startWatch() {
	path := r.a.opts.ConfigPath
	if path == "" {
		return
	}
	r.loaded.Store(r.a.cfg.read)
	rc := r.a.cfg.Reload
	if rc == nil || !rc.Watch {
		return
	}
	every := rc.Interval
	if every == 0 {
		every = defaultWatchInterval
	}
	r.watch = &fileWatch{r: r, path: path, every: every, timer: r.a.opts.Clock.NewTimer(every)}
}

// tried records data as the content the latest reload read.
func (r *reloader) tried(data []byte) {
	h := sha256.Sum256(data)
	r.loaded.Store(&h)
}

// poll reads the file and reloads it when its content is new and has not
// changed since the previous poll. It reports whether it reloaded (the
// reload may have been refused).
func (w *fileWatch) poll(ctx context.Context) bool {
	b, err := os.ReadFile(w.path)
	if err != nil {
		// Being replaced, or gone: look again next time, and apply what
		// is there only once it has stayed for an interval.
		w.have = false
		return false
	}
	h := sha256.Sum256(b)
	if !w.have || h != w.seen {
		w.seen, w.have = h, true
		return false
	}
	if last := w.r.loaded.Load(); last != nil && *last == h {
		return false // applied, or refused, already
	}
	_, _ = w.r.apply(ctx, "file change", b) // audited, counted and shown as any reload
	return true
}
