package resilience_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// tuning matches what the public API must not show: the attempt-folding
// contract and the call-id layout (both in the module's internal
// packages), and how the runtime is reached.
var tuning = []*regexp.Regexp{
	regexp.MustCompile(`\b(AttemptFolder|FoldLastAttempt|ObserveFolded|LastAttempt|LastOutcome|LastDuration|LastErr)\b`),
	regexp.MustCompile(`(>>|<<)\s*56\b`),
	regexp.MustCompile(`(?i)\btop byte\b`),
	regexp.MustCompile(`\b(fold|callid)\.\w+`),
	regexp.MustCompile(`\binternal/`),
	regexp.MustCompile(`\b(procPin|procUnpin|nanotime|linkname)\b`),
}

// exportedAPI renders what `go doc -all` shows of the package in files:
// every exported declaration with its doc comment, unexported fields and
// methods left out.
func exportedAPI(t *testing.T, fset *token.FileSet, files []*ast.File) string {
	t.Helper()
	pkg, err := doc.NewFromFiles(fset, files, "example.com/p")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(pkg.Doc)
	decl := func(doc string, d ast.Decl) {
		b.WriteString(doc)
		if err := printer.Fprint(&b, fset, d); err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n")
	}
	values := func(vs []*doc.Value) {
		for _, v := range vs {
			decl(v.Doc, v.Decl)
		}
	}
	funcs := func(fs []*doc.Func) {
		for _, f := range fs {
			decl(f.Doc, f.Decl)
		}
	}
	values(pkg.Consts)
	values(pkg.Vars)
	funcs(pkg.Funcs)
	for _, typ := range pkg.Types {
		decl(typ.Doc, typ.Decl)
		values(typ.Consts)
		values(typ.Vars)
		funcs(typ.Funcs)
		funcs(typ.Methods)
	}
	return b.String()
}

// tuningIn returns the lines of api that show tuning.
func tuningIn(api string) []string {
	var out []string
	for _, line := range strings.Split(api, "\n") {
		line = strings.Join(strings.Fields(line), " ")
		for _, re := range tuning {
			if re.MatchString(line) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

func TestThePublicAPIShowsNoTuning(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	api := exportedAPI(t, fset, files)
	// The rendering must hold the API, or the check below proves nothing.
	flat := strings.Join(strings.Fields(api), " ")
	for _, want := range []string{"type Event struct", "Call uint64", "type Observer interface", "func SystemClock() Clock"} {
		if !strings.Contains(flat, want) {
			t.Fatalf("the rendered API lacks %q: the check reads the wrong thing", want)
		}
	}
	if got := tuningIn(api); len(got) > 0 {
		t.Errorf("the exported API of resilience shows tuning (keep it in internal/fold, internal/callid or runtime.go):\n%s", strings.Join(got, "\n"))
	}
}

func TestTheTuningCheckFindsWhatItLooksFor(t *testing.T) {
	// The shape of the API before the fast paths went internal.
	const src = `package p

import "time"

// AttemptFolder is implemented by observers that fold.
type AttemptFolder interface{ FoldLastAttempt() bool }

// Event is an event.
type Event struct {
	// Call is the counter's number in the top byte and its count below.
	Call        uint64
	LastAttempt bool
	LastErr     error
	hidden      time.Duration
}

// Stripe returns the stripe of id, id>>56.
func Stripe(id uint64) uint64 { return id >> 56 }

func unexported() {}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	got := tuningIn(exportedAPI(t, fset, []*ast.File{f}))
	for _, want := range []string{
		"AttemptFolder is implemented by observers that fold.",
		"type AttemptFolder interface{ FoldLastAttempt() bool }",
		"// Call is the counter's number in the top byte and its count below.",
		"LastAttempt bool",
		"LastErr error",
		"Stripe returns the stripe of id, id>>56.",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("the check missed %q; it found %q", want, got)
		}
	}
}
