package fleet

import (
	"sort"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// InstanceState says whether an instance is reporting.
type InstanceState uint8

// The instance states.
const (
	// InstanceUp: a snapshot arrived within the stale delay.
	InstanceUp InstanceState = iota
	// InstanceStale: none for the stale delay (10 s by default).
	InstanceStale
	// InstanceGone: none for the gone delay (60 s by default).
	InstanceGone
	// NumInstanceStates is the number of states.
	NumInstanceStates
)

var instanceStateNames = [NumInstanceStates]string{"up", "stale", "gone"}

// String returns "up", "stale" or "gone".
func (s InstanceState) String() string {
	if s < NumInstanceStates {
		return instanceStateNames[s]
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (s InstanceState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// rateWindow is the span of the fleet rates; latencyWindow that of the
// fleet percentiles.
const (
	rateWindow    = 10
	latencyWindow = 60
)

// serviceState is the hub's state of one service.
type serviceState struct {
	instances map[string]*instanceState
	pipelines map[string]*pipelineAgg
}

// instanceState is what the hub knows of one instance.
type instanceState struct {
	id        string
	firstSeen time.Time
	lastSeen  time.Time // on the hub's clock
	sentAt    time.Time // on the instance's clock
	seq       uint64
	lost      uint64 // snapshots missing from the sequence
	pipelines map[string]*instancePipeline
}

// instancePipeline is one pipeline of one instance.
type instancePipeline struct {
	state     resilience.State
	noBreaker bool
	override  uint64
	// policies, off, fleetOff: the kinds of policy, those off, those the
	// fleet switched off.
	policies, off, fleetOff PolicySet
	slots                   [rateWindow]slot // counts only
}

// pipelineAgg merges one pipeline over every instance of a service.
type pipelineAgg struct {
	slots [latencyWindow]slot
}

// slot holds the deltas received in one second of the hub's clock.
type slot struct {
	sec         int64
	counts      telemetry.Counts
	transitions uint64
	latencySum  time.Duration
	latency     map[uint16]uint64 // nil in instance slots
}

func (s *slot) at(sec int64, withLatency bool) *slot {
	if s.sec != sec {
		*s = slot{sec: sec, latency: s.latency}
		if withLatency {
			if s.latency == nil {
				s.latency = make(map[uint16]uint64)
			}
			clear(s.latency)
		}
	}
	return s
}

func (s *slot) add(d *PipelineDelta, withLatency bool) {
	addCounts(&s.counts, &d.Counts)
	s.transitions += d.Transitions
	s.latencySum += d.LatencySum
	if withLatency {
		for _, b := range d.Latency {
			s.latency[b.Index] += b.Count
		}
	}
}

func addArr(dst, src []uint64) {
	for i := range dst {
		dst[i] += src[i]
	}
}

func addCounts(dst, src *telemetry.Counts) {
	addArr(dst.Calls[:], src.Calls[:])
	addArr(dst.Attempts[:], src.Attempts[:])
	addArr(dst.Rejections[:], src.Rejections[:])
	addArr(dst.Timeouts[:], src.Timeouts[:])
	dst.Retries += src.Retries
	dst.Fallbacks += src.Fallbacks
}

// sumSlots adds the counts of the slots of the last n seconds up to sec.
func sumSlots(slots []slot, sec int64, n int64) (c telemetry.Counts, transitions uint64) {
	for i := range slots {
		s := &slots[i]
		if s.sec > sec-n && s.sec <= sec {
			addCounts(&c, &s.counts)
			transitions += s.transitions
		}
	}
	return c, transitions
}

// mergedLatency merges the latency buckets of the slots of the last n
// seconds up to sec.
func mergedLatency(slots []slot, sec int64, n int64) telemetry.Histogram {
	merged := make(map[uint16]uint64)
	var h telemetry.Histogram
	for i := range slots {
		s := &slots[i]
		if s.sec > sec-n && s.sec <= sec {
			for idx, c := range s.latency {
				merged[idx] += c
			}
			h.Sum += s.latencySum
		}
	}
	idxs := make([]int, 0, len(merged))
	for idx := range merged {
		idxs = append(idxs, int(idx))
	}
	sort.Ints(idxs)
	h.Buckets = make([]telemetry.HistogramBucket, 0, len(idxs))
	for _, idx := range idxs {
		b, ok := telemetry.LatencyBucket(idx)
		if !ok {
			continue
		}
		b.Count = merged[uint16(idx)]
		h.Count += b.Count
		h.Buckets = append(h.Buckets, b)
	}
	return h
}

// FleetView is the hub's view of every service.
type FleetView struct {
	// Time is when the view was taken, on the hub's clock.
	Time     time.Time     `json:"time"`
	Services []ServiceView `json:"services"`
}

// ServiceView is one service: its instances and its pipelines over them.
type ServiceView struct {
	Name string `json:"name"`
	// Up, Stale and Gone count the instances by state.
	Up        int            `json:"up"`
	Stale     int            `json:"stale"`
	Gone      int            `json:"gone"`
	Instances []InstanceView `json:"instances"`
	Pipelines []PipelineView `json:"pipelines,omitempty"`
}

// InstanceView is one instance of a service.
type InstanceView struct {
	ID       string        `json:"id"`
	State    InstanceState `json:"state"`
	LastSeen time.Time     `json:"last_seen"`
	// Age is the time since its last snapshot, on the hub's clock.
	Age time.Duration `json:"age_ns"`
	// Seq is the sequence number of its last snapshot; Lost counts the
	// snapshots missing from the sequence.
	Seq  uint64 `json:"seq"`
	Lost uint64 `json:"lost"`
}

// PipelineView is one pipeline of a service, over its instances that are
// not gone.
type PipelineView struct {
	Name string `json:"name"`
	// Instances counts the instances reporting the pipeline (up or
	// stale); Open those whose breaker is open or forced open.
	Instances int `json:"instances"`
	Open      int `json:"open"`
	// Window is the span of the rates and Counts; LatencyWindow that of
	// Latency, merged bucket by bucket from every instance.
	Window              time.Duration         `json:"window_ns"`
	Counts              telemetry.Counts      `json:"counts"`
	CallsPerSecond      float64               `json:"calls_per_second"`
	SuccessRate         float64               `json:"success_rate"`
	RetriesPerSecond    float64               `json:"retries_per_second"`
	RejectionsPerSecond float64               `json:"rejections_per_second"`
	Transitions         uint64                `json:"transitions"`
	LatencyWindow       time.Duration         `json:"latency_window_ns"`
	Latency             telemetry.Percentiles `json:"latency"`
	// HasBreaker is set when an instance reports a breaker for it: an
	// override applies only then.
	HasBreaker bool `json:"has_breaker"`
	// Policies are the kinds of policy that kill switches turn off that
	// some instance reports for it.
	Policies PolicySet `json:"policies"`
	// Breakers are the instances' breakers, by instance id.
	Breakers []InstanceBreaker `json:"breakers"`
}

// InstanceBreaker is the breaker of one pipeline on one instance.
type InstanceBreaker struct {
	Instance      string           `json:"instance"`
	InstanceState InstanceState    `json:"instance_state"`
	State         resilience.State `json:"state"`
	// NoBreaker is set when the pipeline has no breaker on the instance.
	NoBreaker bool `json:"no_breaker,omitempty"`
	// Override is the revision of the fleet override the instance applies
	// (zero: none).
	Override uint64 `json:"override,omitempty"`
	// Policies are the pipeline's kinds of policy on the instance that
	// kill switches turn off; Off those switched off there now (by its own
	// kill switch or the fleet's), FleetOff those of Off the fleet's.
	Policies PolicySet `json:"policies"`
	Off      PolicySet `json:"off"`
	FleetOff PolicySet `json:"fleet_off"`

	CallsPerSecond float64 `json:"calls_per_second"`
	SuccessRate    float64 `json:"success_rate"`
}

// Open reports whether the breaker turns calls away.
func (b InstanceBreaker) Open() bool {
	return !b.NoBreaker && b.State == resilience.StateOpen || b.State == resilience.StateForcedOpen
}

// PolicyCount counts the instances of a pipeline by the state of one kind
// of policy.
type PolicyCount struct {
	// Policy is the kind ("retry", …).
	Policy string `json:"policy"`
	// Instances counts the instances (not gone) that report the policy;
	// Off those that run with it switched off now, FleetOff those of Off
	// by a fleet kill switch (the rest by their own).
	Instances int `json:"instances"`
	Off       int `json:"off"`
	FleetOff  int `json:"fleet_off"`
}

// PolicyCounts counts p's instances by the state of each kind of policy
// they report, in the order of resilience.SwitchablePolicies.
func (p PipelineView) PolicyCounts() []PolicyCount {
	out := []PolicyCount{}
	for _, name := range p.Policies.Names() {
		c := PolicyCount{Policy: name}
		for _, b := range p.Breakers {
			if !b.Policies.Has(name) {
				continue
			}
			c.Instances++
			if b.Off.Has(name) {
				c.Off++
				if b.FleetOff.Has(name) {
					c.FleetOff++
				}
			}
		}
		out = append(out, c)
	}
	return out
}
