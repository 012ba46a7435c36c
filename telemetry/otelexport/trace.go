package otelexport

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// instrumentationName names the OpenTelemetry tracer and meter of Fusebox.
const instrumentationName = "github.com/fusebox-dev/fusebox/telemetry"

// Span and span-event names and attribute keys written by Tracing. Durations
// are float64 milliseconds, the unit trace viewers show best.
const (
	SpanCall = "fusebox.call"

	EventAttempt           = "fusebox.attempt"
	EventRetryScheduled    = "fusebox.retry_scheduled"
	EventBudgetExhausted   = "fusebox.budget_exhausted"
	EventTimeout           = "fusebox.timeout"
	EventRejected          = "fusebox.rejected"
	EventFallback          = "fusebox.fallback"
	EventBreakerTransition = "fusebox.breaker_transition"

	AttrPipeline       = "fusebox.pipeline"
	AttrCall           = "fusebox.call.id"
	AttrAttempt        = "fusebox.attempt"
	AttrAttempts       = "fusebox.attempts"
	AttrOutcome        = "fusebox.outcome"
	AttrDuration       = "fusebox.duration_ms"
	AttrRetryDelay     = "fusebox.retry.delay_ms"
	AttrTimeoutScope   = "fusebox.timeout.scope"
	AttrTimeout        = "fusebox.timeout_ms"
	AttrReason         = "fusebox.reason"
	AttrBreakerFrom    = "fusebox.breaker.from"
	AttrBreakerTo      = "fusebox.breaker.to"
	AttrBreakerActor   = "fusebox.breaker.actor"
	AttrBreakerMessage = "fusebox.breaker.message"
	AttrAbandoned      = "fusebox.abandoned"
	AttrErrorType      = "error.type"
	AttrErrorMessage   = "exception.message"
)

// numCallShards is the number of shards of a pipeline's open-call table.
// Call ids are consecutive (per counter; see package internal/callid), so
// consecutive calls land in different shards.
const numCallShards = 16

// defaultMaxOpenCalls is the default of TracingConfig.MaxOpenCalls.
const defaultMaxOpenCalls = 4096

// TracingConfig configures a Tracing observer. The zero value is ready to use.
type TracingConfig struct {
	// MaxOpenCalls bounds, per pipeline, the calls whose span is open at
	// once. A call whose end is never reported (its function panicked) keeps
	// its span open until the table is full; then the oldest open span is
	// ended with an error status and the attribute fusebox.abandoned=true.
	// Zero means 4096.
	MaxOpenCalls int
}

// Tracing is a resilience.Observer that turns the events of each call into
// one OpenTelemetry span named "fusebox.call", a child of the span in the
// context the call was made with, if any. Attempts, scheduled retries,
// timeouts, rejections, fallbacks and breaker transitions become span
// events; the call's outcome sets the span's status (Error for every outcome
// but success, which leaves it unset as the specification asks).
//
// The span starts at the time of the call's first event and ends at the time
// of its call-end event; no clock is read. A breaker transition outside any
// call (an operator's override) becomes an event on the span in the context
// of the override, when that span is recording.
//
// Tracing implements resilience.Binder: a pipeline binds it once to its name
// and then reaches its own table of open calls without a lookup. Observe on
// the Tracing itself finds the pipeline by name. A nil *Tracing, or one built
// on a no-op TracerProvider, observes nothing and returns at once; but when
// tracing is off the cheapest choice is not to attach it at all.
//
// Tracing is safe for concurrent use.
type Tracing struct {
	tracer    trace.Tracer
	perShard  int
	off       bool
	pipelines sync.Map // string -> *tracePipeline
}

// NewTracing returns a Tracing observer that starts spans with a tracer from
// tp. It returns an error when tp is nil or MaxOpenCalls is negative.
func NewTracing(tp trace.TracerProvider, cfg TracingConfig) (*Tracing, error) {
	if tp == nil {
		return nil, fmt.Errorf("otelexport: tracing: TracerProvider must not be nil")
	}
	if cfg.MaxOpenCalls < 0 {
		return nil, fmt.Errorf("otelexport: tracing: invalid MaxOpenCalls = %d: must not be negative", cfg.MaxOpenCalls)
	}
	if cfg.MaxOpenCalls == 0 {
		cfg.MaxOpenCalls = defaultMaxOpenCalls
	}
	t := &Tracing{
		tracer:   tp.Tracer(instrumentationName),
		perShard: max(1, (cfg.MaxOpenCalls+numCallShards-1)/numCallShards),
	}
	switch tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		t.off = true
	}
	return t, nil
}

