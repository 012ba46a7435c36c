package ui

import (
	"fmt"
	"testing"

	"github.com/fusebox-dev/fusebox/fleet"
	"github.com/fusebox-dev/fusebox/resilience"
)

func TestAPipelineOnManyInstancesHasAStripOfStateCounts(t *testing.T) {
	p := fleet.PipelineView{Name: "payments"}
	for i := range 30 {
		b := fleet.InstanceBreaker{Instance: fmt.Sprint("i", i), State: resilience.StateClosed}
		switch {
		case i < 3:
			b.State = resilience.StateOpen
		case i < 5:
			b.State = resilience.StateForcedOpen
		case i == 29:
			b.NoBreaker = true
		}
		p.Breakers = append(p.Breakers, b)
	}
	got := stripSummary("shop", p)
	want := []string{"CLOSED 24", "OPEN 3", "FORCED OPEN 2", "no breaker 1"}
	if len(got) != len(want) {
		t.Fatalf("strip %+v, want %v", got, want)
	}
	for i, c := range got {
		if c.Word != want[i] || !c.Wide || c.URL != "/fleet/shop" {
			t.Errorf("cell %d = %+v, want %q linking to the service", i, c, want[i])
		}
	}
}
