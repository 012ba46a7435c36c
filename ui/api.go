package ui

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// The JSON shapes of the API. Durations are in seconds, rates per second,
// ratios in [0, 1].

type pipelineJSON struct {
	Name string    `json:"name"`
	Time time.Time `json:"time"`
	// Internal marks Fusebox's own pipelines (alert webhooks).
	Internal bool `json:"internal,omitempty"`
	// Breaker is null for a pipeline without a circuit breaker.
	Breaker  *breakerJSON `json:"breaker"`
	Windows  windowsJSON  `json:"windows"`
	Totals   totalsJSON   `json:"totals"`
	Budget   *budgetJSON  `json:"retry_budget,omitempty"`
	Policies []string     `json:"policies,omitempty"`
	// Live is the state of the adaptive policies and kill switches now.
	Live *liveJSON `json:"live,omitempty"`
	// Draining is set while a pipeline a reload removed still has calls
	// in flight (reload.go).
	Draining *drainingJSON `json:"draining,omitempty"`
	// Detail only.
	Transitions []transitionJSON `json:"transitions,omitempty"`
}

type breakerJSON struct {
	State       resilience.State `json:"state"`
	Since       time.Time        `json:"since,omitzero"`
	Forced      bool             `json:"forced"`
	Actor       string           `json:"actor,omitempty"`
	Reason      string           `json:"reason,omitempty"`
	Until       time.Time        `json:"until,omitzero"`
	Calls       *int             `json:"window_calls,omitempty"`
	FailureRate *float64         `json:"failure_rate,omitempty"`
	SlowRate    *float64         `json:"slow_call_rate,omitempty"`
}

type windowsJSON struct {
	W10s windowJSON `json:"10s"`
	W1m  windowJSON `json:"1m"`
	W5m  windowJSON `json:"5m"`
}

// rejectionsJSON and timeoutsJSON are indexed like telemetry's arrays; a
// struct encodes several times faster than a map.
type rejectionsJSON[T any] struct {
	BreakerOpen  T `json:"breaker_open"`
	BulkheadFull T `json:"bulkhead_full"`
	RetryBudget  T `json:"retry_budget"`
	RateLimited  T `json:"rate_limited"`
	// ConcurrencyLimit counts the refusals of an adaptive concurrency limit.
	ConcurrencyLimit T `json:"concurrency_limit"`
}

type timeoutsJSON[T any] struct {
	Call    T `json:"call"`
	Attempt T `json:"attempt"`
}

type outcomesJSON struct {
	Success  uint64 `json:"success"`
	Failure  uint64 `json:"failure"`
	Timeout  uint64 `json:"timeout"`
	Rejected uint64 `json:"rejected"`
	Canceled uint64 `json:"canceled"`
}

type windowJSON struct {
	SpanSeconds          float64                 `json:"span_seconds"`
	Calls                uint64                  `json:"calls"`
	Attempts             uint64                  `json:"attempts"`
	CallsPerSecond       float64                 `json:"calls_per_second"`
	RetriesPerSecond     float64                 `json:"retries_per_second"`
	RejectionsPerSecond  rejectionsJSON[float64] `json:"rejections_per_second"`
	TimeoutsPerSecond    timeoutsJSON[float64]   `json:"timeouts_per_second"`
	FallbacksPerSecond   float64                 `json:"fallbacks_per_second"`
	EffectiveSuccessRate float64                 `json:"effective_success_rate"`
	ActualSuccessRate    float64                 `json:"actual_success_rate"`
	Amplification        float64                 `json:"amplification"`
	Latency              latencyJSON             `json:"latency_seconds"`
}

type latencyJSON struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

type totalsJSON struct {
	Calls           outcomesJSON           `json:"calls"`
	Attempts        outcomesJSON           `json:"attempts"`
	Retries         uint64                 `json:"retries"`
	Rejections      rejectionsJSON[uint64] `json:"rejections"`
	Timeouts        timeoutsJSON[uint64]   `json:"timeouts"`
	Fallbacks       uint64                 `json:"fallbacks"`
	AttemptsPerCall []uint64               `json:"attempts_per_call"`
}

type budgetJSON struct {
	Headroom float64 `json:"headroom"`
}

type transitionJSON struct {
	Time    time.Time         `json:"time"`
	From    resilience.State  `json:"from"`
	To      resilience.State  `json:"to"`
	Reason  resilience.Reason `json:"reason"`
	Actor   string            `json:"actor,omitempty"`
	Message string            `json:"message,omitempty"`
}

func outcomes(v [resilience.NumOutcomes]uint64) outcomesJSON {
	return outcomesJSON{
		Success: v[resilience.OutcomeSuccess], Failure: v[resilience.OutcomeFailure], Timeout: v[resilience.OutcomeTimeout],
		Rejected: v[resilience.OutcomeRejected], Canceled: v[resilience.OutcomeCanceled],
	}
}

func rejections[T any](v [telemetry.NumRejections]T) rejectionsJSON[T] {
	return rejectionsJSON[T]{
		BreakerOpen: v[telemetry.RejectBreakerOpen], BulkheadFull: v[telemetry.RejectBulkheadFull], RetryBudget: v[telemetry.RejectRetryBudget],
		RateLimited: v[telemetry.RejectRateLimited], ConcurrencyLimit: v[telemetry.RejectConcurrencyLimit],
	}
}