// Bind returns the observer of the pipeline named name. Binding a name twice
// is an error wrapping ErrAlreadyBound.
func (t *Tracing) Bind(name string) (resilience.Observer, error) {
	if t == nil || t.off {
		return offObserver{}, nil
	}
	p := t.pipeline(name)
	if !p.bound.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: tracing of %q", telemetry.ErrAlreadyBound, name)
	}
	return p, nil
}

// Observe records e on the span of its call, finding the pipeline by name.
func (t *Tracing) Observe(ctx context.Context, e resilience.Event) {
	if t == nil || t.off {
		return
	}
	t.pipeline(e.Pipeline).Observe(ctx, e)
}

// OpenCalls returns how many calls of the named pipeline have an open span.
func (t *Tracing) OpenCalls(pipeline string) int {
	if t == nil {
		return 0
	}
	v, ok := t.pipelines.Load(pipeline)
	if !ok {
		return 0
	}
	p := v.(*tracePipeline)
	n := 0
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		n += len(sh.spans)
		sh.mu.Unlock()
	}
	return n
}

func (t *Tracing) pipeline(name string) *tracePipeline {
	if v, ok := t.pipelines.Load(name); ok {
		return v.(*tracePipeline)
	}
	v, _ := t.pipelines.LoadOrStore(name, &tracePipeline{
		tracer:   t.tracer,
		perShard: t.perShard,
		kindOpt:  trace.WithSpanKind(trace.SpanKindInternal),
		attrOpt:  trace.WithAttributes(attribute.String(AttrPipeline, name)),
	})
	return v.(*tracePipeline)
}

type offObserver struct{}

func (offObserver) Observe(context.Context, resilience.Event) {}

// Kinds asks for nothing: tracing is off.
func (offObserver) Kinds() resilience.KindSet { return 0 }

// tracePipeline holds the open spans of one pipeline's calls, by call id.
type tracePipeline struct {
	tracer   trace.Tracer
	perShard int
	// kindOpt and attrOpt are the fixed options of the pipeline's spans,
	// made once.
	kindOpt, attrOpt trace.SpanStartOption
	bound            atomic.Bool
	shards           [numCallShards]callShard
}

type callShard struct {
	mu    sync.Mutex
	spans map[uint64]trace.Span
	_     [48]byte // keeps neighbouring shards off one cache line: 64 bytes a shard
}

// Observe records e on the span of call e.Call, starting the span at the
// call's first event and ending it at its last.
func (p *tracePipeline) Observe(ctx context.Context, e resilience.Event) {
	if e.Call == 0 {
		// Outside any call: an override's transition goes on the span of
		// whoever made it.
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			recordEvent(span, e)
		}
		return
	}
	sh := &p.shards[e.Call%numCallShards]
	end := e.Kind == resilience.KindCallEnd
	sh.mu.Lock()
	span, ok := sh.spans[e.Call]
	if ok && end {
		delete(sh.spans, e.Call)
	}
	sh.mu.Unlock()
	if !ok {
		span = p.start(ctx, e)
		if !end {
			p.store(sh, e.Call, span, e.Time)
		}
	}
	if !span.IsRecording() {
		if end {
			span.End()
		}
		return
	}
	if end {
		finish(span, e)
		return
	}
	recordEvent(span, e)
}

// start starts the span of call e.Call. A call-end event that finds no
// span (its span was evicted) starts one at the call's start, which the
// event's duration tells.
func (p *tracePipeline) start(ctx context.Context, e resilience.Event) trace.Span {
	at := e.Time
	if e.Kind == resilience.KindCallEnd && !at.IsZero() {
		at = at.Add(-e.Duration)
	}
	// Samplers see the pipeline's name; the call id matters only to a
	// recorded span.
	_, span := p.tracer.Start(ctx, SpanCall, p.kindOpt, p.attrOpt, trace.WithTimestamp(at))
	if span.IsRecording() {
		span.SetAttributes(attribute.Int64(AttrCall, int64(e.Call)))
	}
	return span
}

