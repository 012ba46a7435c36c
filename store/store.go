// Package store is Fusebox's embedded durable store: breaker overrides, the
// audit log, alert state, the webhook outbox and SLO history snapshots, kept
// in one bbolt file in the data directory.
//
// The store holds plain records: its own, and the alert records and
// notifications of package alerting, which it keeps as their JSON. It checks
// only what it needs to key and order records. Each method runs in its own transaction, so a failed
// write leaves everything already stored as it was, and methods that must
// change two things together (an override and its audit entry) do so in one
// transaction.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the name of the data file inside the data directory.
const FileName = "fusebox.db"

// SchemaVersion is the layout version this build writes. A data file with a
// lower version is migrated at Open; one with a higher version is refused.
const SchemaVersion = 3

var (
	// ErrLocked is matched (errors.Is) by the error Open returns when another
	// process, or another Store in this process, holds the data file.
	ErrLocked = errors.New("store: data file is locked")
	// ErrCorrupt is matched by the error Open returns when the data file is
	// damaged or is not a Fusebox store. The file is left untouched.
	ErrCorrupt = errors.New("store: data file is corrupt")
	// ErrSchemaTooNew is matched by the error Open returns when the data file
	// was written by a newer Fusebox with a layout this build does not know.
	ErrSchemaTooNew = errors.New("store: data file schema is newer than this build")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("store: closed")
	// ErrNotFound is returned when a method must change a record that does
	// not exist (an unknown notification ID).
	ErrNotFound = errors.New("store: not found")
	// ErrOutboxFull is returned by EnqueueNotification when the receiver
	// already has the maximum number of undelivered notifications.
	ErrOutboxFull = errors.New("store: outbox full")
)

// Default option values.
const (
	DefaultLockTimeout    = time.Second
	DefaultAuditRetention = 10_000
	DefaultOutboxLimit    = 10_000
)

// maxKeyLen bounds pipeline names, fingerprints, receiver and SLO names used
// as keys (bbolt accepts up to 32 KiB; nothing legitimate comes near this).
const maxKeyLen = 1024

// Bucket names. The layout of SchemaVersion 3 (version 1 lacked sessions,
// version 2 kill switches):
//
//	meta      schema_version -> uint64 (big endian)
//	overrides pipeline       -> Override (JSON)
//	audit     seq (uint64)   -> AuditEntry (JSON); sequence = last seq
//	alerts    fingerprint    -> alerting.AlertRecord (JSON)
//	outbox    receiver       -> bucket{ id (uint64) -> alerting.Notification (JSON) };
//	          outbox sequence = last ID, receiver bucket sequence = pending count
//	slo       name           -> opaque bytes
//	sessions  session id     -> expiry (RFC 3339) of a session ended early
//	killswitches pipeline "/" policy -> KillSwitch (JSON)
var (
	bucketMeta      = []byte("meta")
	bucketOverrides = []byte("overrides")
	bucketAudit     = []byte("audit")
	bucketAlerts    = []byte("alerts")
	bucketOutbox    = []byte("outbox")
	bucketSLO       = []byte("slo")
	bucketSessions  = []byte("sessions")
	bucketKills     = []byte("killswitches")

	keySchemaVersion = []byte("schema_version")
)

// dataBuckets are the buckets every file of SchemaVersion holds besides
// meta.
func dataBuckets() [][]byte {
	return [][]byte{bucketOverrides, bucketAudit, bucketAlerts, bucketOutbox, bucketSLO, bucketSessions, bucketKills}
}

// Store is an open data file. All methods are safe for concurrent use: reads
// run in parallel, writes are serialised and each one is durable (fsync'd)
// before it returns. The zero value is not usable; call Open.
type Store struct {
	db   *bolt.DB
	path string
	cfg  config
}

type config struct {
	lockTimeout    time.Duration
	auditRetention int
	outboxLimit    int
	check          bool
}

// Option tunes Open.
type Option func(*config) error

// WithLockTimeout sets how long Open waits for another holder of the data
// file to let go before failing with ErrLocked. Default DefaultLockTimeout;
// it must be positive (bbolt would wait forever on zero).
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("store: lock timeout %s must be positive", d)
		}
		c.lockTimeout = d
		return nil
	}
}

// WithAuditRetention keeps only the newest n audit entries; older ones are
// removed as new ones are appended. Default DefaultAuditRetention; 0 keeps
// every entry; negative is an error.
func WithAuditRetention(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("store: audit retention %d must not be negative", n)
		}
		c.auditRetention = n
		return nil
	}
}

