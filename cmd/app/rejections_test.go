package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
)

func TestConcurrencyLimitRefusalsAgreeOnThePageTheAPIAndMetrics(t *testing.T) {
	clk := resiliencetest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	cfg := writeConfig(t, `pipelines:
  - name: api
    adaptive_limit: {initial_limit: 1, min_limit: 1, max_limit: 1}
`)
	r := startApp(t, t.TempDir(), clk, cfg)
	p, err := r.registry.Get("api")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- resilience.Run(ctx, p, func(context.Context) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	const refused = 3
	for range refused {
		if err := resilience.Run(ctx, p, func(context.Context) error { return nil }); !errors.Is(err, resilience.ErrLimitExceeded) {
			t.Fatalf("a call beyond the limit = %v, want ErrLimitExceeded", err)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var pj struct {
		Windows struct {
			W10s struct {
				Rejections map[string]float64 `json:"rejections_per_second"`
			} `json:"10s"`
		} `json:"windows"`
		Totals struct {
			Rejections map[string]uint64 `json:"rejections"`
		} `json:"totals"`
	}
	if code := r.do(t, "GET", "/api/v1/pipelines/api", nil, &pj); code != http.StatusOK {
		t.Fatalf("GET /api/v1/pipelines/api: %d", code)
	}
	if got := pj.Totals.Rejections["concurrency_limit"]; got != refused {
		t.Errorf("the API's concurrency_limit rejections = %d, want %d (all %v)", got, refused, pj.Totals.Rejections)
	}
	rate := pj.Windows.W10s.Rejections["concurrency_limit"]
	if rate != refused/10.0 {
		t.Errorf("the API's concurrency_limit rejections per second = %v, want %v", rate, refused/10.0)
	}

	if m := metricsText(t, r); !strings.Contains(m, fmt.Sprintf(`fusebox_rejections_total{pipeline="api",reason="concurrency_limit"} %d`+"\n", refused)) {
		t.Errorf("/metrics lacks %d concurrency_limit rejections:\n%s", refused, grepLines(m, "fusebox_rejections_total"))
	}

	resp, err := http.Get(r.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	tile := regexp.MustCompile(`(?s)data-testid="rejected-api">(.*?)</dd>`).FindSubmatch(page)
	if tile == nil {
		t.Fatal("the overview has no rejected line for api")
	}
	if got, want := strings.Join(strings.Fields(string(tile[1])), " "), fmt.Sprintf("%.1f/s (concurrency limit)", rate); got != want {
		t.Errorf("the overview says rejected %q, want %q", got, want)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
