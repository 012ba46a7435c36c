package fleet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// Version is the snapshot format that this package writes. A hub reads it
// and the ones before (version 1 has no kinds of policy: its pipelines read
// as having none; versions 1 and 2 have four rejection reasons, without
// concurrency_limit: it reads as 0), and drops (and counts) a snapshot of
// any other version.
const Version = 3

// MaxSnapshotBytes is the default bound on an encoded snapshot; a hub drops
// (and counts) a larger one. A snapshot of 20 pipelines is 1,906 bytes when
// each had calls of every kind in 24 latency buckets, 386 bytes when idle
// (TestSnapshotSize).
const MaxSnapshotBytes = 64 << 10

// maxPipelines bounds the pipelines of one snapshot.
const maxPipelines = 1024

// maxPolicySet bounds a PolicySet on the wire: 16 kinds of policy.
const maxPolicySet = 1<<16 - 1

// magic starts every encoded snapshot.
var magic = [2]byte{'F', 'S'}

var (
	// ErrMalformed is wrapped by the error of a snapshot that cannot be
	// decoded.
	ErrMalformed = errors.New("fleet: malformed snapshot")
	// ErrVersion is wrapped by the error of a snapshot of another format
	// version.
	ErrVersion = errors.New("fleet: unsupported snapshot version")
	// ErrTooLarge is wrapped by the error of a snapshot over the size bound.
	ErrTooLarge = errors.New("fleet: snapshot too large")
)

// Snapshot is what one instance reports once a second: per pipeline, what
// happened since its previous snapshot, and its breaker state now.
type Snapshot struct {
	// Service and Instance name the sender.
	Service, Instance string
	// Seq counts the instance's snapshots from 1; a gap means lost ones.
	Seq uint64
	// Time is when it was taken, on the instance's clock (millisecond
	// precision on the wire).
	Time time.Time
	// Interval is the time the deltas cover (millisecond precision).
	Interval time.Duration
	// Pipelines are sorted by name.
	Pipelines []PipelineDelta
}

// PipelineDelta is one pipeline's part of a Snapshot.
type PipelineDelta struct {
	Name string
	// State is the breaker state now (StateClosed without a breaker).
	State resilience.State
	// NoBreaker is set for a pipeline without a circuit breaker.
	NoBreaker bool
	// Override is the revision of the overrides-bucket entry the instance
	// applies to this pipeline's breaker; zero when none.
	Override uint64
	// Policies are the pipeline's kinds of policy that kill switches turn
	// off; Off those switched off now, by the instance's own kill switch
	// or the fleet's; FleetOff those of Off the fleet's switched off.
	Policies, Off, FleetOff PolicySet
	// Counts are the events since the previous snapshot.
	Counts telemetry.Counts
	// Transitions counts the breaker transitions since the previous
	// snapshot.
	Transitions uint64
	// LatencySum is the sum of the call durations of Latency.
	LatencySum time.Duration
	// Latency are the non-empty call-duration buckets since the previous
	// snapshot, by increasing index (telemetry.LatencyBucket).
	Latency []BucketCount
}

// BucketCount is the count of one call-duration histogram bucket.
type BucketCount struct {
	Index uint16
	Count uint64
}

// AppendBinary appends the encoded snapshot to b.
//
// Layout (uvarint unless said): "FS", version byte, seq, time in Unix
// milliseconds (varint), interval in milliseconds, service and instance
// (length and bytes), pipeline count; per pipeline: name, state byte,
// override revision, the kinds of policy, those off and those the fleet
// switched off (three PolicySet bit sets; not in version 1), a flags byte (1: something happened, and the rest
// follows; without it nothing follows for this pipeline; 2: the pipeline
// has no breaker), calls by outcome (5), attempts by outcome (5), retries,
// rejections by reason (telemetry.NumRejections; 4 before version 3), timeouts by scope (2), fallbacks, transitions,
// latency sum in nanoseconds, bucket count, then per bucket the index
// (the first absolute, then the gap from the previous) and the count.
func (s *Snapshot) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, magic[0], magic[1], Version)
	b = binary.AppendUvarint(b, s.Seq)
	b = binary.AppendVarint(b, s.Time.UnixMilli())
	b = binary.AppendUvarint(b, uint64(max(s.Interval, 0)/time.Millisecond))
	b = appendString(b, s.Service)
	b = appendString(b, s.Instance)
	b = binary.AppendUvarint(b, uint64(len(s.Pipelines)))
	for i := range s.Pipelines {
		p := &s.Pipelines[i]
		b = appendString(b, p.Name)
		b = append(b, byte(p.State))
		b = binary.AppendUvarint(b, p.Override)
		b = binary.AppendUvarint(b, uint64(p.Policies))
		b = binary.AppendUvarint(b, uint64(p.Off))
		b = binary.AppendUvarint(b, uint64(p.FleetOff))
		flags := byte(0)
		if p.NoBreaker {
			flags |= flagNoBreaker
		}
		if p.idle() {
			b = append(b, flags)
			continue
		}
		b = append(b, flags|flagActive)
		c := &p.Counts
		b = appendUvarints(b, c.Calls[:])
		b = appendUvarints(b, c.Attempts[:])
		b = binary.AppendUvarint(b, c.Retries)
		b = appendUvarints(b, c.Rejections[:])
		b = appendUvarints(b, c.Timeouts[:])
		b = binary.AppendUvarint(b, c.Fallbacks)
		b = binary.AppendUvarint(b, p.Transitions)
		b = binary.AppendUvarint(b, uint64(max(p.LatencySum, 0)))
		b = binary.AppendUvarint(b, uint64(len(p.Latency)))
		prev := uint16(0)
		for j, bc := range p.Latency {
			if j > 0 && bc.Index <= prev {
				return nil, fmt.Errorf("fleet: pipeline %q: latency buckets out of order at %d", p.Name, j)
			}
			b = binary.AppendUvarint(b, uint64(bc.Index-prev))
			b = binary.AppendUvarint(b, bc.Count)
			prev = bc.Index
		}
	}
	return b, nil
}

