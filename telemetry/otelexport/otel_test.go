package otelexport

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/resilience/resiliencetest"
	"github.com/fusebox-dev/fusebox/telemetry"
)

// otelEnv lists the variables Setup and the exporters read; each test
// starts with all of them unset.
var otelEnv = []string{
	"OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
}

func setOTelEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range otelEnv {
		t.Setenv(k, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func TestSetupBuildsOnlyWhatTheEnvironmentAsks(t *testing.T) {
	srv := httptest.NewServer(&otlpSink{paths: map[string]int{}})
	defer srv.Close()
	endpoint := srv.URL
	tests := []struct {
		name                string
		env                 map[string]string
		wantTraces, wantMet bool
	}{
		{"no variables export nothing", nil, false, false},
		{"a service name alone exports nothing", map[string]string{"OTEL_SERVICE_NAME": "checkout"}, false, false},
		{"exporters set to none export nothing", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}, false, false},
		{"an endpoint exports both signals", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}, true, true},
		{"an endpoint with traces set to none exports metrics only",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_EXPORTER": "none"}, false, true},
		{"a traces endpoint exports traces only", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint + "/v1/traces"}, true, false},
		{"a metrics endpoint exports metrics only", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": endpoint + "/v1/metrics"}, false, true},
		{"an otlp exporter without an endpoint exports to the default one", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, false},
		{"the http/protobuf protocol is accepted",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true, true},
		{"a disabled SDK exports nothing",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "TRUE"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setOTelEnv(t, tt.env)
			o, err := Setup(context.Background(), Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := o.Shutdown(context.Background()); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
			}()
			if got := o.TracerProvider != nil; got != tt.wantTraces {
				t.Errorf("tracer provider built: %v, want %v", got, tt.wantTraces)
			}
			if got := o.MeterProvider != nil; got != tt.wantMet {
				t.Errorf("meter provider built: %v, want %v", got, tt.wantMet)
			}
			if got := o.Resource != nil; got != (tt.wantTraces || tt.wantMet) {
				t.Errorf("resource built: %v, want only when something is exported", got)
			}
			tr, err := o.Tracing(TracingConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if got := tr != nil; got != tt.wantTraces {
				t.Errorf("tracing observer: %v, want %v", got, tt.wantTraces)
			}
		})
	}
}

func TestSetupRejectsUnsupportedSettings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"another traces exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, `OTEL_TRACES_EXPORTER="zipkin"`},
		{"another metrics exporter in a list", map[string]string{"OTEL_METRICS_EXPORTER": "otlp,prometheus"}, `unsupported exporter "prometheus"`},
		{"the grpc protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, `OTEL_EXPORTER_OTLP_PROTOCOL="grpc"`},
		{"a malformed boolean", map[string]string{"OTEL_SDK_DISABLED": "yes"}, `OTEL_SDK_DISABLED="yes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setOTelEnv(t, tt.env)
			o, err := Setup(context.Background(), Config{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %s", err, tt.want)
			}
			if o == nil || o.TracerProvider != nil || o.MeterProvider != nil {
				t.Errorf("providers built despite the error: %+v", o)
			}
		})
	}
}

func TestSetupNamesTheService(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		cfg  Config
		want string
	}{
		{"the default is fusebox", nil, Config{}, "fusebox"},
		{"the configuration names it", nil, Config{ServiceName: "gateway"}, "gateway"},
		{"OTEL_SERVICE_NAME overrides the configuration", map[string]string{"OTEL_SERVICE_NAME": "checkout"}, Config{ServiceName: "gateway"}, "checkout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}
			for k, v := range tt.env {
				env[k] = v
			}
			setOTelEnv(t, env)
			tt.cfg.Attributes = []attribute.KeyValue{attribute.String("deployment.environment.name", "test")}
			o, err := Setup(context.Background(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = o.Shutdown(context.Background()) }()
			got := map[string]string{}
			for _, kv := range o.Resource.Attributes() {
				got[string(kv.Key)] = kv.Value.Emit()
			}
			if got["service.name"] != tt.want {
				t.Errorf("service.name %q, want %q", got["service.name"], tt.want)
			}
			if got["deployment.environment.name"] != "test" {
				t.Errorf("resource %v lacks the configured attribute", got)
			}
		})
	}
}

// otlpSink is an OTLP/HTTP receiver that counts the requests per path.
type otlpSink struct {
	mu    sync.Mutex
	paths map[string]int
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	if r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/x-protobuf" {
		s.paths[r.URL.Path]++
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (s *otlpSink) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paths[path]
}

func TestSetupExportsOverOTLPHTTP(t *testing.T) {
	sink := &otlpSink{paths: map[string]int{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	setOTelEnv(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_SERVICE_NAME": "checkout"})

	ctx := context.Background()
	src := &staticSource{snap: telemetry.Snapshot{Time: traceEpoch, Pipelines: []telemetry.PipelineSnapshot{{Name: "exported", Bound: traceEpoch}}}}
	o, err := Setup(ctx, Config{Metrics: src})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := o.Tracing(TracingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPipeline(t, "exported", resiliencetest.NewClock(traceEpoch), tr)
	if err := resilience.Run(ctx, p, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	counter, err := o.MeterProvider.Meter("test").Int64Counter("test.counter")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(ctx, 1)

	if err := o.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := sink.count("/v1/traces"); n == 0 {
		t.Errorf("no spans reached %s/v1/traces", srv.URL)
	}
	if n := sink.count("/v1/metrics"); n == 0 {
		t.Errorf("no metrics reached %s/v1/metrics", srv.URL)
	}
	if n := src.reads.Load(); n < 2 {
		t.Errorf("the Fusebox metrics were read %d times, want at least twice (instruments and histograms)", n)
	}
	if err := o.Shutdown(ctx); err != nil {
		t.Errorf("a second Shutdown: %v", err)
	}
}