// WithOutboxLimit caps the undelivered notifications kept per receiver;
// EnqueueNotification beyond it fails with ErrOutboxFull. Default
// DefaultOutboxLimit; 0 means no cap; negative is an error.
func WithOutboxLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("store: outbox limit %d must not be negative", n)
		}
		c.outboxLimit = n
		return nil
	}
}

// WithIntegrityCheck turns the full consistency check Open runs over every
// page of the file on (the default) or off. The check makes a damaged file
// fail at Open with ErrCorrupt rather than later, mid-request; the file is
// small (the audit log and outbox are bounded), so it costs milliseconds.
func WithIntegrityCheck(on bool) Option {
	return func(c *config) error {
		c.check = on
		return nil
	}
}

// Open opens the store in dir, creating the directory (mode 0700) and the
// data file (mode 0600) when they do not exist, and migrating an older layout.
//
// Errors: a bad option names itself; a file held by another process fails
// after the lock timeout with an error matching ErrLocked; a damaged or
// foreign file fails with ErrCorrupt; a file from a newer build fails with
// ErrSchemaTooNew. Open never resets or rewrites a file it cannot read.
func Open(dir string, opts ...Option) (*Store, error) {
	cfg := config{
		lockTimeout:    DefaultLockTimeout,
		auditRetention: DefaultAuditRetention,
		outboxLimit:    DefaultOutboxLimit,
		check:          true,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if dir == "" {
		return nil, errors.New("store: data dir must not be empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if fi, err := os.Stat(path); err == nil {
		switch {
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("store: data file %s is not a regular file", path)
		case fi.Size() == 0:
			// bbolt would quietly make an empty store of it: a file that
			// lost its contents (a full disk, a truncating copy) must not
			// pass for a fresh start.
			return nil, failf(ErrCorrupt, "store: data file %s is empty (0 bytes); move it aside or restore a backup", path)
		}
	}

	db, err := openBolt(path, cfg.lockTimeout)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, cfg: cfg}
	if err := s.prepare(); err != nil {
		_ = closeQuietly(db)
		return nil, err
	}
	return s, nil
}

// openBolt opens the file and turns bbolt's failures, including panics on
// some damaged files, into errors that say what happened.
func openBolt(path string, timeout time.Duration) (db *bolt.DB, err error) {
	// A damaged file can make bbolt read outside the mapped region; turn the
	// fault into a panic recovered below instead of a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db = nil
			err = failf(ErrCorrupt, "store: data file %s cannot be read (%v); move it aside or restore a backup", path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, failf(ErrLocked, "store: data file %s is locked by another process (waited %s)", path, timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, failf(ErrCorrupt, "store: data file %s is not a valid store (%v); move it aside or restore a backup", path, err)
	default:
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("store: open data file: %w", err)
		}
		// Anything else bbolt reports while reading the file (short reads,
		// a bad page size, a mmap failure) means the file is not usable.
		return nil, failf(ErrCorrupt, "store: data file %s cannot be read (%v); move it aside or restore a backup", path, err)
	}
}

// kindError carries a full message of its own while errors.Is matches its
// kind (ErrLocked, ErrCorrupt, ErrSchemaTooNew).
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func failf(kind error, format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: kind}
}

func closeQuietly(db *bolt.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: close: %v", r)
		}
	}()
	return db.Close()
}

// prepare reads the schema version and runs the integrity check in a
// read-only transaction, then migrates in a write transaction only when the
// file is older than this build, so a file that fails is never rewritten.
// Panics and memory faults raised by a damaged file become ErrCorrupt.
func (s *Store) prepare() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = failf(ErrCorrupt, "store: data file %s cannot be read (%v); move it aside or restore a backup", s.path, r)
		}
	}()
	var version uint64
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		if version, err = s.inspect(tx); err != nil {
			return err
		}
		if s.cfg.check {
			return s.check(tx)
		}
		return nil
	})
	if err != nil || version == SchemaVersion {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return s.migrate(tx, version) })
}

// inspect returns the file's schema version: 0 for a fresh file (no buckets
// at all). A file with buckets but no version is foreign.
func (s *Store) inspect(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		if err := tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil }); err != nil {
			return 0, err
		}
		if !empty {
			return 0, failf(ErrCorrupt, "store: data file %s holds buckets but no schema version; it is not a Fusebox store", s.path)
		}
		return 0, nil
	}
	raw := meta.Get(keySchemaVersion)
	if len(raw) != 8 {
		return 0, failf(ErrCorrupt, "store: data file %s has a malformed schema version", s.path)
	}
	v := binary.BigEndian.Uint64(raw)
	if v > SchemaVersion {
		return 0, failf(ErrSchemaTooNew, "store: data file %s has schema version %d, this build knows up to %d", s.path, v, SchemaVersion)
	}
	if v == SchemaVersion {
		if err := s.requireBuckets(tx); err != nil {
			return 0, err
		}
	}
	return v, nil
}

