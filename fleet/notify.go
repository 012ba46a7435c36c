package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fusebox-dev/fusebox/alerting"
	"github.com/fusebox-dev/fusebox/resilience"
)

// SLOPipeline returns the name a hub's SLO gives a pipeline of a service:
// "service/pipeline". Neither name can hold a '/'.
func SLOPipeline(service, pipeline string) string { return service + "/" + pipeline }

// ParseSLOPipeline splits "service/pipeline" and checks both names.
func ParseSLOPipeline(s string) (service, pipeline string, err error) {
	service, pipeline, ok := strings.Cut(s, "/")
	if !ok {
		return "", "", fmt.Errorf("%w: %q must be service/pipeline on a hub", ErrInvalidName, s)
	}
	if err := validName("service", service); err != nil {
		return "", "", err
	}
	if err := validPipeline(pipeline); err != nil {
		return "", "", err
	}
	return service, pipeline, nil
}

// SLOFeed returns the HubConfig.OnSnapshot that counts every snapshot's
// calls for the SLOs of eng, whose pipelines are named
// SLOPipeline(service, pipeline): the SLOs see the merged calls of every
// instance of the service, at the hub's time of each snapshot.
func SLOFeed(eng *alerting.SLOEngine) func(*Snapshot, time.Time) {
	return func(s *Snapshot, at time.Time) {
		for i := range s.Pipelines {
			d := &s.Pipelines[i]
			if d.Counts.CallCount() == 0 {
				continue
			}
			c := alerting.CallCounts{Calls: d.Counts.Calls, Latency: make([]alerting.BucketCount, len(d.Latency))}
			for j, b := range d.Latency {
				c.Latency[j] = alerting.BucketCount{Index: int(b.Index), Count: b.Count}
			}
			eng.ObserveCounts(SLOPipeline(s.Service, d.Name), at, c)
		}
	}
}

// NotifiedBucket returns the name of the KV bucket in which hubs record
// the notifications they send.
func (n Names) NotifiedBucket() string { return n.prefix() + "_notified" }

// DefaultNotifiedTTL is how long a record of a sent notification lives.
const DefaultNotifiedTTL = 24 * time.Hour

// DedupConfig configures a DedupOutbox.
type DedupConfig struct {
	// Conn is the hub's NATS connection. Required.
	Conn *nats.Conn
	// Names derives the bucket name; the zero value uses "fusebox".
	Names Names
	// Outbox is the hub's own durable outbox. Required.
	Outbox alerting.Outbox
	// RepeatInterval is the receivers' repeat interval: a notification
	// equal to the last one sent for its group is a repeat to send once
	// half of it has passed since. Zero means
	// alerting.DefaultRepeatInterval.
	RepeatInterval time.Duration
	// TTL is how long a record lives in the bucket; zero means
	// DefaultNotifiedTTL.
	TTL time.Duration
	// Replicas is the bucket's replica count on a cluster; zero means 1.
	Replicas int
	// Timeout bounds each bucket operation; zero means 2 s.
	Timeout time.Duration
	// Clock stamps the records; nil means the system clock.
	Clock resilience.Clock
	// Logger logs the bucket errors; nil discards.
	Logger *slog.Logger
}

// DedupOutbox is the outbox of a hub that runs beside other hubs on one
// NATS cluster: each hub evaluates the fleet's SLOs and raises the same
// alerts, and DedupOutbox lets one notification per transition of an alert
// group through. It records, per receiver and group, the last
// notification sent (the status of each of its alerts by fingerprint) in
// a JetStream KV bucket, and a notification equal to the recorded one is
// dropped as sent by another hub (unless it is a repeat, due half a repeat
// interval after the recorded one).
//
// A notification is written to the hub's own outbox first and claimed in
// the bucket after, by a compare-and-set on the record's revision; until
// the claim is settled it is held back from delivery, and it is removed if
// another hub's claim won. A hub that stops in between delivers it after
// its restart, and a hub cut off from NATS delivers what it cannot claim:
// the failures make duplicates, never losses.
type DedupOutbox struct {
	cfg DedupConfig
	kv  jetstream.KeyValue
	log *slog.Logger

	mu       sync.Mutex
	claiming map[uint64]bool
}

// notifiedRecord is the value of a record in the bucket.
type notifiedRecord struct {
	// Content is what the notification says: its status and each alert's
	// fingerprint and status.
	Content string    `json:"content"`
	At      time.Time `json:"at"`
}

// NewDedupOutbox creates (or opens) the bucket and returns the outbox.
func NewDedupOutbox(ctx context.Context, cfg DedupConfig) (*DedupOutbox, error) {
	if cfg.Conn == nil || cfg.Outbox == nil {
		return nil, errors.New("fleet: DedupConfig needs Conn and Outbox")
	}
	if cfg.RepeatInterval <= 0 {
		cfg.RepeatInterval = alerting.DefaultRepeatInterval
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultNotifiedTTL
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = resilience.SystemClock()
	}
	o := &DedupOutbox{cfg: cfg, log: cfg.Logger, claiming: map[uint64]bool{}}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, err
	}
	o.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Names.NotifiedBucket(),
		Description: "Fusebox hubs: the last notification sent per receiver and alert group",
		History:     1,
		TTL:         cfg.TTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: creating the notifications bucket %s: %w", cfg.Names.NotifiedBucket(), err)
	}
	return o, nil
}

