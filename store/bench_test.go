package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/store"
)

// Writes are fsync'd, so their cost is mostly the disk's; reads are in-memory
// (mmap) and run in parallel.

func BenchmarkApplyOverride(b *testing.B) {
	s := open(b, b.TempDir())
	o := store.Override{Pipeline: "payments", State: "forced_open", Reason: "bench", Actor: "admin", At: t0}
	a := store.AuditEntry{At: t0, Actor: "admin", Action: "override.set", Pipeline: "payments", To: "forced_open"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ApplyOverride(o, a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnqueueAck(b *testing.B) {
	s := open(b, b.TempDir())
	n := alerting.Notification{Receiver: "ops", Payload: make([]byte, 1024), CreatedAt: t0}
	b.ReportAllocs()
	for b.Loop() {
		id, err := s.EnqueueNotification(n)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.AckNotification(id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOverrides(b *testing.B) {
	for _, n := range []int{1, 50} {
		s := open(b, b.TempDir())
		for i := range n {
			if err := s.PutOverride(store.Override{Pipeline: fmt.Sprintf("p%02d", i), State: "forced_open", At: t0}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("overrides=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Overrides(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("overrides=%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Overrides(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkAuditPage(b *testing.B) {
	s := open(b, b.TempDir())
	fill(b, s, store.DefaultAuditRetention, 0)
	b.Run("entries=10000/limit=50/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Audit(50, 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkOpen measures Open, integrity check included, on a store filled
// to its default audit retention and outbox limit.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	fill(b, s, store.DefaultAuditRetention, store.DefaultOutboxLimit)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, check := range []bool{true, false} {
		b.Run(fmt.Sprintf("check=%v", check), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := store.Open(dir, store.WithIntegrityCheck(check))
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fill appends audit entries and notifications, one transaction each.
func fill(b *testing.B, s *store.Store, audit, outbox int) {
	b.Helper()
	for i := range audit {
		if _, err := s.AppendAudit(store.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Actor: "admin", Action: "override.set",
			Pipeline: "payments", From: "closed", To: "forced_open", Reason: "a reason of ordinary length"}); err != nil {
			b.Fatal(err)
		}
	}
	for range outbox {
		if _, err := s.EnqueueNotification(alerting.Notification{Receiver: "ops", Payload: make([]byte, 1024), CreatedAt: t0}); err != nil {
			b.Fatal(err)
		}
	}
}
