package telemetry

import (
	"errors"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

var (
	// ErrUnknownPipeline is wrapped by the error Aggregator.Pipeline returns
	// for a name that was never bound.
	ErrUnknownPipeline = errors.New("telemetry: unknown pipeline")
	// ErrAlreadyBound is wrapped by the error Aggregator.Bind returns for a
	// name bound already: binding twice would count every event twice.
	ErrAlreadyBound = errors.New("telemetry: pipeline is bound already")
)

// Rejection is why a call or an attempt was turned away: a small integer
// for arrays indexed by it.
type Rejection uint8

// The rejection reasons, as in the reason label of fusebox_rejections_total.
const (
	RejectBreakerOpen      Rejection = iota // the breaker was open
	RejectBulkheadFull                      // the bulkhead had no room
	RejectRetryBudget                       // a retry was refused: the retry budget is spent
	RejectRateLimited                       // the rate limiter had no token
	RejectConcurrencyLimit                  // an adaptive concurrency limit was reached
	// NumRejections is the number of rejection reasons.
	NumRejections
)

var rejectionNames = [NumRejections]string{"breaker_open", "bulkhead_full", "retry_budget", "rate_limited", "concurrency_limit"}

// String returns the reason's label value ("breaker_open").
func (r Rejection) String() string {
	if r < NumRejections {
		return rejectionNames[r]
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (r Rejection) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// NumScopes is the number of timeout scopes (resilience.ScopeCall and
// resilience.ScopeAttempt), for arrays indexed by resilience.Scope.
const NumScopes = 2

// Counts are the event counts of a span of time (a window, a series point)
// or since the pipeline was bound (Totals).
type Counts struct {
	// Calls counts the calls that ended (KindCallEnd), by outcome.
	Calls [resilience.NumOutcomes]uint64
	// Attempts counts the attempts that ended (KindAttemptEnd), by outcome.
	Attempts [resilience.NumOutcomes]uint64
	// Retries counts the retries scheduled (KindRetryScheduled).
	Retries uint64
	// Rejections counts the refusals by reason (KindRejected with
	// breaker_open, bulkhead_full, rate_limited or concurrency_limit,
	// KindBudgetExhausted as retry_budget).
	Rejections [NumRejections]uint64
	// Timeouts counts the timeouts that fired, by resilience.Scope.
	Timeouts [NumScopes]uint64
	// Fallbacks counts the fallbacks that answered (KindFallback).
	Fallbacks uint64
}

// CallCount returns the number of calls that ended, whatever the outcome.
func (c Counts) CallCount() uint64 { return sum(c.Calls[:]) }

// AttemptCount returns the number of attempts that ended.
func (c Counts) AttemptCount() uint64 { return sum(c.Attempts[:]) }

// RejectionCount returns the number of rejections, whatever the reason.
func (c Counts) RejectionCount() uint64 { return sum(c.Rejections[:]) }

// TimeoutCount returns the number of timeouts, whatever the scope.
func (c Counts) TimeoutCount() uint64 { return sum(c.Timeouts[:]) }

// EffectiveSuccessRate returns the share of calls that succeeded, after
// retries and fallbacks: what callers see. It is 0 when no call ended; check
// CallCount before showing it.
func (c Counts) EffectiveSuccessRate() float64 {
	return ratio(c.Calls[resilience.OutcomeSuccess], c.CallCount())
}

// ActualSuccessRate returns the share of attempts that succeeded: what the
// dependency did. It is 0 when no attempt ended; check AttemptCount.
func (c Counts) ActualSuccessRate() float64 {
	return ratio(c.Attempts[resilience.OutcomeSuccess], c.AttemptCount())
}

// Amplification returns attempts ÷ calls: how much load retries add to the
// dependency (1 means no retry). It is 0 when no call ended.
func (c Counts) Amplification() float64 { return ratio(c.AttemptCount(), c.CallCount()) }

func sum(v []uint64) uint64 {
	var s uint64
	for _, x := range v {
		s += x
	}
	return s
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Percentiles are latency percentiles of the calls that ended in a span of
// time, each within 2 % of the exact value (see Histogram).
type Percentiles struct {
	// Count is the number of calls measured; the percentiles are zero when
	// it is zero.
	Count               uint64
	P50, P90, P99, P999 time.Duration
	Max                 time.Duration
}

// Window names one of the rolling windows of a WindowStats.
type Window uint8

// The rolling windows. Each covers the named span ending now, rounded out to
// whole 10-second slots: the 10 s window holds between 10 and 20 seconds of
// data, the 1 m window between 60 and 70, the 5 m window between 300 and 360.
const (
	Window10s Window = iota
	Window1m
	Window5m
	// NumWindows is the number of windows.
	NumWindows
)

var windowSpans = [NumWindows]time.Duration{10 * time.Second, time.Minute, 5 * time.Minute}

// Duration returns the nominal span of the window.
func (w Window) Duration() time.Duration {
	if w < NumWindows {
		return windowSpans[w]
	}
	return 0
}

// String returns "10s", "1m" or "5m".
func (w Window) String() string {
	switch w {
	case Window10s:
		return "10s"
	case Window1m:
		return "1m"
	case Window5m:
		return "5m"
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (w Window) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// WindowStats are the figures of one rolling window.
type WindowStats struct {
	Window Window
	// Span is the time the counts cover exactly (the rates divide by it).
	// Counts come from whole seconds; Latency from whole 10-second slots.
	Span   time.Duration
	Counts Counts
	// CallsPerSecond, RetriesPerSecond, RejectionsPerSecond and
	// TimeoutsPerSecond are Counts divided by Span.
	CallsPerSecond      float64
	RetriesPerSecond    float64
	RejectionsPerSecond [NumRejections]float64
	TimeoutsPerSecond   [NumScopes]float64
	FallbacksPerSecond  float64
	// EffectiveSuccessRate, ActualSuccessRate and Amplification are those
	// of Counts (zero without calls).
	EffectiveSuccessRate float64
	ActualSuccessRate    float64
	Amplification        float64
	// Latency are the percentiles of the call durations.
	Latency Percentiles
}

// Series is a run of equal time steps, oldest first.
type Series struct {
	// Start is the start of the first point; point i covers
	// [Start + i*Step, Start + (i+1)*Step).
	Start  time.Time
	Step   time.Duration
	Points []Point
}

// Point is what happened in one step of a Series.
type Point struct {
	// Calls, Successes: calls that ended, and those that succeeded.
	Calls, Successes uint64
	// Attempts that ended, Retries scheduled, Rejections of any reason,
	// Timeouts of any scope, Fallbacks that answered.
	Attempts, Retries, Rejections, Timeouts, Fallbacks uint64
	// P50 and P99 are latency percentiles of the calls of the step. They are
	// set in the hour series only (zero in the per-second one).
	P50, P99 time.Duration
}

// Histogram is a copy of a latency or delay histogram. Its buckets are
// log-linear: each power of two is split into equal parts (32 for call
// durations, so that any value is within 1.6 % of its bucket's midpoint).
type Histogram struct {
	// Count and Sum are the number and the sum of the values.
	Count uint64
	Sum   time.Duration
	// Buckets are the non-empty buckets in increasing order.
	Buckets []HistogramBucket
}

// HistogramBucket counts the values in [Lower, Upper).
type HistogramBucket struct {
	Lower, Upper time.Duration
	Count        uint64
}

// Quantile returns the value below which a share q in [0, 1] of the values
// fall, as the midpoint of the bucket where it lies; 0 for an empty histogram.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 || len(h.Buckets) == 0 {
		return 0
	}
	rank := quantileRank(q, h.Count)
	var seen uint64
	for _, b := range h.Buckets {
		seen += b.Count
		if seen > rank {
			return b.Lower + (b.Upper-b.Lower)/2
		}
	}
	b := h.Buckets[len(h.Buckets)-1]
	return b.Lower + (b.Upper-b.Lower)/2
}

// CountBelow returns how many values are below d, counting the bucket that
// holds d in full when its midpoint is below d.
func (h Histogram) CountBelow(d time.Duration) uint64 {
	var n uint64
	for _, b := range h.Buckets {
		if b.Lower+(b.Upper-b.Lower)/2 >= d {
			break
		}
		n += b.Count
	}
	return n
}

// quantileRank returns the 0-based rank of quantile q among n values.
func quantileRank(q float64, n uint64) uint64 {
	switch {
	case !(q > 0):
		return 0
	case q >= 1:
		return n - 1
	}
	r := uint64(q * float64(n))
	if r >= n {
		r = n - 1
	}
	return r
}

// BreakerSnapshot is the state of a pipeline's circuit breaker as the
// aggregator saw it in the transition events, plus the live figures of the
// breaker's window when a PolicyReader provides them.
type BreakerSnapshot struct {
	// State is the current state; StateClosed until a transition is seen.
	State resilience.State
	// Since is when the breaker entered State (the bind time before any
	// transition).
	Since time.Time
	// TimeInState is the time spent in each state since the pipeline was
	// bound, up to the snapshot.
	TimeInState [resilience.NumStates]time.Duration
	// TransitionCounts counts every transition since the pipeline was bound.
	TransitionCounts []TransitionCount
	// Transitions are the last transitions (up to 200), oldest first. Set
	// by Aggregator.Pipeline only; nil in Aggregator.Snapshot.
	Transitions []Transition
	// Live holds the breaker's own window figures; nil without a
	// PolicyReader or when it knows no breaker for the pipeline.
	Live *BreakerLive
}

// TransitionCount counts the transitions From -> To for Reason.
type TransitionCount struct {
	From, To resilience.State
	Reason   resilience.Reason
	Count    uint64
}

// Transition is one breaker transition of the timeline.
type Transition struct {
	Time     time.Time
	From, To resilience.State
	Reason   resilience.Reason
	// Actor and Message say who forced a manual transition and why.
	Actor, Message string
}

// BreakerLive are the figures of a breaker's current window, read from the
// breaker at snapshot time.
type BreakerLive struct {
	State resilience.State
	// Calls is the number of calls in the breaker's window.
	Calls int
	// FailureRate and SlowCallRate are the shares of failed and slow calls
	// in the window, in [0, 1].
	FailureRate, SlowCallRate float64
}

// PolicyStats are the figures only a pipeline's policies know, read at
// snapshot time by a PolicyReader.
type PolicyStats struct {
	// Breaker is nil when the pipeline has no breaker.
	Breaker *BreakerLive
	// Budget is nil when the pipeline has no retry budget.
	Budget *resilience.BudgetStatus
}

// PolicyReader reads the live figures of a pipeline's policies at snapshot
// and scrape time. It must be safe for concurrent use and must not block.
type PolicyReader interface {
	// ReadPolicies returns the figures of the named pipeline's policies;
	// ok is false when it does not know the pipeline.
	ReadPolicies(pipeline string) (stats PolicyStats, ok bool)
}

// PolicyReaderFunc adapts a function to the PolicyReader interface.
type PolicyReaderFunc func(pipeline string) (PolicyStats, bool)

// ReadPolicies calls f(pipeline).
func (f PolicyReaderFunc) ReadPolicies(pipeline string) (PolicyStats, bool) { return f(pipeline) }

// RecentEvent is an event of the recent-events ring. It is the
// resilience.Event without the pipeline name (that of the snapshot), the
// actor and the message (kept in the transition timeline).
type RecentEvent struct {
	Kind     resilience.Kind
	Time     time.Time
	Call     uint64
	Attempt  int
	Outcome  resilience.Outcome
	Duration time.Duration
	Delay    time.Duration
	From, To resilience.State
	Reason   resilience.Reason
	Scope    resilience.Scope
	Err      error
}

// PipelineSnapshot is a copy of everything the aggregator knows of one
// pipeline. Aggregator.Snapshot fills the fields a list of pipelines needs;
// Aggregator.Pipeline also fills the detail fields (marked so below).
type PipelineSnapshot struct {
	Name string
	// Time is when the snapshot was taken, on the aggregator's clock.
	Time time.Time
	// Bound is when the pipeline was bound to the aggregator.
	Bound time.Time
	// Totals counts everything since the pipeline was bound.
	Totals Totals
	// Windows holds the rolling windows, indexed by Window.
	Windows [NumWindows]WindowStats
	// Seconds is the per-second series of the last 2 minutes (sparklines),
	// the current second last.
	Seconds Series
	// Breaker is the breaker's state and history.
	Breaker BreakerSnapshot
	// Budget is the retry budget read from the policy; nil without a
	// PolicyReader or a budget.
	Budget *BudgetSnapshot

	// Hour is the per-10-second series of the last hour. Detail only.
	Hour Series
	// Recent are the last events (up to 1,000), oldest first; the events of
	// one call share Call. Detail only.
	Recent []RecentEvent
}

// BudgetSnapshot is a retry budget's status over its window.
type BudgetSnapshot struct {
	resilience.BudgetStatus
	// Headroom is the share of the allowed retries still unspent, in [0, 1].
	Headroom float64
}

// Totals are the figures since the pipeline was bound: what the Prometheus
// counters and histograms expose.
type Totals struct {
	Counts
	// Latency is the histogram of call durations (KindCallEnd).
	Latency Histogram
	// Backoff is the histogram of retry delays (KindRetryScheduled).
	Backoff Histogram
	// AttemptsPerCall[i] counts the calls that ended after i+1 attempts;
	// the last element counts those with that many attempts or more.
	AttemptsPerCall [MaxAttemptsTracked]uint64
}

// MaxAttemptsTracked is the length of Totals.AttemptsPerCall.
const MaxAttemptsTracked = 10

// Snapshot is a copy of the figures of every pipeline.
type Snapshot struct {
	// Time is when the snapshot was taken, on the aggregator's clock.
	Time time.Time
	// Pipelines are sorted by name.
	Pipelines []PipelineSnapshot
}
