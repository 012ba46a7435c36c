package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	bolt "go.etcd.io/bbolt"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is a fixed instant the tests build their records from.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func open(t testing.TB, dir string, opts ...store.Option) *store.Store {
	t.Helper()
	s, err := store.Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestOpenCreatesDirAndPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	s := open(t, dir)
	if want := filepath.Join(dir, store.FileName); s.Path() != want {
		t.Fatalf("Path() = %q, want %q", s.Path(), want)
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("data file mode = %o, want 600", perm)
	}
	v, err := s.SchemaVersion()
	if err != nil || v != store.SchemaVersion {
		t.Errorf("SchemaVersion() = %d, %v; want %d", v, err, store.SchemaVersion)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		opt  store.Option
		want string
	}{
		{"an empty data dir is refused", "", nil, "data dir"},
		{"a zero lock timeout is refused", "x", store.WithLockTimeout(0), "lock timeout"},
		{"a negative audit retention is refused", "x", store.WithAuditRetention(-1), "audit retention -1"},
		{"a negative outbox limit is refused", "x", store.WithOutboxLimit(-5), "outbox limit -5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []store.Option
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			dir := tt.dir
			if dir != "" {
				dir = filepath.Join(t.TempDir(), dir)
			}
			s, err := store.Open(dir, opts...)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestOpenFailsQuicklyWhenTheFileIsLocked(t *testing.T) {
	dir := t.TempDir()
	first := open(t, dir)

	start := time.Now()
	second, err := store.Open(dir, store.WithLockTimeout(100*time.Millisecond))
	if err == nil {
		_ = second.Close()
		t.Fatal("second Open of a held data file succeeded")
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("second Open took %s to fail", elapsed)
	}
	t.Logf("Open: %v", err)
	if !errors.Is(err, store.ErrLocked) {
		t.Errorf("error %v does not match ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), first.Path()) {
		t.Errorf("error %q should name the file and say it is locked", err)
	}

	// Once the holder closes, the file opens again.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := open(t, dir)
	if _, err := again.Overrides(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesDamagedFiles(t *testing.T) {
	garbage := func(n int) []byte {
		r := rand.New(rand.NewPCG(1, 2))
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
	}{
		{"a short file of garbage", func(t *testing.T, path string) {
			writeFile(t, path, []byte("not a database at all"))
		}},
		{"a large file of garbage", func(t *testing.T, path string) {
			writeFile(t, path, garbage(64<<10))
		}},
		{"a store whose meta pages are overwritten", func(t *testing.T, path string) {
			populate(t, filepath.Dir(path))
			patchFile(t, path, 0, garbage(2*os.Getpagesize()))
		}},
		{"a store whose data pages are overwritten", func(t *testing.T, path string) {
			populate(t, filepath.Dir(path))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			ps := int64(os.Getpagesize())
			patchFile(t, path, 2*ps, garbage(int(fi.Size()-2*ps)))
		}},
		{"a store whose data pages are zeroed", func(t *testing.T, path string) {
			populate(t, filepath.Dir(path))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			ps := int64(os.Getpagesize())
			patchFile(t, path, 2*ps, make([]byte, fi.Size()-2*ps))
		}},
		{"a store whose leaf pages are scrambled", func(t *testing.T, path string) {
			populate(t, filepath.Dir(path))
			patchPages(t, path, pageLeaf, func(page []byte) { copy(page[16:], garbage(len(page)-16)) })
		}},
		{"a store whose leaf values claim to run past the end of the file", func(t *testing.T, path string) {
			populate(t, filepath.Dir(path))
			// leafPageElement{flags, pos, ksize, vsize uint32}; make every vsize huge.
			patchPages(t, path, pageLeaf, func(page []byte) {
				for i := range int(binary.LittleEndian.Uint16(page[10:])) {
					binary.LittleEndian.PutUint32(page[16+16*i+12:], 16<<20)
				}
			})
		}},
		{"a store whose branch pages point past the end of the file", func(t *testing.T, path string) {
			populate(t, filepath.Dir(path))
			// branchPageElement{pos, ksize uint32; pgid uint64}.
			patchPages(t, path, pageBranch, func(page []byte) {
				for i := range int(binary.LittleEndian.Uint16(page[10:])) {
					binary.LittleEndian.PutUint64(page[16+16*i+8:], 1<<40)
				}
			})
		}},
		{"a bbolt file that is not a fusebox store", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("something-else"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), []byte("v"))
			})
			if err := errors.Join(err, db.Close()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, store.FileName)
			tt.prepare(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			s, err := store.Open(dir, store.WithLockTimeout(100*time.Millisecond))
			if err == nil {
				_ = s.Close()
				t.Fatal("Open of a damaged file succeeded")
			}
			t.Logf("Open: %v", err)
			if !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("error %v does not match ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("Open changed the damaged file; it must leave it as it was")
			}
		})
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, store.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, 99})
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}

	_, err = store.Open(dir)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "schema version 99") {
		t.Errorf("error %q does not give the file's version", err)
	}
}

func TestEverythingSurvivesReopening(t *testing.T) {
	dir := t.TempDir()
	want := populate(t, dir)

	s := open(t, dir)
	got := snapshot(t, s)
	if got != want {
		t.Errorf("after reopening:\n got %s\nwant %s", got, want)
	}
}

