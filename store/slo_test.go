package store_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestSLOSnapshotsRoundTrip(t *testing.T) {
	s := open(t, t.TempDir())
	if _, ok, err := s.SLOSnapshot("checkout"); err != nil || ok {
		t.Fatalf("SLOSnapshot of a missing name = %v, %v; want false, nil", ok, err)
	}
	data := []byte{0x00, 0x01, 0xff, 'x'}
	if err := s.PutSLOSnapshot("checkout", data); err != nil {
		t.Fatal(err)
	}
	data[0] = 0x42 // the store must have copied it
	got, ok, err := s.SLOSnapshot("checkout")
	if err != nil || !ok || !bytes.Equal(got, []byte{0x00, 0x01, 0xff, 'x'}) {
		t.Fatalf("SLOSnapshot(checkout) = %x, %v, %v", got, ok, err)
	}

	if err := s.PutSLOSnapshot("checkout", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.SLOSnapshot("checkout"); string(got) != "v2" {
		t.Errorf("after replacing, snapshot = %q, want v2", got)
	}

	if err := s.PutSLOSnapshot("empty", nil); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.SLOSnapshot("empty"); err != nil || !ok || got == nil || len(got) != 0 {
		t.Errorf("empty snapshot = %v (nil %v), %v, %v; want a present, empty, non-nil slice", got, got == nil, ok, err)
	}

	names, err := s.SLOSnapshotNames()
	if err != nil || !reflect.DeepEqual(names, []string{"checkout", "empty"}) {
		t.Errorf("SLOSnapshotNames() = %v, %v", names, err)
	}
	if err := s.DeleteSLOSnapshot("checkout"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.SLOSnapshot("checkout"); ok {
		t.Error("snapshot still present after DeleteSLOSnapshot")
	}
}

func TestSLOSnapshotRejectsAnEmptyName(t *testing.T) {
	s := open(t, t.TempDir())
	_, _, getErr := s.SLOSnapshot("")
	for name, err := range map[string]error{
		"PutSLOSnapshot":    s.PutSLOSnapshot("", []byte("x")),
		"SLOSnapshot":       getErr,
		"DeleteSLOSnapshot": s.DeleteSLOSnapshot(""),
	} {
		if err == nil || !strings.Contains(err.Error(), "slo name must not be empty") {
			t.Errorf("%s(\"\") = %v, want an error naming the slo name", name, err)
		}
	}
}
