package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// demoUpstreamCommand runs a small flaky HTTP service to put behind the
// gateway (examples/gateway.yaml): it answers JSON items, fails a share of
// its requests with 503 and adds latency, both set at run time through
// POST /_faults.
func demoUpstreamCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo-upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9100", "listen address")
	rate := fs.Float64("error-rate", 0, "share of requests answered 503, in [0, 1]")
	latency := fs.Duration("latency", 0, "added to every answer")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	u, err := newDemoUpstream(*rate, *latency)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(stdout, "demo upstream on http://%s (error rate %v, latency %v); break it with: curl -X POST 'http://%s/_faults?error_rate=1'\n",
		ln.Addr(), *rate, *latency, ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// demoUpstream is the flaky service of demo-upstream.
type demoUpstream struct {
	mu      sync.Mutex
	rate    float64
	latency time.Duration
}

func newDemoUpstream(rate float64, latency time.Duration) (*demoUpstream, error) {
	u := &demoUpstream{}
	if err := u.set(rate, latency); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *demoUpstream) set(rate float64, latency time.Duration) error {
	if math.IsNaN(rate) || rate < 0 || rate > 1 {
		return fmt.Errorf("error_rate %v is outside [0, 1]", rate)
	}
	if latency < 0 || latency > time.Minute {
		return fmt.Errorf("latency %v is outside [0, 1m]", latency)
	}
	u.mu.Lock()
	u.rate, u.latency = rate, latency
	u.mu.Unlock()
	return nil
}

func (u *demoUpstream) faults() (float64, time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.rate, u.latency
}

// ServeHTTP answers GET /_faults with the faults, POST /_faults?error_rate=
// &latency= with the new ones, and any other request with a JSON item
// named by the last path segment, or a 503 for the error rate's share.
func (u *demoUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_faults" {
		u.serveFaults(w, r)
		return
	}
	rate, latency := u.faults()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if rand.Float64() < rate {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":"the demo upstream is failing on purpose"}`+"\n")
		return
	}
	id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	if id == "" {
		id = "index"
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "method": r.Method, "path": r.URL.Path, "stock": len(id) * 7, "served_at": time.Now().UTC().Format(time.RFC3339Nano)})
}

func (u *demoUpstream) serveFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		rate, latency := u.faults()
		q := r.URL.Query()
		if v := q.Get("error_rate"); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				http.Error(w, "error_rate: "+err.Error(), http.StatusBadRequest)
				return
			}
			rate = f
		}
		if v := q.Get("latency"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				http.Error(w, "latency: "+err.Error(), http.StatusBadRequest)
				return
			}
			latency = d
		}
		if err := u.set(rate, latency); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	rate, latency := u.faults()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"error_rate": rate, "latency": latency.String()})
}
