// Command sseload measures a server-sent-events endpoint under many
// concurrent clients: it opens N streams (GET /events of the Fusebox app by
// default), keeps them for a bounded time, and reports how many events and
// updates each received, the longest pause between two updates, and the
// clients the server ended early. Optionally it opens stalled clients that
// send the request and never read, to show that the server drops them
// without slowing the others, and it reads the server's CPU time from
// /proc/PID/stat (Linux) over the measured window.
//
//	go run ./cmd/sseload -url http://127.0.0.1:8080/events -clients 500 -duration 60s -stalled 1 -pid 1234
//
// An update is a burst of events: events that follow the previous one by
// less than -burst belong to the same update (the app sends one event per
// tile in one write, once per second at most).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the flags set.
type config struct {
	url            string
	clients        int
	duration       time.Duration
	connectTimeout time.Duration
	stalled        int
	stalledRcvBuf  int
	pid            int
	burst          time.Duration
	perClient      bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sseload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080/events", "URL of the event stream")
	fs.IntVar(&c.clients, "clients", 100, "number of concurrent reading clients")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long the streams are kept once all are connected")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", 30*time.Second, "how long all the clients may take to connect")
	fs.IntVar(&c.stalled, "stalled", 0, "number of stalled clients: they send the request and never read")
	fs.IntVar(&c.stalledRcvBuf, "stalled-rcvbuf", 4096, "receive buffer in bytes of a stalled client's socket")
	fs.IntVar(&c.pid, "pid", 0, "process id of the server whose CPU time is measured (Linux /proc); 0 measures nothing")
	fs.DurationVar(&c.burst, "burst", 200*time.Millisecond, "events closer than this belong to one update")
	fs.BoolVar(&c.perClient, "per-client", false, "print every client's figures")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(stderr, "sseload:", err)
		return 2
	}
	// Ctrl-C ends the window early; the report still comes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := load(ctx, c, stdout); err != nil {
		fmt.Fprintln(stderr, "sseload:", err)
		return 1
	}
	return 0
}