func (s *Store) requireBuckets(tx *bolt.Tx) error {
	for _, name := range dataBuckets() {
		if tx.Bucket(name) == nil {
			return failf(ErrCorrupt, "store: data file %s lacks bucket %q required by schema %d", s.path, name, SchemaVersion)
		}
	}
	return nil
}

// check reads every reachable page here, where a fault is recovered, and
// checks that every key and value lies within the file, then lets bbolt's
// checker (which runs on a goroutine of its own) verify the page graph and
// the freelist.
func (s *Store) check(tx *bolt.Tx) error {
	lo := s.db.Info().Data
	hi := lo + uintptr(tx.Size())
	if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(b, name, lo, hi) }); err != nil {
		return failf(ErrCorrupt, "store: data file %s failed its integrity check (%v); move it aside or restore a backup", s.path, err)
	}
	var problems []error
	for e := range tx.Check() {
		if len(problems) < 5 {
			problems = append(problems, e)
		}
	}
	if len(problems) > 0 {
		return failf(ErrCorrupt, "store: data file %s failed its integrity check (%v); move it aside or restore a backup",
			s.path, errors.Join(problems...))
	}
	return nil
}

// walk reads every key and value of bucket b (named name) and of the
// buckets nested in it, and reports the first that starts in the file,
// mapped at [lo, hi), but runs past its end: a damaged page can claim such
// a length, and reading it could then land in other memory of the process
// without a fault. (bbolt copies a small bucket kept inline out of the file
// when it is unaligned; its entries are not in the mapping and pass.)
func walk(b *bolt.Bucket, name []byte, lo, hi uintptr) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if !within(k, lo, hi) || !within(v, lo, hi) {
			return fmt.Errorf("bucket %q: an entry of %d+%d bytes runs past the end of the file", name, len(k), len(v))
		}
		if v == nil {
			if nested := b.Bucket(k); nested != nil {
				if err := walk(nested, k, lo, hi); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// within reports whether p, when it starts in [lo, hi), ends there too.
func within(p []byte, lo, hi uintptr) bool {
	a := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return len(p) == 0 || a < lo || a >= hi || uintptr(len(p)) <= hi-a
}

// migrate brings the file from version to SchemaVersion, one step at a time.
func (s *Store) migrate(tx *bolt.Tx, version uint64) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	for v := version; v < SchemaVersion; v++ {
		if err := migrateFrom(tx, v); err != nil {
			return fmt.Errorf("store: migrate data file %s from schema %d: %w", s.path, v, err)
		}
		if err := meta.Put(keySchemaVersion, u64key(v+1)); err != nil {
			return err
		}
	}
	return s.requireBuckets(tx)
}

// migrateFrom moves the layout from version v to v+1. Add a case per version.
func migrateFrom(tx *bolt.Tx, v uint64) error {
	switch v {
	case 0: // fresh file
		for _, name := range [][]byte{bucketOverrides, bucketAudit, bucketAlerts, bucketOutbox, bucketSLO} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	case 1: // sessions ended early
		_, err := tx.CreateBucketIfNotExists(bucketSessions)
		return err
	case 2: // kill switches
		_, err := tx.CreateBucketIfNotExists(bucketKills)
		return err
	default:
		return fmt.Errorf("no migration from schema %d", v)
	}
}

// Path returns the data file's path.
func (s *Store) Path() string { return s.path }

// SchemaVersion returns the layout version of the open file.
func (s *Store) SchemaVersion() (uint64, error) {
	var v uint64
	err := s.view(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchemaVersion))
		return nil
	})
	return v, err
}

// Close flushes and closes the data file and releases its lock. It waits for
// running transactions. Calling it again returns nil; every other method
// returns ErrClosed afterwards.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) update(fn func(*bolt.Tx) error) error { return mapErr(s.db.Update(fn)) }
func (s *Store) view(fn func(*bolt.Tx) error) error   { return mapErr(s.db.View(fn)) }

func mapErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func u64key(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// checkKey validates a record name used as a key.
func checkKey(field, v string) error {
	if v == "" {
		return fmt.Errorf("store: %s must not be empty", field)
	}
	if len(v) > maxKeyLen {
		return fmt.Errorf("store: %s %.32q… is %d bytes long, more than %d", field, v, len(v), maxKeyLen)
	}
	return nil
}

func put(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode: %w", err)
	}
	return b.Put(key, raw)
}

// decode reads a record; a value that does not decode means the file is
// damaged, and says where.
func decode(where string, raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return failf(ErrCorrupt, "store: %s cannot be decoded (%v)", where, err)
	}
	return nil
}
