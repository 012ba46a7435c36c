package ui

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// benchServer serves n busy pipelines from a hand-made snapshot.
func benchServer(b *testing.B, n int) *echo.Echo {
	b.Helper()
	ps := make([]telemetry.PipelineSnapshot, n)
	for i := range ps {
		ps[i] = pipelineSnap(fmt.Sprintf("pipeline-%02d", i), resilience.State(i%int(resilience.NumStates)))
	}
	srv, err := New(Config{Stats: newFakeStats(ps...), AdminToken: testToken})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	e := echo.New()
	srv.Register(e)
	return e
}

func benchGet(b *testing.B, path string) {
	e := benchServer(b, 50)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					b.Errorf("status %d", rec.Code)
					return
				}
			}
		})
	})
}

// BenchmarkOverview renders GET / with 50 pipelines through echo.
func BenchmarkOverview(b *testing.B) { benchGet(b, "/") }

// BenchmarkAPIPipelines answers GET /api/v1/pipelines with 50 pipelines.
func BenchmarkAPIPipelines(b *testing.B) { benchGet(b, "/api/v1/pipelines") }

// BenchmarkDetail renders GET /pipelines/{name} of a busy pipeline.
func BenchmarkDetail(b *testing.B) { benchGet(b, "/pipelines/pipeline-01") }

// BenchmarkFragments renders one live update of the overview with 50
// pipelines: the work done once per second for all its clients.
func BenchmarkFragments(b *testing.B) {
	ps := make([]telemetry.PipelineSnapshot, 50)
	for i := range ps {
		ps[i] = pipelineSnap(fmt.Sprintf("pipeline-%02d", i), resilience.StateClosed)
	}
	srv, err := New(Config{Stats: newFakeStats(ps...), AdminToken: testToken})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := srv.fragments(b.Context(), ""); err != nil {
			b.Fatal(err)
		}
	}
}