func timeouts[T any](v [telemetry.NumScopes]T) timeoutsJSON[T] {
	return timeoutsJSON[T]{Call: v[resilience.ScopeCall], Attempt: v[resilience.ScopeAttempt]}
}

func (s *Server) pipelineJSON(ps *telemetry.PipelineSnapshot, bi breakerInfo, detail bool) pipelineJSON {
	b := ps.Breaker
	out := pipelineJSON{Name: ps.Name, Time: ps.Time.UTC(), Internal: internalPipeline(ps.Name), Draining: s.draining(ps.Name)}
	if bi.hasBreaker {
		out.Breaker = &breakerJSON{State: b.State, Since: b.Since.UTC(), Forced: b.State.Forced()}
		breakerFields(out.Breaker, b, bi)
	}
	win := func(w *telemetry.WindowStats) windowJSON {
		return windowJSON{
			SpanSeconds: w.Span.Seconds(), Calls: w.Counts.CallCount(), Attempts: w.Counts.AttemptCount(),
			CallsPerSecond: w.CallsPerSecond, RetriesPerSecond: w.RetriesPerSecond,
			RejectionsPerSecond: rejections(w.RejectionsPerSecond),
			TimeoutsPerSecond:   timeouts(w.TimeoutsPerSecond),
			FallbacksPerSecond:  w.FallbacksPerSecond, EffectiveSuccessRate: w.EffectiveSuccessRate,
			ActualSuccessRate: w.ActualSuccessRate, Amplification: w.Amplification,
			Latency: latencyJSON{
				Count: w.Latency.Count, P50: w.Latency.P50.Seconds(), P90: w.Latency.P90.Seconds(),
				P99: w.Latency.P99.Seconds(), P999: w.Latency.P999.Seconds(), Max: w.Latency.Max.Seconds(),
			},
		}
	}
	out.Windows = windowsJSON{
		W10s: win(&ps.Windows[telemetry.Window10s]), W1m: win(&ps.Windows[telemetry.Window1m]), W5m: win(&ps.Windows[telemetry.Window5m]),
	}
	t := &ps.Totals
	out.Totals = totalsJSON{
		Calls: outcomes(t.Calls), Attempts: outcomes(t.Attempts), Retries: t.Retries,
		Rejections: rejections(t.Rejections), Timeouts: timeouts(t.Timeouts),
		Fallbacks: t.Fallbacks, AttemptsPerCall: append([]uint64(nil), t.AttemptsPerCall[:]...),
	}
	if ps.Budget != nil {
		out.Budget = &budgetJSON{Headroom: ps.Budget.Headroom}
	}
	if bi.pipeline != nil {
		for _, p := range bi.pipeline.Policies() {
			out.Policies = append(out.Policies, p.String())
		}
		out.Live = live(bi.pipeline)
	}
	if detail && bi.hasBreaker {
		out.Transitions = make([]transitionJSON, len(b.Transitions))
		for i, tr := range b.Transitions {
			out.Transitions[i] = transitionJSON{Time: tr.Time.UTC(), From: tr.From, To: tr.To, Reason: tr.Reason, Actor: tr.Actor, Message: tr.Message}
		}
	}
	return out
}

// breakerFields fills the override and live-window fields of a breaker.
func breakerFields(bj *breakerJSON, b telemetry.BreakerSnapshot, bi breakerInfo) {
	if ov := bi.metrics.Override; ov != nil && b.State.Forced() {
		bj.Actor, bj.Reason = ov.Actor, ov.Reason
		if !ov.Until.IsZero() {
			bj.Until = ov.Until.UTC()
		}
	}
	if l := b.Live; l != nil {
		calls, fr, sr := l.Calls, l.FailureRate, l.SlowCallRate
		bj.Calls, bj.FailureRate, bj.SlowRate = &calls, &fr, &sr
	}
}

// apiPipelines handles GET /api/v1/pipelines.
func (s *Server) apiPipelines(c echo.Context) error {
	body, err := s.list.get(s.clock.Now(), s.cfg.CacheTTL, s.cacheGen(), func() ([]byte, error) {
		snap := s.cfg.Stats.Snapshot()
		out := make([]pipelineJSON, len(snap.Pipelines))
		for i := range snap.Pipelines {
			ps := &snap.Pipelines[i]
			out[i] = s.pipelineJSON(ps, s.breakerInfo(ps.Name), false)
		}
		b, err := json.Marshal(map[string]any{"time": snap.Time.UTC(), "pipelines": out})
		return append(b, '\n'), err
	})
	if err != nil {
		return s.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
}

// apiPipeline handles GET /api/v1/pipelines/{name}.
func (s *Server) apiPipeline(c echo.Context) error {
	name := c.Param("name")
	ps, err := s.cfg.Stats.Pipeline(name)
	if err != nil {
		return s.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, s.pipelineJSON(&ps, s.breakerInfo(name), true))
}

// apiAudit handles GET /api/v1/audit?limit=N (default 100, at most 1,000).
func (s *Server) apiAudit(c echo.Context) error {
	limit := 100
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return s.fail(c, Errorf(EINVALID, "limit = %q: want a number from 1 to 1000", v))
		}
		limit = n
	}
	es, err := s.auditEntries(c.Request().Context(), limit)
	if err != nil {
		return s.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"entries": es})
}

func itoa(n int) string { return strconv.Itoa(n) }
