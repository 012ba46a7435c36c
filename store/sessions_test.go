package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fusebox-dev/fusebox/store"
)

func TestARevokedSessionStaysRevokedAcrossReopeningUntilItExpires(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := open(t, dir)
	if err := s.RevokeSession("old", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession("new", now.Add(12*time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	for _, id := range []string{"old", "new"} {
		if ok, err := s.SessionRevoked(id); err != nil || !ok {
			t.Errorf("SessionRevoked(%s) after reopening = %v, %v; want true", id, ok, err)
		}
	}
	if ok, err := s.SessionRevoked("other"); err != nil || ok {
		t.Errorf("SessionRevoked(other) = %v, %v; want false", ok, err)
	}
	// A later revocation prunes the records of sessions expired by then.
	later := now.Add(time.Hour)
	if err := s.RevokeSession("third", later.Add(time.Hour), later); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.SessionRevoked("old"); ok {
		t.Error("the expired session's record was kept")
	}
	if ok, _ := s.SessionRevoked("new"); !ok {
		t.Error("a session still valid lost its revocation")
	}
}

func TestAVersionOneFileIsMigratedAndKeepsItsRecords(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.PutOverride(store.Override{Pipeline: "payments", State: "forced_open", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, store.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("sessions")); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, 1})
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	if v, err := s.SchemaVersion(); err != nil || v != store.SchemaVersion {
		t.Errorf("SchemaVersion after migrating = %d, %v", v, err)
	}
	if err := s.RevokeSession("x", time.Now().Add(time.Hour), time.Now()); err != nil {
		t.Errorf("RevokeSession after migrating: %v", err)
	}
	if _, ok, err := s.Override("payments"); err != nil || !ok {
		t.Errorf("the override was lost in the migration: %v %v", ok, err)
	}
}

func TestAZeroByteDataFileIsRefusedLikeAnyOtherDamage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, store.FileName)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(dir)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "move it aside or restore a backup") {
		t.Fatalf("Open of a 0-byte file = %v, want ErrCorrupt saying to move it aside", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the file was changed: %v, %v", fi, err)
	}
}
