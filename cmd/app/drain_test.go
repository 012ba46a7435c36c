package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

// shown lists the pipelines each view of a running app shows: the
// overview's tiles, GET /api/v1/pipelines and the series of
// fusebox_calls_total on /metrics.
func shown(t *testing.T, r *running) (page, api, metrics []string) {
	t.Helper()
	resp, err := http.Get(r.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`<section id="tile-([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
		page = append(page, m[1])
	}
	var list struct {
		Pipelines []struct{ Name string } `json:"pipelines"`
	}
	r.do(t, "GET", "/api/v1/pipelines", nil, &list)
	for _, p := range list.Pipelines {
		api = append(api, p.Name)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(metricsText(t, r), "\n") {
		if m := regexp.MustCompile(`^fusebox_calls_total\{.*pipeline="([^"]+)"`).FindStringSubmatch(line); m != nil && !seen[m[1]] {
			seen[m[1]] = true
			metrics = append(metrics, m[1])
		}
	}
	sort.Strings(page)
	sort.Strings(api)
	sort.Strings(metrics)
	return page, api, metrics
}

// agree checks that the three views list want.
func agree(t *testing.T, r *running, when string, want ...string) {
	t.Helper()
	page, api, metrics := shown(t, r)
	if !slices.Equal(page, want) || !slices.Equal(api, want) || !slices.Equal(metrics, want) {
		t.Errorf("%s: overview %v, API %v, /metrics %v; want %v in each", when, page, api, metrics, want)
	}
}

// sse reads the events of a live stream.
type sse struct {
	body io.Closer
	rd   *bufio.Reader
}

func openSSE(t *testing.T, url string) *sse {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sse{body: resp.Body, rd: bufio.NewReader(resp.Body)}
}

// next returns the name and data of the next event.
func (s *sse) next(t *testing.T) (name, data string) {
	t.Helper()
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the live stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ") + "\n"
		}
	}
}

// until returns the data of the first event named name for which ok holds.
func (s *sse) until(t *testing.T, name string, ok func(data string) bool) string {
	t.Helper()
	for {
		if n, d := s.next(t); n == name && ok(d) {
			return d
		}
	}
}

