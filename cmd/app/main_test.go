package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// net/http keeps idle client connections alive between tests.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

func TestHelpListsTheRulesCommand(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run(t.Context(), []string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if got := stderr.String(); !strings.Contains(got, "app rules --config FILE") || !strings.Contains(got, "-check-config") {
		t.Errorf("--help prints\n%s\nwant the rules command and the flags", got)
	}
}