// notifiedKey returns the bucket key of a receiver's alert group.
func notifiedKey(receiver, group string) string {
	h := sha256.Sum256([]byte(receiver + "\x00" + group))
	return hex.EncodeToString(h[:])
}

// content returns what a notification says, from its Alertmanager
// payload: the status, then each alert's fingerprint and status, sorted.
// An unreadable payload is its own content.
func content(payload []byte) string {
	var p alerting.AlertmanagerPayload
	if err := json.Unmarshal(payload, &p); err != nil || len(p.Alerts) == 0 {
		h := sha256.Sum256(payload)
		return "payload:" + hex.EncodeToString(h[:])
	}
	parts := make([]string, len(p.Alerts))
	for i, a := range p.Alerts {
		parts[i] = a.Fingerprint + "=" + a.Status
	}
	slices.Sort(parts)
	return p.Status + ":" + strings.Join(parts, ",")
}

// sentBy reports whether rec records what c says, recently enough that
// the notification is no repeat.
func (o *DedupOutbox) sentBy(rec notifiedRecord, c string, now time.Time) bool {
	return rec.Content == c && now.Sub(rec.At) < o.cfg.RepeatInterval/2
}

func (o *DedupOutbox) get(ctx context.Context, key string) (notifiedRecord, uint64, error) {
	e, err := o.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return notifiedRecord{}, 0, nil
	}
	if err != nil {
		return notifiedRecord{}, 0, err
	}
	var rec notifiedRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		// An unreadable record is overwritten.
		return notifiedRecord{}, e.Revision(), nil
	}
	return rec, e.Revision(), nil
}

// EnqueueNotification writes n to the hub's outbox unless another hub
// sent it (then it returns 0 and no error), and claims it.
func (o *DedupOutbox) EnqueueNotification(n alerting.Notification) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.cfg.Timeout)
	defer cancel()
	key, c, now := notifiedKey(n.Receiver, n.Group), content(n.Payload), o.cfg.Clock.Now()
	rec, rev, err := o.get(ctx, key)
	if err == nil && o.sentBy(rec, c, now) {
		return 0, nil
	}
	o.mu.Lock()
	id, qerr := o.cfg.Outbox.EnqueueNotification(n)
	if qerr == nil {
		o.claiming[id] = true
	}
	o.mu.Unlock()
	if qerr != nil {
		return 0, qerr
	}
	if err == nil {
		err = o.claim(ctx, key, c, now, rev, id)
	}
	if err != nil {
		o.log.Warn("fleet: could not claim a notification in the bucket; delivering it", "receiver", n.Receiver, "group", n.Group, "err", err)
	}
	o.mu.Lock()
	delete(o.claiming, id)
	o.mu.Unlock()
	return id, nil
}

// claim records c under key, whose revision was rev (0: absent). When
// another hub recorded the same first, the notification id is removed from
// the outbox.
func (o *DedupOutbox) claim(ctx context.Context, key, c string, now time.Time, rev, id uint64) error {
	val, err := json.Marshal(notifiedRecord{Content: c, At: now})
	if err != nil {
		return err
	}
	for range 3 {
		if rev == 0 {
			_, err = o.kv.Create(ctx, key, val)
		} else {
			_, err = o.kv.Update(ctx, key, val, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return err
		}
		var rec notifiedRecord
		if rec, rev, err = o.get(ctx, key); err != nil {
			return err
		}
		if o.sentBy(rec, c, now) {
			return o.cfg.Outbox.AckNotification(id)
		}
	}
	return errors.New("fleet: the notification record kept changing")
}

// isWrongSequence reports a compare-and-set that lost to another writer.
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// PendingNotifications returns the hub's pending notifications, without
// those whose claim is not settled.
func (o *DedupOutbox) PendingNotifications(receiver string) ([]alerting.Notification, error) {
	ns, err := o.cfg.Outbox.PendingNotifications(receiver)
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.claiming) > 0 {
		ns = slices.DeleteFunc(ns, func(n alerting.Notification) bool { return o.claiming[n.ID] })
	}
	return ns, err
}

// UpdateNotification records a failed round in the hub's outbox.
func (o *DedupOutbox) UpdateNotification(n alerting.Notification) error {
	return o.cfg.Outbox.UpdateNotification(n)
}

// AckNotification removes a delivered notification from the hub's outbox.
func (o *DedupOutbox) AckNotification(id uint64) error { return o.cfg.Outbox.AckNotification(id) }
