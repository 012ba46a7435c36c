package resilience

import (
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-dev/fusebox/internal/callid"
)

// BudgetConfig configures a retry budget: over a sliding window, retries may
// be at most Ratio of the calls plus MinPerSecond per second, as Envoy's,
// Linkerd's and gRPC's retry throttling do, so that a fleet of retrying
// clients cannot multiply the load of a failing dependency.
type BudgetConfig struct {
	// Disabled turns the budget off: retries are limited only by MaxAttempts
	// and MaxElapsed.
	Disabled bool
	// Ratio in [0, 1] is the share of calls that may be retried. Zero means 0.2.
	Ratio float64
	// MinPerSecond is a floor of retries per second allowed whatever the
	// ratio, so that a quiet pipeline can still retry. Zero means 10;
	// negative is an error.
	MinPerSecond float64
	// Window is the span the budget counts over, in whole seconds. Zero
	// means 10 s.
	Window time.Duration
}

// BudgetStatus is a reading of a retry budget over its window.
type BudgetStatus struct {
	Calls, Retries int64
	// Allowed is how many retries the window allows in all.
	Allowed float64
}

// Headroom returns the share of the allowed retries still unspent, in [0, 1].
func (s BudgetStatus) Headroom() float64 {
	if s.Allowed <= 0 {
		return 0
	}
	return math.Max(0, 1-float64(s.Retries)/s.Allowed)
}

// budget counts calls and retries in one-second buckets, reset lazily by the
// first writer of a new second (see bucket).
type budget struct {
	ratio, minPerSec float64
	// window is the number of seconds counted; buckets has a power of two
	// of them at least, so that a second finds its bucket without a
	// division, and mask is that number less one.
	window  int64
	mask    uint64
	buckets []budgetBucket
	mu      sync.Mutex // held to reset a bucket for a new second
	// stripes remember the second of their latest clock reading: a pipeline
	// that does not time its calls reads the clock on one deposit of
	// budgetRefresh per stripe and files the others under that second.
	stripes [budgetStripes]budgetStripe
}

type budgetStripe struct {
	sec atomic.Int64
	n   atomic.Uint32
	_   [52]byte
}

// budgetRefresh is how many deposits of a stripe share one clock reading
// when the pipeline does not time its calls. At low traffic the second can
// be stale; a deposit filed under a second that has left the window is not
// counted, which errs towards fewer retries, and the per-second floor
// dominates the allowance there anyway.
const budgetRefresh = 8

type budgetBucket struct {
	sec     atomic.Int64
	retries atomic.Int64
	_       [48]byte
	// calls is striped over cache lines: every call writes it, and one
	// shared counter would bounce between cores.
	calls [budgetStripes]struct {
		n atomic.Int64
		_ [56]byte
	}
}

const budgetStripes = 4

func newBudget(cfg BudgetConfig, field string) (*budget, error) {
	if cfg.Disabled {
		return nil, nil
	}
	if cfg.Ratio == 0 {
		cfg.Ratio = 0.2
	}
	if cfg.MinPerSecond == 0 {
		cfg.MinPerSecond = 10
	}
	if cfg.Window == 0 {
		cfg.Window = 10 * time.Second
	}
	switch {
	case !(cfg.Ratio >= 0 && cfg.Ratio <= 1):
		return nil, configErr(field+".Ratio", cfg.Ratio, "must be in [0, 1]")
	case !(cfg.MinPerSecond >= 0) || math.IsInf(cfg.MinPerSecond, 0):
		return nil, configErr(field+".MinPerSecond", cfg.MinPerSecond, "must be a finite number ≥ 0")
	case cfg.Window < time.Second || cfg.Window%time.Second != 0 || cfg.Window > time.Hour:
		return nil, configErr(field+".Window", cfg.Window, "must be a whole number of seconds from 1s to 1h")
	}
	window := int64(cfg.Window / time.Second)
	n := 1 << bits.Len64(uint64(window-1))
	return &budget{
		ratio:     cfg.Ratio,
		minPerSec: cfg.MinPerSecond,
		window:    window,
		mask:      uint64(n - 1),
		buckets:   make([]budgetBucket, n),
	}, nil
}

// bucket returns the bucket of second sec, resetting it when it held an
// older second, or nil when it holds a newer one: sec has left the window.
// A reset takes b.mu and publishes the new second only after clearing the
// counts, so that no count made in the new second is cleared with them.
func (b *budget) bucket(sec int64) *budgetBucket {
	bk := &b.buckets[uint64(sec)&b.mask]
	if bk.sec.Load() == sec {
		return bk
	}
	return b.turn(bk, sec)
}

// turn is bucket for a bucket that does not hold second sec.
func (b *budget) turn(bk *budgetBucket, sec int64) *budgetBucket {
	if bk.sec.Load() > sec {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old := bk.sec.Load(); old == sec {
		return bk
	} else if old > sec {
		return nil
	}
	for i := range bk.calls {
		bk.calls[i].n.Store(0)
	}
	bk.retries.Store(0)
	bk.sec.Store(sec)
	return bk
}

// deposit counts call c.
func (b *budget) deposit(c *call) {
	// A call counts on the stripe of the P it runs on, which its id tells
	// when it has one (see Pipeline.begin).
	i := callid.Stripe(c.id) % budgetStripes
	if c.id == 0 {
		i = uint64(procHint()) % budgetStripes
	}
	st := &b.stripes[i]
	var sec int64
	switch {
	case c.p.timing:
		sec = c.p.unix(c.now)
	case st.n.Add(1)%budgetRefresh == 1:
		sec = c.p.clock.Now().Unix()
		st.sec.Store(sec)
	default:
		sec = st.sec.Load()
	}
	if bk := b.bucket(sec); bk != nil {
		bk.calls[i].n.Add(1)
	}
}

// status sums the window ending at now.
func (b *budget) status(now time.Time) BudgetStatus {
	sec := now.Unix()
	var s BudgetStatus
	for i := range b.buckets {
		bk := &b.buckets[i]
		if age := sec - bk.sec.Load(); age >= 0 && age < b.window {
			for j := range bk.calls {
				s.Calls += bk.calls[j].n.Load()
			}
			s.Retries += bk.retries.Load()
		}
	}
	s.Allowed = b.ratio*float64(s.Calls) + b.minPerSec*float64(b.window)
	return s
}

// withdraw spends one retry at now if the budget allows it. It takes the
// retry first and gives it back if that overspends, so that concurrent
// withdrawals cannot all pass the same check.
func (b *budget) withdraw(now time.Time) bool {
	bk := b.bucket(now.Unix())
	if bk == nil {
		return false
	}
	bk.retries.Add(1)
	if s := b.status(now); float64(s.Retries) > s.Allowed {
		bk.retries.Add(-1)
		return false
	}
	return true
}

func (b *budget) String() string {
	return fmt.Sprintf("budget %.0f%% of calls + %g/s over %ds", b.ratio*100, b.minPerSec, b.window)
}
