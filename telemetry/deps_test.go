package telemetry

import (
	"testing"

	"github.com/fusebox-dev/fusebox/internal/depstest"
)

func TestImportsOnlyTheStandardLibraryAndResilience(t *testing.T) {
	depstest.Check(t, "resilience", "telemetry")
}
