package ui

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/telemetry"
	"github.com/fusebox-dev/fusebox/ui/templates"
)

// clientBuffer is how many updates a live client may fall behind before it
// is dropped.
const clientBuffer = 4

// writeTimeout bounds the write of one update to a live client.
const writeTimeout = 10 * time.Second

// client is one GET /events stream.
type client struct {
	// topic is what the client's page shows (see topicOverview).
	topic string
	// addr is the client's address (clientAddr).
	addr string
	ch   chan []byte
	// gone is closed when the hub drops the client (too slow, or Close).
	gone    chan struct{}
	dropped bool // guarded by hub.mu
}

// hub renders the live updates once per change for every topic that has
// clients and hands each client its topic's message. A client whose buffer
// is full is dropped: a slow reader never blocks the others. Its loop runs
// while at least one client is connected, subscribed to Stats for that time.
type hub struct {
	s       *Server
	pokes   chan struct{}
	mu      sync.Mutex
	clients map[*client]struct{}
	// byAddr counts the clients of each address.
	byAddr map[string]int
	// lastRefusal is when a refusal of each kind was last logged.
	lastRefusal map[string]time.Time
	stop        chan struct{} // closes to end the running loop; nil when none runs
	closed      bool
	loops       sync.WaitGroup
}

func newHub(s *Server) *hub {
	return &hub{s: s, pokes: make(chan struct{}, 1), clients: map[*client]struct{}{},
		byAddr: map[string]int{}, lastRefusal: map[string]time.Time{}}
}

// refused logs a refused stream, at most once a minute for each msg. h.mu
// is held.
func (h *hub) refused(msg string, args ...any) {
	now := h.s.clock.Now()
	if last, ok := h.lastRefusal[msg]; ok && now.Sub(last) < time.Minute {
		return
	}
	h.lastRefusal[msg] = now
	h.s.log.Warn("ui: refusing a live stream: "+msg+" (logged once a minute)", args...)
}

// add registers a client at addr for topic and starts the loop if none
// runs. A client address with MaxStreamsPerClient streams already is
// refused (429), as is anyone once MaxStreams are open (503); each kind of
// refusal is logged at most once a minute.
func (h *hub) add(topic, addr string) (*client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, Errorf(EUNAVAILABLE, "the server is shutting down")
	case h.byAddr[addr] >= h.s.cfg.MaxStreamsPerClient:
		h.refused("too many live streams from one client", "client", addr, "limit", h.s.cfg.MaxStreamsPerClient)
		return nil, Errorf(ETOOMANY, "too many live streams from this address (%d): close a dashboard tab", h.byAddr[addr])
	case len(h.clients) >= h.s.cfg.MaxStreams:
		h.refused("too many live streams", "limit", h.s.cfg.MaxStreams)
		return nil, Errorf(EUNAVAILABLE, "too many live streams (%d)", len(h.clients))
	}
	c := &client{topic: topic, addr: addr, ch: make(chan []byte, clientBuffer), gone: make(chan struct{})}
	h.clients[c] = struct{}{}
	h.byAddr[addr]++
	if h.stop == nil {
		changes, cancel := h.s.cfg.Stats.Subscribe()
		h.stop = make(chan struct{})
		h.loops.Add(1)
		go h.loop(changes, cancel, h.stop)
	}
	return c, nil
}

// remove unregisters c, and stops the loop after the last client.
func (h *hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(c)
}

func (h *hub) dropLocked(c *client) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	if h.byAddr[c.addr]--; h.byAddr[c.addr] <= 0 {
		delete(h.byAddr, c.addr)
	}
	if !c.dropped {
		c.dropped = true
		close(c.gone)
	}
	if len(h.clients) == 0 && h.stop != nil {
		close(h.stop)
		h.stop = nil
	}
}

// close drops every client, refuses new ones and waits for the loop.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.clients {
		h.dropLocked(c)
	}
	h.mu.Unlock()
	h.loops.Wait()
}

// poke asks for an update as if the figures had changed (after an
// override, so that the pages show it at once).
func (h *hub) poke() {
	select {
	case h.pokes <- struct{}{}:
	default:
	}
}