// store keeps span as the open span of call id, first ending the oldest
// open span of the shard if the shard is full.
func (p *tracePipeline) store(sh *callShard, id uint64, span trace.Span, now time.Time) {
	var evicted trace.Span
	sh.mu.Lock()
	if sh.spans == nil {
		sh.spans = make(map[uint64]trace.Span)
	}
	if len(sh.spans) >= p.perShard {
		// The oldest open call is the one of smallest id, on one counter;
		// across counters, roughly. It is never the call being stored,
		// even when that one's id is the smallest (its counter lags).
		oldest, first := uint64(0), true
		for k := range sh.spans {
			if first || k < oldest {
				oldest, first = k, false
			}
		}
		evicted = sh.spans[oldest]
		delete(sh.spans, oldest)
	}
	sh.spans[id] = span
	sh.mu.Unlock()
	if evicted != nil {
		evicted.SetAttributes(attribute.Bool(AttrAbandoned, true))
		evicted.SetStatus(codes.Error, "call end not observed")
		evicted.End(trace.WithTimestamp(now))
	}
}

// finish sets the call's outcome on span and ends it.
func finish(span trace.Span, e resilience.Event) {
	span.SetAttributes(
		attribute.String(AttrOutcome, e.Outcome.String()),
		attribute.Int(AttrAttempts, e.Attempt))
	if e.Outcome != resilience.OutcomeSuccess {
		desc := e.Outcome.String()
		if e.Err != nil {
			desc = e.Err.Error()
		}
		span.SetStatus(codes.Error, desc)
	}
	span.End(trace.WithTimestamp(e.Time))
}

// recordEvent adds the span event that tells e, if e's kind has one.
func recordEvent(span trace.Span, e resilience.Event) {
	var name string
	var attrs []attribute.KeyValue
	switch e.Kind {
	case resilience.KindAttemptEnd:
		name = EventAttempt
		attrs = []attribute.KeyValue{
			attribute.Int(AttrAttempt, e.Attempt),
			attribute.String(AttrOutcome, e.Outcome.String()),
			attribute.Float64(AttrDuration, ms(e.Duration)),
		}
		attrs = appendErr(attrs, e.Err)
	case resilience.KindRetryScheduled:
		name = EventRetryScheduled
		attrs = []attribute.KeyValue{
			attribute.Int(AttrAttempt, e.Attempt),
			attribute.Float64(AttrRetryDelay, ms(e.Delay)),
		}
	case resilience.KindBudgetExhausted:
		name = EventBudgetExhausted
		attrs = []attribute.KeyValue{
			attribute.Int(AttrAttempt, e.Attempt),
			attribute.String(AttrReason, e.Reason.String()),
		}
	case resilience.KindTimeout:
		name = EventTimeout
		attrs = []attribute.KeyValue{
			attribute.Int(AttrAttempt, e.Attempt),
			attribute.String(AttrTimeoutScope, e.Scope.String()),
			attribute.Float64(AttrTimeout, ms(e.Duration)),
		}
	case resilience.KindRejected:
		name = EventRejected
		attrs = []attribute.KeyValue{
			attribute.Int(AttrAttempt, e.Attempt),
			attribute.String(AttrReason, e.Reason.String()),
		}
	case resilience.KindFallback:
		name = EventFallback
		attrs = []attribute.KeyValue{attribute.String(AttrReason, e.Reason.String())}
		attrs = appendErr(attrs, e.Err)
	case resilience.KindBreakerTransition:
		name = EventBreakerTransition
		attrs = []attribute.KeyValue{
			attribute.String(AttrBreakerFrom, e.From.String()),
			attribute.String(AttrBreakerTo, e.To.String()),
			attribute.String(AttrReason, e.Reason.String()),
		}
		if e.Actor != "" {
			attrs = append(attrs, attribute.String(AttrBreakerActor, e.Actor))
		}
		if e.Message != "" {
			attrs = append(attrs, attribute.String(AttrBreakerMessage, e.Message))
		}
	default:
		// KindAttemptStart has no event of its own: the attempt event,
		// stamped at its end with its duration, tells when it began.
		return
	}
	span.AddEvent(name, trace.WithTimestamp(e.Time), trace.WithAttributes(attrs...))
}

func appendErr(attrs []attribute.KeyValue, err error) []attribute.KeyValue {
	if err == nil {
		return attrs
	}
	return append(attrs,
		attribute.String(AttrErrorType, fmt.Sprintf("%T", err)),
		attribute.String(AttrErrorMessage, err.Error()))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
