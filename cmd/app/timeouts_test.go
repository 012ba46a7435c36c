package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startWithConfig starts the demo app with the YAML configuration text.
func startWithConfig(t *testing.T, yaml string) *running {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fusebox.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return startApp(t, t.TempDir(), nil, path)
}

// The timeouts below are short so that the tests are; each wait is bounded
// by a deadline many times the timeout, and only a connection the server
// closed ends it early.

func TestASlowBodyIsCutAtTheReadTimeout(t *testing.T) {
	r := startWithConfig(t, "http: {read_timeout: 300ms, read_header_timeout: 300ms}\n")
	conn, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "PUT /api/v1/demo/downstreams/payments HTTP/1.1\r\nHost: x\r\n"+
		"Authorization: Bearer "+testToken+"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// A byte every 100 ms would take 100 s to send the body.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes
		close(closed)
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-closed:
			if held := time.Since(start); held > 5*time.Second {
				t.Errorf("the slow body held the connection %v with a 300ms read timeout", held)
			}
			return
		case <-tick.C:
			_, _ = io.WriteString(conn, " ")
		case <-deadline:
			t.Fatal("the server still reads a body sent a byte every 100 ms after 10 s")
		}
	}
}

func TestAnIdleKeepAliveConnectionIsClosedAtTheIdleTimeout(t *testing.T) {
	r := startWithConfig(t, "http: {idle_timeout: 300ms}\n")
	conn, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("the idle connection: %v, want it closed by the server (EOF)", err)
	}
}

func TestALiveStreamOutlivesTheReadAndWriteTimeouts(t *testing.T) {
	r := startWithConfig(t, "http: {read_timeout: 200ms, write_timeout: 200ms}\n")
	resp, err := http.Get(r.url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /events: %d", resp.StatusCode)
	}
	start := time.Now()
	br := bufio.NewReader(resp.Body)
	events := 0
	for time.Since(start) < 1500*time.Millisecond {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended after %v (%d events): %v", time.Since(start), events, err)
		}
		if strings.HasPrefix(line, "event: ") {
			events++
		}
	}
}
