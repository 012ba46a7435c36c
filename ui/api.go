package ui

import (
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
	Name     string                `json:"name"`
	Time     time.Time             `json:"time"`
	Breaker  breakerJSON           `json:"breaker"`
	Windows  map[string]windowJSON `json:"windows"`
	Totals   totalsJSON            `json:"totals"`
	Budget   *budgetJSON           `json:"retry_budget,omitempty"`
	Policies []string              `json:"policies,omitempty"`
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

type windowJSON struct {
	SpanSeconds          float64            `json:"span_seconds"`
	Calls                uint64             `json:"calls"`
	Attempts             uint64             `json:"attempts"`
	CallsPerSecond       float64            `json:"calls_per_second"`
	RetriesPerSecond     float64            `json:"retries_per_second"`
	RejectionsPerSecond  map[string]float64 `json:"rejections_per_second"`
	TimeoutsPerSecond    map[string]float64 `json:"timeouts_per_second"`
	FallbacksPerSecond   float64            `json:"fallbacks_per_second"`
	EffectiveSuccessRate float64            `json:"effective_success_rate"`
	ActualSuccessRate    float64            `json:"actual_success_rate"`
	Amplification        float64            `json:"amplification"`
	Latency              latencyJSON        `json:"latency_seconds"`
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
	Calls           map[string]uint64 `json:"calls"`
	Attempts        map[string]uint64 `json:"attempts"`
	Retries         uint64            `json:"retries"`
	Rejections      map[string]uint64 `json:"rejections"`
	Timeouts        map[string]uint64 `json:"timeouts"`
	Fallbacks       uint64            `json:"fallbacks"`
	AttemptsPerCall []uint64          `json:"attempts_per_call"`
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

func outcomeMap(v [resilience.NumOutcomes]uint64) map[string]uint64 {
	m := make(map[string]uint64, len(v))
	for i, n := range v {
		m[resilience.Outcome(i).String()] = n
	}
	return m
}

func (s *Server) pipelineJSON(ps *telemetry.PipelineSnapshot, bi breakerInfo, detail bool) pipelineJSON {
	b := ps.Breaker
	out := pipelineJSON{
		Name: ps.Name, Time: ps.Time.UTC(),
		Breaker: breakerJSON{State: b.State, Since: b.Since.UTC(), Forced: b.State.Forced()},
		Windows: make(map[string]windowJSON, telemetry.NumWindows),
	}
	if ov := bi.metrics.Override; ov != nil && b.State.Forced() {
		out.Breaker.Actor, out.Breaker.Reason = ov.Actor, ov.Reason
		if !ov.Until.IsZero() {
			out.Breaker.Until = ov.Until.UTC()
		}
	}
	if l := b.Live; l != nil {
		calls, fr, sr := l.Calls, l.FailureRate, l.SlowCallRate
		out.Breaker.Calls, out.Breaker.FailureRate, out.Breaker.SlowRate = &calls, &fr, &sr
	}
	for i, w := range ps.Windows {
		wj := windowJSON{
			SpanSeconds: w.Span.Seconds(), Calls: w.Counts.CallCount(), Attempts: w.Counts.AttemptCount(),
			CallsPerSecond: w.CallsPerSecond, RetriesPerSecond: w.RetriesPerSecond,
			RejectionsPerSecond: make(map[string]float64, telemetry.NumRejections),
			TimeoutsPerSecond:   make(map[string]float64, telemetry.NumScopes),
			FallbacksPerSecond:  w.FallbacksPerSecond, EffectiveSuccessRate: w.EffectiveSuccessRate,
			ActualSuccessRate: w.ActualSuccessRate, Amplification: w.Amplification,
			Latency: latencyJSON{
				Count: w.Latency.Count, P50: w.Latency.P50.Seconds(), P90: w.Latency.P90.Seconds(),
				P99: w.Latency.P99.Seconds(), P999: w.Latency.P999.Seconds(), Max: w.Latency.Max.Seconds(),
			},
		}
		for r, v := range w.RejectionsPerSecond {
			wj.RejectionsPerSecond[telemetry.Rejection(r).String()] = v
		}
		for sc, v := range w.TimeoutsPerSecond {
			wj.TimeoutsPerSecond[resilience.Scope(sc).String()] = v
		}
		out.Windows[telemetry.Window(i).String()] = wj
	}
	t := ps.Totals
	out.Totals = totalsJSON{
		Calls: outcomeMap(t.Calls), Attempts: outcomeMap(t.Attempts), Retries: t.Retries,
		Rejections: make(map[string]uint64, telemetry.NumRejections),
		Timeouts:   make(map[string]uint64, telemetry.NumScopes),
		Fallbacks:  t.Fallbacks, AttemptsPerCall: append([]uint64(nil), t.AttemptsPerCall[:]...),
	}
	for r, v := range t.Rejections {
		out.Totals.Rejections[telemetry.Rejection(r).String()] = v
	}
	for sc, v := range t.Timeouts {
		out.Totals.Timeouts[resilience.Scope(sc).String()] = v
	}
	if ps.Budget != nil {
		out.Budget = &budgetJSON{Headroom: ps.Budget.Headroom}
	}
	if bi.pipeline != nil {
		for _, p := range bi.pipeline.Policies() {
			out.Policies = append(out.Policies, p.String())
		}
	}
	if detail {
		out.Transitions = make([]transitionJSON, len(b.Transitions))
		for i, tr := range b.Transitions {
			out.Transitions[i] = transitionJSON{Time: tr.Time.UTC(), From: tr.From, To: tr.To, Reason: tr.Reason, Actor: tr.Actor, Message: tr.Message}
		}
	}
	return out
}

// apiPipelines handles GET /api/v1/pipelines.
func (s *Server) apiPipelines(c echo.Context) error {
	snap := s.cfg.Stats.Snapshot()
	out := make([]pipelineJSON, len(snap.Pipelines))
	for i := range snap.Pipelines {
		ps := &snap.Pipelines[i]
		out[i] = s.pipelineJSON(ps, s.breakerInfo(ps.Name), false)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"time": snap.Time.UTC(), "pipelines": out})
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

// apiAlerts handles GET /api/v1/alerts.
func (s *Server) apiAlerts(c echo.Context) error {
	as := []Alert{}
	if s.cfg.Alerts != nil {
		got, err := s.cfg.Alerts.Alerts(c.Request().Context())
		if err != nil {
			return s.fail(c, err)
		}
		as = append(as, got...)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"alerts": as})
}

func itoa(n int) string { return strconv.Itoa(n) }
