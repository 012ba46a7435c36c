package gateway

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// staleCache keeps the last good response of each GET URL of a route in
// the library's StaleCache, bounded in entries and in bytes per entry.
type staleCache struct {
	cache   *resilience.StaleCache[string, *storedResponse]
	maxBody int64
}

// storedResponse is a whole response kept for a stale answer.
type storedResponse struct {
	status int
	header http.Header
	body   []byte
}

func newStaleCache(cfg StaleConfig) (*staleCache, error) {
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = 256
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	c, err := resilience.NewStaleCache[string, *storedResponse](resilience.StaleCacheConfig{MaxAge: cfg.MaxAge, MaxEntries: cfg.MaxEntries})
	if err != nil {
		return nil, err
	}
	return &staleCache{cache: c, maxBody: cfg.MaxBodyBytes}, nil
}

// key is what a response is kept under: the upstream URL, and the
// encodings the client accepts, since the body may be compressed for them.
func key(req *http.Request) string {
	return req.URL.String() + "\x00" + req.Header.Get("Accept-Encoding")
}

// remember wraps resp's body so that, once it has been read whole and is
// no larger than the limit, the response is kept. The client still
// receives the body as it streams.
func (s *staleCache) remember(req *http.Request, resp *http.Response, clock resilience.Clock) {
	if resp.Body == nil || resp.Body == http.NoBody || resp.ContentLength > s.maxBody {
		return
	}
	resp.Body = &recordingBody{ReadCloser: resp.Body, s: s, key: key(req), clock: clock, status: resp.StatusCode, header: resp.Header.Clone()}
}

// answer returns a response made of the one kept for req's URL, or nil.
func (s *staleCache) answer(req *http.Request, now time.Time) *http.Response {
	sr, age, ok := s.cache.Get(key(req), now)
	if !ok {
		return nil
	}
	h := sr.header.Clone()
	h.Set(fallbackHeader, "stale")
	h.Set("Age", strconv.Itoa(int(age/time.Second)))
	h.Del("Content-Length")
	return fallbackResponse(req, sr.status, h, sr.body)
}

// recordingBody copies what is read of a body, up to the cache's limit,
// and keeps the response when the body ends whole.
type recordingBody struct {
	io.ReadCloser
	s      *staleCache
	key    string
	clock  resilience.Clock
	status int
	header http.Header
	buf    bytes.Buffer
	over   bool
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if !b.over {
		if int64(b.buf.Len()+n) > b.s.maxBody {
			b.over = true
			b.buf = bytes.Buffer{}
		} else {
			b.buf.Write(p[:n])
		}
	}
	if err == io.EOF && !b.over {
		b.over = true // keep it once
		b.s.cache.Put(b.key, &storedResponse{status: b.status, header: b.header, body: bytes.Clone(b.buf.Bytes())}, b.clock.Now())
		b.buf = bytes.Buffer{}
	}
	return n, err
}
