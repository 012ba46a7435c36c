// Package depstest checks, in a package's tests, which packages it pulls
// in: the import rules of ARCHITECTURE.md made into tests.
package depstest

import (
	"os/exec"
	"strings"
	"testing"
)

// Module is the path of Fusebox's module.
const Module = "github.com/fusebox-dev/fusebox"

// Check fails t if the package in the current directory depends, directly
// or not, on a package outside the standard library other than the
// module's internal packages and those named in allowed (paths relative to
// Module, such as "resilience"). It skips when the go command is not
// installed.
func Check(t *testing.T, allowed ...string) {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not installed:", err)
	}
	out, err := exec.Command(gocmd, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[Module+"/"+a] = true
	}
	for _, dep := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(dep, "/")
		switch {
		case ok[dep], strings.HasPrefix(dep, Module+"/internal/"):
		case !strings.Contains(first, ".") && !strings.HasPrefix(dep, Module):
			// The standard library (vendor/golang.org/x/... included).
		default:
			t.Errorf("depends on %s", dep)
		}
	}
}