func TestMethodsAfterCloseReturnErrClosed(t *testing.T) {
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	calls := map[string]error{
		"PutOverride": s.PutOverride(store.Override{Pipeline: "p", State: "forced_open", At: t0}),
		"PutAlert":    s.PutAlert(alerting.AlertRecord{Fingerprint: "f"}),
	}
	_, calls["Overrides"] = s.Overrides()
	_, calls["AppendAudit"] = s.AppendAudit(store.AuditEntry{Action: "a", At: t0})
	_, calls["Audit"] = s.Audit(10, 0)
	_, calls["EnqueueNotification"] = s.EnqueueNotification(alerting.Notification{Receiver: "r", Payload: []byte("{}"), CreatedAt: t0})
	_, _, calls["SLOSnapshot"] = s.SLOSnapshot("x")
	for name, err := range calls {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestConcurrentUseKeepsEveryWrite(t *testing.T) {
	s := open(t, t.TempDir())
	const workers, each = 8, 25
	var wg sync.WaitGroup
	ids := make(chan uint64, workers*each)
	seqs := make(chan uint64, workers*each)
	errs := make(chan error, workers*each*5)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				seq, err := s.ApplyOverride(
					store.Override{Pipeline: fmt.Sprintf("p%d", w), State: "forced_open", At: t0},
					store.AuditEntry{Action: "override.set", At: t0, Pipeline: fmt.Sprintf("p%d", w)})
				errs <- err
				seqs <- seq
				id, err := s.EnqueueNotification(alerting.Notification{Receiver: fmt.Sprintf("r%d", w%3), Payload: []byte("{}"), CreatedAt: t0})
				errs <- err
				ids <- id
				errs <- s.PutAlert(alerting.AlertRecord{Fingerprint: fmt.Sprintf("f%d-%d", w, i), State: alerting.AlertFiring})
				_, err = s.Audit(5, 0)
				errs <- err
				_, err = s.PendingNotifications("")
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	close(ids)
	close(seqs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, ch := range map[string]chan uint64{"notification IDs": ids, "audit sequence numbers": seqs} {
		seen := map[uint64]bool{}
		for v := range ch {
			if seen[v] {
				t.Errorf("%s: %d handed out twice", name, v)
			}
			seen[v] = true
		}
		if len(seen) != workers*each {
			t.Errorf("%s: %d distinct, want %d", name, len(seen), workers*each)
		}
	}
	alerts, err := s.Alerts()
	if err != nil || len(alerts) != workers*each {
		t.Errorf("Alerts() = %d records, %v; want %d", len(alerts), err, workers*each)
	}
	pending, err := s.PendingNotifications("")
	if err != nil || len(pending) != workers*each {
		t.Errorf("PendingNotifications() = %d, %v; want %d", len(pending), err, workers*each)
	}
	overrides, err := s.Overrides()
	if err != nil || len(overrides) != workers {
		t.Errorf("Overrides() = %d, %v; want %d", len(overrides), err, workers)
	}
}

// populate fills a store in dir with one record of every kind, closes it and
// returns its snapshot.
func populate(t *testing.T, dir string) string {
	t.Helper()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	if _, err := s.ApplyOverride(
		store.Override{Pipeline: "payments", State: "forced_open", Reason: "maintenance", Actor: "admin", At: t0, Until: t0.Add(time.Hour)},
		store.AuditEntry{At: t0, Actor: "admin", Action: "override.set", Pipeline: "payments", From: "closed", To: "forced_open", Reason: "maintenance", Until: t0.Add(time.Hour)},
	); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := s.AppendAudit(store.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Action: "login", Detail: strings.Repeat("x", 200)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutAlert(alerting.AlertRecord{
		Fingerprint: "abc123", Name: "ErrorBudgetBurn", Severity: "page",
		Labels: map[string]string{"slo": "checkout"}, Annotations: map[string]string{"summary": "burning"},
		State: alerting.AlertFiring, StartsAt: t0, Source: alerting.SourceFusebox,
		History: []alerting.AlertTransition{{At: t0, From: alerting.AlertPending, To: alerting.AlertFiring}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueNotification(alerting.Notification{Receiver: "ops", Payload: []byte(`{"version":"4"}`), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSLOSnapshot("checkout", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	return snapshot(t, s)
}

// snapshot renders everything a store holds as one comparable string.
func snapshot(t *testing.T, s *store.Store) string {
	t.Helper()
	overrides, err1 := s.Overrides()
	audit, err2 := s.Audit(0, 0)
	alerts, err3 := s.Alerts()
	pending, err4 := s.PendingNotifications("")
	slo, ok, err5 := s.SLOSnapshot("checkout")
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%v|%v|%v|%v|%v %v", overrides, audit, alerts, pending, slo, ok)
}

// bbolt page flags (page header: id uint64, flags uint16, count uint16, overflow uint32).
const (
	pageBranch = 0x01
	pageLeaf   = 0x02
)

// patchPages applies fn to every page of the data file whose type is kind
// (skipping the two meta pages) and fails the test when there is none.
func patchPages(t *testing.T, path string, kind uint16, fn func(page []byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	patched := 0
	for off := 2 * ps; off+ps <= len(b); off += ps {
		page := b[off : off+ps]
		if binary.LittleEndian.Uint64(page) == uint64(off/ps) && binary.LittleEndian.Uint16(page[8:]) == kind {
			fn(page)
			patched++
		}
	}
	if patched == 0 {
		t.Fatalf("no page of type %#x in %s", kind, path)
	}
	writeFile(t, path, b)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func patchFile(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(b, off)
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
}