func (c config) validate() error {
	u, err := url.Parse(c.url)
	switch {
	case err != nil:
		return fmt.Errorf("-url %q: %v", c.url, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("-url %q: the scheme must be http or https", c.url)
	case c.stalled > 0 && u.Scheme != "http":
		return fmt.Errorf("-stalled %d: stalled clients need an http URL, not %q", c.stalled, c.url)
	case c.clients < 0:
		return fmt.Errorf("-clients %d: must not be negative", c.clients)
	case c.stalled < 0:
		return fmt.Errorf("-stalled %d: must not be negative", c.stalled)
	case c.clients+c.stalled == 0:
		return errors.New("-clients and -stalled are both 0: nothing to do")
	case c.duration <= 0:
		return fmt.Errorf("-duration %v: must be positive", c.duration)
	case c.connectTimeout <= 0:
		return fmt.Errorf("-connect-timeout %v: must be positive", c.connectTimeout)
	case c.burst <= 0:
		return fmt.Errorf("-burst %v: must be positive", c.burst)
	case c.pid < 0:
		return fmt.Errorf("-pid %d: must not be negative", c.pid)
	}
	return nil
}

// stream is what one reading client saw.
type stream struct {
	connectErr error
	status     int
	firstEvent time.Duration // from the request to the first event
	events     int           // events received in the measured window
	updates    int           // bursts of events in the measured window
	bytes      int64
	maxGap     time.Duration // longest time between two updates
	endedEarly error         // the stream ended before the window did
}

// load runs the clients and prints the report.
func load(ctx context.Context, c config, out io.Writer) error {
	tr := &http.Transport{
		DisableCompression: true,
		DialContext:        (&net.Dialer{Timeout: c.connectTimeout}).DialContext,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	// The watchers end after stopStreams: defers run last first.
	var watchers sync.WaitGroup
	defer watchers.Wait()
	runCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()

	stalled := make([]*stalledClient, c.stalled)
	for i := range stalled {
		s, err := openStalled(runCtx, c)
		if err != nil {
			return fmt.Errorf("stalled client %d: %w", i, err)
		}
		defer s.conn.Close()
		stalled[i] = s
		watchers.Go(func() { s.watch(runCtx, 250*time.Millisecond) })
	}

	// Every client connects, then waits for the measured window to open,
	// so that connecting is not counted in the window.
	streams := make([]stream, c.clients)
	var connected, done sync.WaitGroup
	windowOpen := make(chan struct{})
	var windowStart time.Time // written before windowOpen closes
	connected.Add(c.clients)
	for i := range streams {
		done.Go(func() { read(runCtx, hc, c, &streams[i], &connected, windowOpen, &windowStart) })
	}
	began := time.Now()
	allIn := make(chan struct{})
	go func() { connected.Wait(); close(allIn) }()
	select {
	case <-allIn:
	case <-time.After(c.connectTimeout):
		stopStreams()
		done.Wait()
		return fmt.Errorf("the %d clients did not connect within %v", c.clients, c.connectTimeout)
	}
	connectTime := time.Since(began)

	cpu0, cpuErr := cpuTime(c.pid)
	rss0, _ := rss(c.pid)
	self0, selfErr := cpuTime(os.Getpid())
	windowStart = time.Now()
	close(windowOpen)
	timer := time.NewTimer(c.duration)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	elapsed := time.Since(windowStart)
	cpu1, cpuErr1 := cpuTime(c.pid)
	rss1, _ := rss(c.pid)
	self1, selfErr1 := cpuTime(os.Getpid())
	stopStreams()
	done.Wait()
	watchers.Wait()

	for _, s := range stalled {
		s.finish()
	}

	report(out, c, streams, stalled, connectTime, elapsed)
	if c.pid > 0 {
		if err := errors.Join(cpuErr, cpuErr1); err != nil {
			fmt.Fprintf(out, "server cpu: not measured: %v\n", err)
		} else {
			used := cpu1 - cpu0
			fmt.Fprintf(out, "server cpu: pid %d used %.2fs of cpu in %.1fs: %.1f%% of one core\n",
				c.pid, used.Seconds(), elapsed.Seconds(), 100*used.Seconds()/elapsed.Seconds())
		}
		if rss0 > 0 && rss1 > 0 {
			fmt.Fprintf(out, "server rss: %d MiB at the start of the window, %d MiB at its end\n", rss0>>20, rss1>>20)
		}
		if errors.Join(selfErr, selfErr1) == nil {
			used := self1 - self0
			fmt.Fprintf(out, "sseload cpu: %.2fs in the window: %.1f%% of one core\n", used.Seconds(), 100*used.Seconds()/elapsed.Seconds())
		}
	}
	for _, s := range streams {
		if s.connectErr == nil {
			return nil
		}
	}
	if c.clients > 0 {
		return fmt.Errorf("none of the %d clients connected", c.clients)
	}
	return nil
}

// read runs one reading client: it connects, signals connected, counts
// the events of the measured window, and returns when ctx ends or the
// stream does.
func read(ctx context.Context, hc *http.Client, c config, st *stream, connected *sync.WaitGroup, windowOpen <-chan struct{}, windowStart *time.Time) {
	once := sync.OnceFunc(connected.Done)
	defer once()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		st.connectErr = err
		return
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		st.connectErr = err
		return
	}
	defer resp.Body.Close()
	st.status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		st.connectErr = fmt.Errorf("status %d", resp.StatusCode)
		return
	}
	once()

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var (
		pending    bool
		inWindow   bool
		lastEvent  time.Time
		lastUpdate time.Time
	)
	for sc.Scan() {
		line := sc.Bytes()
		if !inWindow {
			select {
			case <-windowOpen:
				inWindow = true
			default:
			}
		}
		if inWindow {
			st.bytes += int64(len(line)) + 1
		}
		if len(line) > 0 {
			if bytes.HasPrefix(line, []byte("data:")) || bytes.HasPrefix(line, []byte("event:")) {
				pending = true
			}
			continue
		}
		if !pending {
			continue
		}
		pending = false
		now := time.Now()
		if st.firstEvent == 0 {
			st.firstEvent = now.Sub(start)
		}
		newUpdate := lastEvent.IsZero() || now.Sub(lastEvent) >= c.burst
		lastEvent = now
		if !inWindow {
			if newUpdate {
				lastUpdate = now
			}
			continue
		}
		st.events++
		if newUpdate {
			st.updates++
			from := lastUpdate
			if from.Before(*windowStart) {
				from = *windowStart
			}
			if gap := now.Sub(from); gap > st.maxGap {
				st.maxGap = gap
			}
			lastUpdate = now
		}
	}
	select {
	case <-windowOpen:
		inWindow = true
	default:
	}
	if inWindow {
		// The pause since the last update counts too: a stream that went
		// quiet shows it.
		from := lastUpdate
		if from.Before(*windowStart) {
			from = *windowStart
		}
		if gap := time.Since(from); gap > st.maxGap {
			st.maxGap = gap
		}
	}
	if ctx.Err() == nil {
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		st.endedEarly = err
	}
}

