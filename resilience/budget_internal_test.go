package resilience

import (
	"context"
	"testing"
	"time"
)

// fixedClock is a clock that reads t and counts its readings.
type fixedClock struct {
	Clock
	t     time.Time
	reads int
}

func (c *fixedClock) Now() time.Time { c.reads++; return c.t }

func TestBudgetOfAnUntimedPipelineReadsTheClockOnceInAWhile(t *testing.T) {
	clk := &fixedClock{Clock: SystemClock(), t: time.Unix(1_000_000, 0)}
	r, err := NewRetry(RetryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New("p", Config{Policies: []Policy{r}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	run := func(n int) {
		for range n {
			if err := Run(context.Background(), p, func(context.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(800)
	if clk.reads > 800/budgetRefresh+budgetStripes {
		t.Errorf("%d clock readings for 800 calls, want about one in %d", clk.reads, budgetRefresh)
	}
	if st := r.budget.status(clk.t); st.Calls != 800 {
		t.Errorf("calls counted = %d, want 800", st.Calls)
	}

	// After a quiet spell longer than the window, the first deposits of each
	// stripe may still carry the old second: they are lost, never counted
	// in the new window, and never reset a newer bucket.
	clk.t = clk.t.Add(25 * time.Second)
	run(800)
	st := r.budget.status(clk.t)
	if lost := 800 - st.Calls; lost < 0 || lost > budgetStripes*(budgetRefresh-1) {
		t.Errorf("calls counted after the quiet spell = %d, want 800 less at most %d stale ones", st.Calls, budgetStripes*(budgetRefresh-1))
	}
}

func TestBudgetBucketNeverGoesBackInTime(t *testing.T) {
	b, err := newBudget(BudgetConfig{Window: 10 * time.Second}, "Budget")
	if err != nil {
		t.Fatal(err)
	}
	b.bucket(105).calls[0].n.Add(3)
	if bk := b.bucket(105 - int64(len(b.buckets))); bk != nil { // same slot, a ring older
		t.Fatal("a stale second got the bucket of a newer one")
	}
	if got := b.status(time.Unix(105, 0)).Calls; got != 3 {
		t.Errorf("calls = %d, want the newer second's 3 kept", got)
	}
}

func TestBudgetConcurrentWithdrawalsNeverOverspend(t *testing.T) {
	now := time.Unix(2_000_000, 0)
	for round := range 200 {
		// A floor of 0.1/s over 10 s allows exactly one retry; the ratio
		// adds nothing without calls.
		b, err := newBudget(BudgetConfig{Ratio: 1e-9, MinPerSecond: 0.1, Window: 10 * time.Second}, "Budget")
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		got := make(chan bool, 8)
		for range 8 {
			go func() {
				<-start
				got <- b.withdraw(now)
			}()
		}
		close(start)
		spent := 0
		for range 8 {
			if <-got {
				spent++
			}
		}
		if spent > 1 {
			t.Fatalf("round %d: %d retries spent from a budget of one", round, spent)
		}
	}
}