// TestARemovedPipelineDrainsThenLeavesEveryViewAtOnce removes a pipeline
// with a call in flight: it shows (in the overview, the API, /metrics and
// the live updates alike) until the call returns, then leaves them all
// together, and its live page says it is gone; brought back, it starts
// from nothing.
func TestARemovedPipelineDrainsThenLeavesEveryViewAtOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	rewrite(t, path, ordersConfig(20, 0.5, 2, true))
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	r := startApp(t, filepath.Join(dir, "data"), clock, path)
	billing, err := r.registry.Get("billing")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := resilience.Run(context.Background(), billing, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	started, release, returned := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		returned <- resilience.Run(context.Background(), billing, func(context.Context) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	agree(t, r, "before the reload", "billing", "orders")
	if n := callsOf(t, r, "billing"); n != 3 {
		t.Fatalf("billing has %d calls before the reload, want 3", n)
	}

	rewrite(t, path, ordersConfig(20, 0.5, 2, false))
	var rep struct{ Removed []string }
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, &rep); code != 200 || !slices.Equal(rep.Removed, []string{"billing"}) {
		t.Fatalf("reload = %d, removed %v; want 200 and billing removed", code, rep.Removed)
	}
	if _, err := r.registry.Get("billing"); err == nil {
		t.Error("billing is still in the registry after the reload removed it")
	}
	agree(t, r, "while its call is in flight", "billing", "orders")
	// The tile and the API say why billing still shows, with the same
	// count of calls in flight.
	resp, err := http.Get(r.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	overviewHTML, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	const drainingLine = `<p class="draining" data-testid="draining-billing">removed by a configuration reload · 1 call in flight</p>`
	if !strings.Contains(string(overviewHTML), drainingLine) || strings.Contains(string(overviewHTML), `data-testid="draining-orders"`) {
		t.Errorf("the overview while billing drains lacks %s, or marks orders", drainingLine)
	}
	var list struct {
		Pipelines []struct {
			Name     string
			Draining *struct {
				InFlight int `json:"in_flight"`
			} `json:"draining"`
		} `json:"pipelines"`
	}
	r.do(t, "GET", "/api/v1/pipelines", nil, &list)
	for _, p := range list.Pipelines {
		switch {
		case p.Name == "billing" && (p.Draining == nil || p.Draining.InFlight != 1):
			t.Errorf("the API's billing while it drains: draining %+v, want 1 call in flight", p.Draining)
		case p.Name == "orders" && p.Draining != nil:
			t.Errorf("the API marks orders draining: %+v", p.Draining)
		}
	}
	overview := openSSE(t, r.url+"/events")
	if d := overview.until(t, "pipelines", func(string) bool { return true }); !strings.Contains(d, "<li>billing</li>") {
		t.Errorf("the overview's live list while billing drains: %q, want billing in it", d)
	}
	page := openSSE(t, r.url+"/events?pipeline=billing")
	page.next(t) // connected
	// The overview and the list are cached with billing in them, for a
	// second from now.
	clock.Advance(1500 * time.Millisecond)
	agree(t, r, "while its call is in flight, later", "billing", "orders")

	close(release)
	if err := <-returned; err != nil {
		t.Errorf("the call in flight through the removed pipeline: %v", err)
	}
	r.reloader.drains.Wait()
	// The clock has not moved: the cached bodies must not outlive
	// billing, neither one nor the other.
	agree(t, r, "once drained", "orders")
	// The live updates come at most once a second: the next one is due.
	clock.Advance(time.Second)
	if d := page.until(t, "gone", func(string) bool { return true }); !strings.Contains(d, "billing was removed by a configuration reload") {
		t.Errorf("gone event %q", d)
	}
	overview.until(t, "pipelines", func(d string) bool { return !strings.Contains(d, "<li>billing</li>") })
	if code := r.do(t, "GET", "/api/v1/pipelines/billing", nil, nil); code != 404 {
		t.Errorf("GET /api/v1/pipelines/billing once drained = %d, want 404", code)
	}

	var audit struct {
		Entries []struct{ Action, Pipeline, Reason string } `json:"entries"`
	}
	r.do(t, "GET", "/api/v1/audit", nil, &audit)
	var actions []string
	for _, e := range audit.Entries {
		actions = append(actions, e.Action+" "+e.Pipeline)
		if e.Action == "config.reload" && !strings.Contains(e.Reason, "removed (draining): billing") {
			t.Errorf("the reload's audit entry %q does not name billing as removed", e.Reason)
		}
		if e.Action == "config.pipeline_removed" && !strings.Contains(e.Reason, "the call in flight finishes on its policies") {
			t.Errorf("the removal's audit entry %q does not say a call was in flight", e.Reason)
		}
	}
	for _, want := range []string{"config.pipeline_drained billing", "config.pipeline_removed billing", "config.reload "} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit %v lacks %q", actions, want)
		}
	}

	// Back again: a new pipeline, from nothing.
	rewrite(t, path, ordersConfig(20, 0.5, 2, true))
	var back struct{ Added []string }
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, &back); code != 200 || !slices.Equal(back.Added, []string{"billing"}) {
		t.Fatalf("reload = %d, added %v; want billing added", code, back.Added)
	}
	agree(t, r, "once back", "billing", "orders")
	if n := callsOf(t, r, "billing"); n != 0 {
		t.Errorf("billing brought back starts with %d calls, want none", n)
	}
	fresh, err := r.registry.Get("billing")
	if err != nil || fresh == billing {
		t.Fatalf("billing after it came back: %v (the old pipeline: %v)", err, fresh == billing)
	}
	if err := resilience.Run(context.Background(), fresh, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// callsOf returns the calls the API counts for the named pipeline.
func callsOf(t *testing.T, r *running, name string) uint64 {
	t.Helper()
	var one struct {
		Totals struct {
			Calls map[string]uint64 `json:"calls"`
		} `json:"totals"`
	}
	if code := r.do(t, "GET", "/api/v1/pipelines/"+name, nil, &one); code != 200 {
		t.Fatalf("GET /api/v1/pipelines/%s = %d", name, code)
	}
	var n uint64
	for _, v := range one.Totals.Calls {
		n += v
	}
	return n
}

// hold starts a call through p that stays in flight until release is
// closed; returned receives its error.
func hold(t *testing.T, p *resilience.Pipeline) (release chan struct{}, returned chan error) {
	t.Helper()
	started := make(chan struct{})
	release, returned = make(chan struct{}), make(chan error, 1)
	go func() {
		returned <- resilience.Run(context.Background(), p, func(context.Context) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	return release, returned
}

// settledDrains makes the app tell each removed pipeline once the wait
// for its calls in flight has ended and acted.
func settledDrains(r *running) <-chan *resilience.Pipeline {
	ch := make(chan *resilience.Pipeline)
	r.reloader.mu.Lock()
	r.reloader.settled = ch
	r.reloader.mu.Unlock()
	return ch
}

// drainedAudits counts the config.pipeline_drained entries of the audit log.
func drainedAudits(t *testing.T, r *running) int {
	t.Helper()
	var audit struct {
		Entries []struct{ Action string } `json:"entries"`
	}
	r.do(t, "GET", "/api/v1/audit", nil, &audit)
	n := 0
	for _, e := range audit.Entries {
		if e.Action == "config.pipeline_drained" {
			n++
		}
	}
	return n
}

// TestAnEarlierDrainLeavesTheNameToTheNewerPipeline removes billing with
// a call in flight, brings it back, and removes the new one with a call in
// flight too: the first one's call returning takes nothing away; the new
// one still shows as draining, until its own call returns.
func TestAnEarlierDrainLeavesTheNameToTheNewerPipeline(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	rewrite(t, path, ordersConfig(20, 0.5, 2, true))
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	r := startApp(t, filepath.Join(dir, "data"), clock, path)
	settled := settledDrains(r)
	reload := func(withBilling bool) {
		t.Helper()
		rewrite(t, path, ordersConfig(20, 0.5, 2, withBilling))
		if code := r.do(t, "POST", "/api/v1/config/reload", nil, nil); code != 200 {
			t.Fatalf("reload = %d", code)
		}
	}

	first, err := r.registry.Get("billing")
	if err != nil {
		t.Fatal(err)
	}
	releaseFirst, firstReturned := hold(t, first)
	reload(false) // the first billing drains
	reload(true)  // billing back: a second one
	second, err := r.registry.Get("billing")
	if err != nil || second == first {
		t.Fatalf("billing after it came back: %v (the first one: %v)", err, second == first)
	}
	releaseSecond, secondReturned := hold(t, second)
	reload(false) // the second billing drains

	close(releaseFirst)
	if err := <-firstReturned; err != nil {
		t.Fatal(err)
	}
	if p := <-settled; p != first {
		t.Fatal("the first drain to settle is not the first billing's")
	}
	if n, ok := r.reloader.Draining("billing"); !ok || n != 1 {
		t.Errorf("once the first billing drained: Draining(billing) = %d, %v; want the second one's 1 call in flight", n, ok)
	}
	agree(t, r, "once the first billing drained, the second still in flight", "billing", "orders")
	if code := r.do(t, "GET", "/api/v1/pipelines/billing", nil, nil); code != 200 {
		t.Errorf("GET /api/v1/pipelines/billing while the second one's call is in flight = %d, want 200", code)
	}
	if n := drainedAudits(t, r); n != 0 {
		t.Errorf("%d config.pipeline_drained entries while the second billing's call is in flight, want none", n)
	}

	close(releaseSecond)
	if err := <-secondReturned; err != nil {
		t.Fatal(err)
	}
	if p := <-settled; p != second {
		t.Fatal("the second drain to settle is not the second billing's")
	}
	if _, ok := r.reloader.Draining("billing"); ok {
		t.Error("billing still draining once both calls returned")
	}
	agree(t, r, "once both drained", "orders")
	if n := drainedAudits(t, r); n != 1 {
		t.Errorf("%d config.pipeline_drained entries once the second billing drained, want 1", n)
	}
}

// TestARefusedReloadLeavesADrainingPipelineAsItWas brings a draining
// pipeline back in a reload that is refused: the old one still shows as
// draining, with its figures, until its call returns.
func TestARefusedReloadLeavesADrainingPipelineAsItWas(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	const demo = "demo: {}\n"
	rewrite(t, path, demo+ordersConfig(20, 0.5, 2, true))
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	r := startApp(t, filepath.Join(dir, "data"), clock, path)
	settled := settledDrains(r)
	billing, err := r.registry.Get("billing")
	if err != nil {
		t.Fatal(err)
	}
	if err := resilience.Run(context.Background(), billing, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	release, returned := hold(t, billing)
	rewrite(t, path, demo+ordersConfig(20, 0.5, 2, false))
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, nil); code != 200 {
		t.Fatalf("reload without billing = %d", code)
	}

	// billing back, and a pipeline whose name the demo holds: refused,
	// after billing was built.
	rewrite(t, path, demo+ordersConfig(20, 0.5, 2, true)+"  - name: payments\n")
	var refused struct{ Error string }
	if code := r.do(t, "POST", "/api/v1/config/reload", nil, &refused); code != 400 {
		t.Fatalf("reload with billing back and payments = %d (%+v), want 400", code, refused)
	}
	if n, ok := r.reloader.Draining("billing"); !ok || n != 1 {
		t.Errorf("after the refused reload: Draining(billing) = %d, %v; want its 1 call in flight", n, ok)
	}
	if code := r.do(t, "GET", "/api/v1/pipelines/billing", nil, nil); code != 200 {
		t.Fatalf("GET /api/v1/pipelines/billing after the refused reload = %d, want 200", code)
	}
	if n := callsOf(t, r, "billing"); n != 1 {
		t.Errorf("billing shows %d calls after the refused reload, want its 1", n)
	}

	close(release)
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	if p := <-settled; p != billing {
		t.Fatal("the drain that settled is not billing's")
	}
	if code := r.do(t, "GET", "/api/v1/pipelines/billing", nil, nil); code != 404 {
		t.Errorf("GET /api/v1/pipelines/billing once drained = %d, want 404", code)
	}
	if n := drainedAudits(t, r); n != 1 {
		t.Errorf("%d config.pipeline_drained entries, want 1", n)
	}
}

// TestAPipelineBroughtBackThenChangedCountsItsCalls brings billing back
// after it drained, then changes it: the changed pipeline's calls show.
func TestAPipelineBroughtBackThenChangedCountsItsCalls(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fusebox.yaml")
	rewrite(t, path, ordersConfig(20, 0.5, 2, true))
	clock := resiliencetest.NewClock(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	r := startApp(t, filepath.Join(dir, "data"), clock, path)
	for i, content := range []string{
		ordersConfig(20, 0.5, 2, false), // billing removed, nothing in flight
		ordersConfig(20, 0.5, 2, true),  // back
		ordersConfig(20, 0.5, 2, false) + "  - name: billing\n    timeout: {attempt: 2s}\n", // changed
	} {
		rewrite(t, path, content)
		if code := r.do(t, "POST", "/api/v1/config/reload", nil, nil); code != 200 {
			t.Fatalf("reload %d = %d", i+1, code)
		}
		r.reloader.drains.Wait()
	}
	billing, err := r.registry.Get("billing")
	if err != nil {
		t.Fatal(err)
	}
	if err := resilience.Run(context.Background(), billing, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := callsOf(t, r, "billing"); n != 1 {
		t.Errorf("billing, back then changed, shows %d calls after one, want 1", n)
	}
}
