package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOverridesSurviveRestartsOfTheBuiltApp runs the operator's sequence
// against the built binary: force a breaker open, send an override the app
// must refuse, kill the process without warning, start it again on the
// same data directory, then lift the override and stop it gracefully. At
// every start the breaker and the audit log show exactly what was accepted.
func TestOverridesSurviveRestartsOfTheBuiltApp(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	goTool := program(t, "go")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Cleanup(http.DefaultClient.CloseIdleConnections)

	bin := filepath.Join(dir, "fusebox")
	build := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/app")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/app: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	app := "http://" + addr
	breaker := app + "/api/v1/pipelines/payments/breaker"
	launch := func(n int) *exec.Cmd {
		t.Helper()
		logFile, err := os.Create(filepath.Join(dir, "app.log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logFile.Close() })
		cmd := exec.Command(bin, "--addr", addr, "--data-dir", filepath.Join(dir, "data"))
		cmd.Env = append(os.Environ(), "FUSEBOX_ADMIN_TOKEN="+e2eToken)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %d: %v", n, err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		waitHTTP(ctx, t, app+"/readyz")
		return cmd
	}
	type state struct {
		Breaker struct{ State, Reason string }
	}
	type audit struct {
		Entries []struct{ Action, To, Reason string }
	}
	check := func(when, wantState, wantReason string, wantAudit ...string) {
		t.Helper()
		var s state
		if err := json.Unmarshal(get(ctx, t, app+"/api/v1/pipelines/payments", "application/json"), &s); err != nil {
			t.Fatal(err)
		}
		if s.Breaker.State != wantState || s.Breaker.Reason != wantReason {
			t.Errorf("%s: breaker %+v, want %s (%q)", when, s.Breaker, wantState, wantReason)
		}
		var a audit
		if err := json.Unmarshal(get(ctx, t, app+"/api/v1/audit", "application/json"), &a); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range a.Entries {
			got = append(got, e.Action+" "+e.To+" "+e.Reason)
		}
		if strings.Join(got, "; ") != strings.Join(wantAudit, "; ") {
			t.Errorf("%s: audit %q, want %q", when, got, wantAudit)
		}
	}
	wait := func(cmd *exec.Cmd) {
		t.Helper()
		if err := cmd.Wait(); err != nil && cmd.ProcessState.ExitCode() != -1 {
			t.Errorf("app exited with %v", err)
		}
	}

	cmd := launch(1)
	if code := status(ctx, t, http.MethodPut, breaker, `{"state":"forced_open","reason":"failover","duration":"1h"}`); code != 200 {
		t.Fatalf("override: %d", code)
	}
	for _, d := range []string{"1us", "2ms", "30s"} {
		if code := status(ctx, t, http.MethodPut, breaker, `{"state":"forced_closed","reason":"short","duration":"`+d+`"}`); code != 400 {
			t.Errorf("override for %s: %d, want 400", d, code)
		}
	}
	if code := status(ctx, t, http.MethodPut, app+"/api/v1/pipelines/inventory/breaker", `{"state":"auto","reason":"none there"}`); code != 200 {
		t.Errorf("lifting no override: %d, want 200", code)
	}
	check("before the kill", "forced_open", "failover", "override.set forced_open failover")
	_ = cmd.Process.Signal(syscall.SIGKILL)
	wait(cmd)

	cmd = launch(2)
	check("after kill -9 and a restart", "forced_open", "failover", "override.set forced_open failover")
	if code := status(ctx, t, http.MethodPut, breaker, `{"state":"auto","reason":"failover done"}`); code != 200 {
		t.Fatalf("lift: %d", code)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	wait(cmd)

	launch(3)
	check("after a graceful restart", "closed", "",
		"override.lift auto failover done", "override.set forced_open failover")
}

// TestASecondSignalEndsTheGracePeriod holds a request open (a body that
// never completes) so that a graceful shutdown would wait for the whole
// grace period of an hour, and sends SIGTERM twice: the app must exit.
func TestASecondSignalEndsTheGracePeriod(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	goTool := program(t, "go")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "fusebox")
	build := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/app")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/app: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "fusebox.yaml")
	if err := os.WriteFile(cfg, []byte("http: {read_timeout: 1h, shutdown_timeout: 1h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--config", cfg)
	cmd.Env = append(os.Environ(), "FUSEBOX_ADMIN_TOKEN="+e2eToken)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	waited := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(waited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-waited })
	waitHTTP(ctx, t, "http://"+addr+"/readyz")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Expect: 100-continue makes the server answer "100 Continue" once the
	// handler starts reading the body, so the signal below is sent only
	// when the request is surely in flight, whatever the machine's load.
	if _, err := conn.Write([]byte("PUT /api/v1/demo/downstreams/payments HTTP/1.1\r\nHost: x\r\n" +
		"Authorization: Bearer " + e2eToken + "\r\nContent-Type: application/json\r\n" +
		"Expect: 100-continue\r\nContent-Length: 100\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue before the body, got %q (%v)", status, err)
	}
	if _, err := conn.Write([]byte("{")); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	// The listener closes as the graceful shutdown begins.
	poll(ctx, t, "waiting for the shutdown to begin", func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return errors.New("still accepting connections")
		}
		return nil
	})
	select {
	case err := <-exited:
		t.Fatalf("the app exited at the first signal (%v) although a request was in flight", err)
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("exit after the second signal: %v, want status 130", err)
		}
	case <-ctx.Done():
		t.Fatal("the app still waits for the in-flight request after a second signal")
	}
}