// loop broadcasts an update on each change, at most once per
// UpdateInterval: a change that comes sooner is sent when the interval is
// over, together with any that follow it.
func (h *hub) loop(changes <-chan struct{}, cancel func(), stop <-chan struct{}) {
	defer h.loops.Done()
	defer cancel()
	clock, every := h.s.clock, h.s.cfg.UpdateInterval
	var (
		last    time.Time
		timer   resilience.Timer
		pending <-chan time.Time
	)
	// The aggregator ticks only while events flow: without traffic a
	// refresh every idleRefresh keeps rates falling to zero on screen.
	idle := clock.NewTimer(idleRefresh * every)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		idle.Stop()
	}()
	changed := func() {
		if pending != nil {
			return // an update is scheduled already
		}
		now := clock.Now()
		if wait := last.Add(every).Sub(now); !last.IsZero() && wait > 0 {
			timer = clock.NewTimer(wait)
			pending = timer.C()
			return
		}
		last = now
		h.broadcast()
	}
	for {
		select {
		case <-stop:
			return
		case _, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			changed()
		case <-h.pokes:
			changed()
		case <-pending:
			timer, pending = nil, nil
			last = clock.Now()
			h.broadcast()
		case <-idle.C():
			idle = clock.NewTimer(idleRefresh * every)
			if clock.Now().Sub(last) >= idleRefresh*every {
				changed()
			}
		}
	}
}

// idleRefresh is how many update intervals pass without a change before a
// live view is refreshed anyway.
const idleRefresh = 5

// broadcast renders each topic's message once and offers it to its clients.
func (h *hub) broadcast() {
	h.mu.Lock()
	byTopic := map[string][]*client{}
	for c := range h.clients {
		byTopic[c.topic] = append(byTopic[c.topic], c)
	}
	h.mu.Unlock()
	ctx := context.Background()
	for topic, cs := range byTopic {
		msg, err := h.s.fragments(ctx, topic)
		if err != nil {
			h.s.log.Warn("ui: rendering a live update", "topic", topic, "err", err)
			continue
		}
		for _, c := range cs {
			select {
			case c.ch <- msg:
			default:
				h.mu.Lock()
				h.dropLocked(c)
				h.mu.Unlock()
				h.s.log.Info("ui: dropped a live client that fell behind", "topic", topic)
			}
		}
	}
}

// The topics of the live streams: what a page shows, and for the overview
// of a logged-in client its CSRF token, since its scenario buttons carry it.
const (
	topicOverview = ""          // the overview, logged out
	topicLoggedIn = "overview:" // + the session's CSRF token
	topicPipeline = "pipeline:" // + the pipeline's name
	topicSLOs     = "slos"
	topicAlerts   = "alerts"
)