// stalledClient sends the request of a stream and never reads it.
type stalledClient struct {
	conn   *net.TCPConn
	opened time.Time
	// serverPort and clientPort name the connection in /proc/net/tcp.
	serverPort, clientPort int

	// Set by watch: the state of the server's end of the connection as
	// the kernel shows it (Linux, server on this host).
	mu       sync.Mutex
	seen     bool          // the server's end was found
	state    string        // its last state
	closedAt time.Duration // when it left ESTABLISHED, 0 if it did not
	queued   int64         // bytes the server's kernel still holds for it
	maxQueue int64

	// Set by finish.
	received int64
	closed   bool // the connection ended while draining it
	readErr  error
}

func openStalled(ctx context.Context, c config) (*stalledClient, error) {
	u, err := url.Parse(c.url)
	if err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	d := net.Dialer{Timeout: c.connectTimeout}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	conn := nc.(*net.TCPConn)
	// A small receive buffer: the server's writes block soon.
	if err := conn.SetReadBuffer(c.stalledRcvBuf); err != nil {
		conn.Close()
		return nil, err
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	sc := &stalledClient{conn: conn, opened: time.Now()}
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		sc.serverPort = a.Port
	}
	if a, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		sc.clientPort = a.Port
	}
	return sc, nil
}

// tcpStates are the states of /proc/net/tcp.
var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
	"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

// watch polls /proc/net/tcp every interval until ctx ends and records the
// state of the server's end of the stalled connection: a server that
// drops the client closes its end (FIN_WAIT1 while the unread bytes stay
// queued), even though the client cannot see the FIN before it reads
// everything.
func (s *stalledClient) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.poll()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *stalledClient) poll() {
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			fl := strings.Fields(line)
			if len(fl) < 5 || portOf(fl[1]) != s.serverPort || portOf(fl[2]) != s.clientPort {
				continue
			}
			state, ok := tcpStates[fl[3]]
			if !ok {
				state = fl[3]
			}
			var queued int64
			if tx, _, ok := strings.Cut(fl[4], ":"); ok {
				queued, _ = strconv.ParseInt(tx, 16, 64)
			}
			s.mu.Lock()
			s.seen, s.state, s.queued = true, state, queued
			s.maxQueue = max(s.maxQueue, queued)
			if state != "ESTABLISHED" && s.closedAt == 0 {
				s.closedAt = time.Since(s.opened)
			}
			s.mu.Unlock()
			return
		}
	}
	// Gone from the table: the server's end is closed and freed.
	s.mu.Lock()
	if s.seen && s.closedAt == 0 {
		s.state, s.closedAt = "gone", time.Since(s.opened)
	}
	s.mu.Unlock()
}

// portOf returns the port of an address of /proc/net/tcp ("0100007F:1F90").
func portOf(addr string) int {
	_, port, ok := strings.Cut(addr, ":")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(port, 16, 32)
	if err != nil {
		return -1
	}
	return int(n)
}

// finish reads what the server left in the connection: the connection
// ends (the server dropped the client) or stays open (the read times out).
func (s *stalledClient) finish() {
	if err := s.conn.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		s.readErr = err
		return
	}
	n, err := io.Copy(io.Discard, s.conn)
	s.received = n
	var ne net.Error
	switch {
	case err == nil:
		s.closed = true
	case errors.As(err, &ne) && ne.Timeout():
		s.closed = false
	default:
		// A reset also means the server let go of it.
		s.closed = true
		s.readErr = err
	}
}

