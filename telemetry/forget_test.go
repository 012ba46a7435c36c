package telemetry

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

func TestAForgottenPipelineLeavesEveryViewAndComesBackAfresh(t *testing.T) {
	a, _ := newTestAggregator(t, AggregatorConfig{})
	orders, billing := mustBind(t, a, "orders"), mustBind(t, a, "billing")
	call(orders, 1, epoch, time.Millisecond, resilience.OutcomeSuccess)
	call(billing, 1, epoch, time.Millisecond, resilience.OutcomeFailure)
	ticks, cancel := a.Subscribe()
	defer cancel()
	members := a.Members()

	if !a.Forget("billing") {
		t.Fatal("Forget of a known pipeline reported false")
	}
	if got := a.Names(); !slices.Equal(got, []string{"orders"}) {
		t.Errorf("Names = %v after Forget, want [orders]", got)
	}
	if s := a.Snapshot(); len(s.Pipelines) != 1 || s.Pipelines[0].Name != "orders" {
		t.Errorf("Snapshot lists %d pipelines after Forget, want orders alone", len(s.Pipelines))
	}
	if _, err := a.Pipeline("billing"); !errors.Is(err, ErrUnknownPipeline) {
		t.Errorf("Pipeline(billing) after Forget: %v, want ErrUnknownPipeline", err)
	}
	if a.Members() == members {
		t.Error("Members did not change with Forget")
	}
	select {
	case <-ticks:
	default:
		t.Error("subscribers were not ticked by Forget")
	}
	if a.Forget("billing") {
		t.Error("Forget of an unknown name reported true")
	}

	// A late event of the old binding is counted where nothing reads it;
	// a new binding starts from nothing.
	call(billing, 2, epoch, time.Millisecond, resilience.OutcomeFailure)
	members = a.Members()
	again := mustBind(t, a, "billing")
	if a.Members() == members {
		t.Error("Members did not change with a new pipeline")
	}
	if s := mustSnapshot(t, a, "billing"); s.Totals.Counts.CallCount() != 0 {
		t.Errorf("a pipeline bound again after Forget starts with %d calls, want 0", s.Totals.Counts.CallCount())
	}
	call(again, 1, epoch, time.Millisecond, resilience.OutcomeSuccess)
	if s := mustSnapshot(t, a, "billing"); s.Totals.Counts.CallCount() != 1 {
		t.Errorf("%d calls after one through the new binding, want 1", s.Totals.Counts.CallCount())
	}
	if !strings.Contains(strings.Join(a.Names(), ","), "billing") {
		t.Errorf("Names = %v, want billing back", a.Names())
	}
}

// TestAPreparedPipelineShowsOnlyOnceInstalled checks that Prepare changes
// nothing until Install puts the new binding in place of the old one, and
// that ForgetBinding of the old binding then leaves the new one alone.
func TestAPreparedPipelineShowsOnlyOnceInstalled(t *testing.T) {
	a, _ := newTestAggregator(t, AggregatorConfig{})
	orders, billing := mustBind(t, a, "orders"), mustBind(t, a, "billing")
	call(orders, 1, epoch, time.Millisecond, resilience.OutcomeSuccess)
	call(billing, 1, epoch, time.Millisecond, resilience.OutcomeFailure)
	members := a.Members()

	fresh, err := a.Prepare("billing")
	if err != nil {
		t.Fatal(err)
	}
	if a.Members() != members {
		t.Error("Members changed with Prepare")
	}
	if s := mustSnapshot(t, a, "billing"); s.Totals.Counts.CallCount() != 1 {
		t.Errorf("billing shows %d calls after Prepare, want the old binding's 1", s.Totals.Counts.CallCount())
	}
	if !a.Install(fresh) {
		t.Fatal("Install of a prepared binding reported false")
	}
	if a.Install(fresh) {
		t.Error("a second Install of the same binding reported true")
	}
	if a.Members() == members {
		t.Error("Members did not change with Install")
	}
	if got := a.Names(); !slices.Equal(got, []string{"billing", "orders"}) {
		t.Errorf("Names = %v after Install, want [billing orders]", got)
	}
	if s := mustSnapshot(t, a, "billing"); s.Totals.Counts.CallCount() != 0 {
		t.Errorf("the installed binding starts with %d calls, want 0", s.Totals.Counts.CallCount())
	}
	if a.ForgetBinding(billing) {
		t.Error("ForgetBinding of the replaced binding reported true")
	}
	if got := a.Names(); !slices.Equal(got, []string{"billing", "orders"}) {
		t.Errorf("Names = %v after forgetting the replaced binding, want [billing orders]", got)
	}
	if !a.ForgetBinding(fresh) {
		t.Error("ForgetBinding of the shown binding reported false")
	}
	if got := a.Names(); !slices.Equal(got, []string{"orders"}) {
		t.Errorf("Names = %v after ForgetBinding, want [orders]", got)
	}
	// A name that was never shown: Install adds it in order.
	alpha, err := a.Prepare("alpha")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Install(alpha) {
		t.Fatal("Install of a new name reported false")
	}
	if got := a.Names(); !slices.Equal(got, []string{"alpha", "orders"}) {
		t.Errorf("Names = %v, want [alpha orders]", got)
	}
	if _, err := a.Prepare(" "); err == nil {
		t.Error("Prepare of a blank name did not fail")
	}
}