// The bits of a pipeline's flags byte.
const (
	flagActive    = 1 << 0
	flagNoBreaker = 1 << 1
)

// idle reports whether nothing happened: only the name, state, override
// and kinds of policy are written.
func (p *PipelineDelta) idle() bool {
	return p.Counts == (telemetry.Counts{}) && p.Transitions == 0 && p.LatencySum == 0 && len(p.Latency) == 0
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendUvarints(b []byte, v []uint64) []byte {
	for _, x := range v {
		b = binary.AppendUvarint(b, x)
	}
	return b
}

// DecodeSnapshot decodes data, refusing more than limit bytes (zero means
// MaxSnapshotBytes). Its errors wrap ErrTooLarge, ErrVersion, ErrMalformed
// or ErrInvalidName; it never panics on any input.
func DecodeSnapshot(data []byte, limit int) (*Snapshot, error) {
	if limit <= 0 {
		limit = MaxSnapshotBytes
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%w: %d bytes, the bound is %d", ErrTooLarge, len(data), limit)
	}
	if len(data) < 3 || data[0] != magic[0] || data[1] != magic[1] {
		return nil, fmt.Errorf("%w: no snapshot header", ErrMalformed)
	}
	version := data[2]
	if version < 1 || version > Version {
		return nil, fmt.Errorf("%w: version %d, this build reads 1 to %d", ErrVersion, data[2], Version)
	}
	d := decoder{b: data[3:]}
	s := &Snapshot{Seq: d.uvarint("seq")}
	s.Time = time.UnixMilli(d.varint("time"))
	s.Interval = time.Duration(d.bounded("interval", uint64(time.Hour/time.Millisecond))) * time.Millisecond
	s.Service = d.string("service")
	s.Instance = d.string("instance")
	n := d.bounded("pipeline count", maxPipelines)
	if d.err == nil {
		if err := validName("service", s.Service); err != nil {
			return nil, err
		}
		if err := validName("instance", s.Instance); err != nil {
			return nil, err
		}
		s.Pipelines = make([]PipelineDelta, 0, min(n, uint64(len(d.b))))
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var p PipelineDelta
		p.Name = d.string("pipeline name")
		p.State = resilience.State(d.byte("state"))
		if d.err == nil && p.State >= resilience.NumStates {
			d.fail("state %d", p.State)
		}
		p.Override = d.uvarint("override")
		if version >= 2 {
			p.Policies = PolicySet(d.bounded("policies", maxPolicySet))
			p.Off = PolicySet(d.bounded("policies off", maxPolicySet))
			p.FleetOff = PolicySet(d.bounded("policies the fleet switched off", maxPolicySet))
		}
		flags := d.byte("flags")
		if flags&^(flagActive|flagNoBreaker) != 0 {
			d.fail("flags %#x", flags)
		}
		p.NoBreaker = flags&flagNoBreaker != 0
		if flags&flagActive == 0 {
			if d.err == nil {
				if err := validPipeline(p.Name); err != nil {
					return nil, err
				}
			}
			s.Pipelines = append(s.Pipelines, p)
			continue
		}
		c := &p.Counts
		d.uvarints("calls", c.Calls[:])
		d.uvarints("attempts", c.Attempts[:])
		c.Retries = d.uvarint("retries")
		if version >= 3 {
			d.uvarints("rejections", c.Rejections[:])
		} else {
			d.uvarints("rejections", c.Rejections[:telemetry.RejectConcurrencyLimit])
		}
		d.uvarints("timeouts", c.Timeouts[:])
		c.Fallbacks = d.uvarint("fallbacks")
		p.Transitions = d.uvarint("transitions")
		p.LatencySum = time.Duration(d.bounded("latency sum", 1<<62))
		nb := d.bounded("bucket count", telemetry.LatencyBuckets)
		if d.err == nil && nb > 0 {
			p.Latency = make([]BucketCount, 0, nb)
		}
		idx := uint64(0)
		for j := uint64(0); j < nb && d.err == nil; j++ {
			gap := d.uvarint("bucket index")
			if j > 0 && gap == 0 {
				d.fail("bucket %d repeats an index", j)
			}
			idx += gap
			if d.err == nil && idx >= telemetry.LatencyBuckets {
				d.fail("bucket index %d", idx)
			}
			p.Latency = append(p.Latency, BucketCount{Index: uint16(idx), Count: d.uvarint("bucket count")})
		}
		if d.err == nil {
			if err := validPipeline(p.Name); err != nil {
				return nil, err
			}
		}
		s.Pipelines = append(s.Pipelines, p)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the last pipeline", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

// decoder reads the fields of a snapshot; after the first error every
// read returns zero and err keeps that first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong %s", field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong %s", field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bounded(field string, limit uint64) uint64 {
	v := d.uvarint(field)
	if v > limit {
		d.fail("%s %d is over %d", field, v, limit)
		return 0
	}
	return v
}

func (d *decoder) uvarints(field string, dst []uint64) {
	for i := range dst {
		dst[i] = d.uvarint(field)
	}
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated %s", field)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string(field string) string {
	n := d.bounded(field+" length", maxName)
	if d.err != nil {
		return ""
	}
	if uint64(len(d.b)) < n {
		d.fail("truncated %s", field)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