func report(out io.Writer, c config, streams []stream, stalled []*stalledClient, connectTime, elapsed time.Duration) {
	fmt.Fprintf(out, "sseload: %s, %d reading clients, %d stalled, window %.1fs (all connected in %v)\n",
		c.url, c.clients, c.stalled, elapsed.Seconds(), connectTime.Round(time.Millisecond))
	var (
		failed, early          int
		events, updates, gaps  []float64
		firsts                 []float64
		totalEvents, totalByte int64
		firstErr               error
	)
	for _, s := range streams {
		if s.connectErr != nil {
			failed++
			if firstErr == nil {
				firstErr = s.connectErr
			}
			continue
		}
		if s.endedEarly != nil {
			early++
		}
		events = append(events, float64(s.events))
		updates = append(updates, float64(s.updates))
		gaps = append(gaps, s.maxGap.Seconds())
		firsts = append(firsts, s.firstEvent.Seconds())
		totalEvents += int64(s.events)
		totalByte += s.bytes
	}
	fmt.Fprintf(out, "clients: %d streamed, %d failed to connect, %d ended by the server before the window did\n",
		len(events), failed, early)
	if firstErr != nil {
		fmt.Fprintf(out, "first connect error: %v\n", firstErr)
	}
	if len(events) > 0 {
		secs := elapsed.Seconds()
		fmt.Fprintf(out, "received: %d events, %.1f MiB in total (%.0f events/s, %.2f MiB/s)\n",
			totalEvents, float64(totalByte)/(1<<20), float64(totalEvents)/secs, float64(totalByte)/(1<<20)/secs)
		fmt.Fprintf(out, "updates per client:   min %.0f  p50 %.0f  max %.0f  (%.2f/s at p50)\n",
			pct(updates, 0), pct(updates, 50), pct(updates, 100), pct(updates, 50)/secs)
		fmt.Fprintf(out, "events per client:    min %.0f  p50 %.0f  max %.0f\n", pct(events, 0), pct(events, 50), pct(events, 100))
		fmt.Fprintf(out, "longest pause between updates, per client: p50 %.2fs  p99 %.2fs  max %.2fs\n",
			pct(gaps, 50), pct(gaps, 99), pct(gaps, 100))
		fmt.Fprintf(out, "first event after connecting: p50 %.0fms  max %.0fms\n", 1000*pct(firsts, 50), 1000*pct(firsts, 100))
	}
	for i, s := range stalled {
		s.mu.Lock()
		switch {
		case !s.seen:
			fmt.Fprintf(out, "stalled client %d: the server's end was not found in /proc/net/tcp (not Linux, or another host)\n", i)
		case s.closedAt > 0:
			fmt.Fprintf(out, "stalled client %d: DROPPED: the server closed its end %.1fs after the request (state %s, %d bytes still queued for it, at most %d)\n",
				i, s.closedAt.Seconds(), s.state, s.queued, s.maxQueue)
		default:
			fmt.Fprintf(out, "stalled client %d: NOT dropped: the server's end is %s with %d bytes queued for it (at most %d)\n",
				i, s.state, s.queued, s.maxQueue)
		}
		s.mu.Unlock()
		ended := "the connection was still open after 3s of draining"
		if s.closed {
			ended = "the connection ended while draining"
		}
		fmt.Fprintf(out, "stalled client %d: %d bytes drained at the end; %s", i, s.received, ended)
		if s.readErr != nil {
			fmt.Fprintf(out, " (%v)", s.readErr)
		}
		fmt.Fprintln(out)
	}
	if c.perClient {
		for i, s := range streams {
			fmt.Fprintf(out, "client %d: events=%d updates=%d bytes=%d max_gap=%v first=%v", i, s.events, s.updates, s.bytes,
				s.maxGap.Round(time.Millisecond), s.firstEvent.Round(time.Millisecond))
			if s.connectErr != nil {
				fmt.Fprintf(out, " connect_error=%q", s.connectErr)
			}
			if s.endedEarly != nil {
				fmt.Fprintf(out, " ended_early=%q", s.endedEarly)
			}
			fmt.Fprintln(out)
		}
	}
}

// pct returns the p-th percentile (nearest rank) of xs, sorting it.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	i := int(p/100*float64(len(xs))+0.5) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the user plus system CPU time of process pid.
func cpuTime(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name, want 13 or more", pid, len(f))
	}
	ut, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q: %v", pid, f[11], err)
	}
	stt, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: stime %q: %v", pid, f[12], err)
	}
	return time.Duration(ut+stt) * time.Second / clockTicks, nil
}

// rss returns the resident set size of process pid in bytes, 0 when
// unknown.
func rss(pid int) (int64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}