// fragments renders the live update of a topic as SSE events. Every topic
// gets a "nav" event (the header's count of firing alerts); the overview a
// "tile" event per pipeline (with its budget line) and a "scenarios" event
// for the demo's scenarios and a "pipelines" event listing the tiles; a
// pipeline's page "header", "charts" (the state timeline and the charts),
// "calls" and one "slo" event per SLO, or a "gone" event once the
// pipeline left (a reload removed it); /slos an
// "slo" event per SLO; /alerts an "alerts" event. Each event's data is the
// HTML of an element with a stable id that the script swaps in.
func (s *Server) fragments(ctx context.Context, topic string) ([]byte, error) {
	if service, ok := strings.CutPrefix(topic, fleetTopic); ok {
		return s.fleetFragments(ctx, service)
	}
	var buf bytes.Buffer
	if err := writeEvent(ctx, &buf, "nav", templates.NavAlerts(s.firing(), topic == topicAlerts)); err != nil {
		return nil, err
	}
	switch {
	case topic == topicOverview || strings.HasPrefix(topic, topicLoggedIn):
		tiles := s.tileViews(s.cfg.Stats.Snapshot())
		for _, t := range tiles {
			if err := writeEvent(ctx, &buf, "tile", templates.TileView(t)); err != nil {
				return nil, err
			}
		}
		if err := writeEvent(ctx, &buf, "pipelines", templates.PipelineNames(tileNames(tiles))); err != nil {
			return nil, err
		}
		csrf, loggedIn := strings.CutPrefix(topic, topicLoggedIn)
		if panel := s.scenariosView(templates.Page{LoggedIn: loggedIn, CSRF: csrf}); panel != nil {
			if err := writeEvent(ctx, &buf, "scenarios", templates.ScenarioPanelView(*panel)); err != nil {
				return nil, err
			}
		}
		return buf.Bytes(), nil
	case topic == topicSLOs:
		if s.cfg.SLOs != nil {
			for _, slo := range s.sloViews(s.cfg.SLOs.Statuses(true), s.alerts()) {
				if err := writeEvent(ctx, &buf, "slo", templates.SLOView(slo)); err != nil {
					return nil, err
				}
			}
		}
		return buf.Bytes(), nil
	case topic == topicAlerts:
		if err := writeEvent(ctx, &buf, "alerts", templates.AlertsBody(s.alertsView())); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	name := strings.TrimPrefix(topic, topicPipeline)
	ps, err := s.cfg.Stats.Pipeline(name)
	if errors.Is(err, telemetry.ErrUnknownPipeline) {
		return goneEvent(name), nil
	}
	if err != nil {
		return nil, err
	}
	bi := s.breakerInfo(name)
	d := s.detailView(&ps, bi, false, "")
	if err := writeEvent(ctx, &buf, "header", templates.DetailHeader(d.Tile)); err != nil {
		return nil, err
	}
	if err := writeEvent(ctx, &buf, "charts", templates.ChartsView(d)); err != nil {
		return nil, err
	}
	if err := writeEvent(ctx, &buf, "calls", templates.CallsView(d.Calls)); err != nil {
		return nil, err
	}
	for _, slo := range d.SLOs {
		if err := writeEvent(ctx, &buf, "slo", templates.SLOView(slo)); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// writeEvent writes one SSE event named name whose data is comp's HTML,
// one data: line per line of it.
func writeEvent(ctx context.Context, buf *bytes.Buffer, name string, comp templ.Component) error {
	var html bytes.Buffer
	if err := comp.Render(ctx, &html); err != nil {
		return err
	}
	buf.WriteString("event: ")
	buf.WriteString(name)
	buf.WriteByte('\n')
	text := strings.ReplaceAll(strings.ReplaceAll(html.String(), "\r\n", "\n"), "\r", "\n")
	for line := range strings.SplitSeq(text, "\n") {
		buf.WriteString("data: ")
		buf.WriteString(line)
		buf.WriteByte('\n')
	}
	buf.WriteByte('\n')
	return nil
}

// events serves the live updates of a page as server-sent events (see
// fragments): GET /events for the overview, GET /events?pipeline=NAME for a
// pipeline's page, GET /events?page=slos and ?page=alerts for those pages.
// It sends the current fragments at once, then an update on each change,
// at most once per UpdateInterval.
func (s *Server) events(c echo.Context) error {
	var topic string
	switch name, page, fleet := c.QueryParam("pipeline"), c.QueryParam("page"), c.QueryParam("fleet"); {
	case s.cfg.Fleet != nil && strings.HasPrefix(fleet, fleetTopic):
		topic = fleet // the fleet page ("fleet:") or a service's ("fleet:NAME")
	case name != "" && page != "":
		return s.fail(c, Errorf(EINVALID, "give pipeline or page, not both"))
	case name != "":
		if _, err := s.cfg.Stats.Pipeline(name); err != nil {
			return s.fail(c, err)
		}
		topic = topicPipeline + name
	case page == topicSLOs || page == topicAlerts:
		topic = page
	case page != "":
		return s.fail(c, Errorf(ENOTFOUND, "page = %q: want slos or alerts", page))
	default:
		if session, _, ok := s.sessionOf(c); ok {
			topic = topicLoggedIn + s.auth.csrf(session)
		}
	}
	first, err := s.fragments(c.Request().Context(), topic)
	if err != nil {
		return s.fail(c, err)
	}
	cl, err := s.hub.add(topic, clientAddr(c.Request()))
	if err != nil {
		return s.fail(c, err)
	}
	defer s.hub.remove(cl)

	w := c.Response()
	hd := w.Header()
	hd.Set(echo.HeaderContentType, "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// A stream outlives the server's WriteTimeout: each write sets a
	// deadline of its own (net/http lifts the read deadline itself once
	// the request is read).
	send := func(b []byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send(append([]byte("retry: 2000\n\n"), first...)); err != nil {
		return nil // the client went away
	}
	ctx := c.Request().Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-cl.gone:
			return nil
		case msg := <-cl.ch:
			if err := send(msg); err != nil {
				return nil
			}
		}
	}
}
