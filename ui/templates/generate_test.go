package templates

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedFilesAreFresh regenerates the templ files into a temporary
// directory with the templ tool pinned in go.mod and fails when a committed
// *_templ.go differs: run `go generate ./ui/templates` after editing a
// .templ file.
func TestGeneratedFilesAreFresh(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH:", err)
	}
	sources, err := filepath.Glob("*.templ")
	if err != nil || len(sources) == 0 {
		t.Fatalf("no .templ files: %v", err)
	}
	dir := t.TempDir()
	for _, src := range sources {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, src), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(gobin, "tool", "templ", "generate", "-path", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go tool templ generate: %v\n%s", err, out)
	}
	for _, src := range sources {
		gen := src[:len(src)-len(".templ")] + "_templ.go"
		want, err := os.ReadFile(filepath.Join(dir, gen))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(gen)
		if err != nil {
			t.Fatalf("%s is not committed: %v", gen, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./ui/templates", gen)
		}
	}
	committed, _ := filepath.Glob("*_templ.go")
	if len(committed) != len(sources) {
		t.Errorf("%d generated files for %d templ files: remove the orphans", len(committed), len(sources))
	}
}
