package alerting

import (
	"testing"

	"github.com/fusebox-dev/fusebox/internal/depstest"
)

func TestImportsOnlyTheStandardLibraryResilienceAndTelemetry(t *testing.T) {
	depstest.Check(t, "resilience", "telemetry", "alerting")
}
