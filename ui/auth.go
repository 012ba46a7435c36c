package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/fusebox-dev/fusebox/resilience"
	"github.com/fusebox-dev/fusebox/ui/templates"
)

const (
	sessionCookie = "fusebox_session"
	csrfHeader    = "X-CSRF-Token"
	csrfField     = "csrf"
	// apiActor names the actor of requests made with the Bearer token.
	apiActor = "api"
)

// authenticator checks the admin token and issues signed sessions.
//
// A session is "<expiry unix>|<id>|<actor>" in base64url, a dot, and its
// HMAC-SHA256 under a key derived from the admin token, so that changing
// the token ends every session. The id is random: logging out records it
// as revoked (Config.Sessions), so that a copy of the cookie stops working
// at once. A session's CSRF token is the HMAC of the session value under
// the same key, so it is valid for that session only.
type authenticator struct {
	// token is the SHA-256 digest of the admin token.
	token  []byte
	key    []byte
	ttl    time.Duration
	secure bool
}

func newAuthenticator(token string, ttl time.Duration, secure bool) authenticator {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("fusebox ui session key v2"))
	sum := sha256.Sum256([]byte(token))
	return authenticator{token: sum[:], key: m.Sum(nil), ttl: ttl, secure: secure}
}

// tokenOK compares a presented token with the admin token in constant
// time: it compares their SHA-256 digests, so that neither the content nor
// the length of the token shows in the time taken.
func (a authenticator) tokenOK(presented string) bool {
	sum := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(sum[:], a.token) == 1
}

func (a authenticator) mac(parts ...string) string {
	m := hmac.New(sha256.New, a.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// session is a verified session.
type session struct {
	value, id, actor string
	expires          time.Time
}

// issue returns a session value for actor valid until now + ttl.
func (a authenticator) issue(actor string, now time.Time) string {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	payload := base64.RawURLEncoding.EncodeToString([]byte(
		strconv.FormatInt(now.Add(a.ttl).Unix(), 10) + "|" + hex.EncodeToString(id[:]) + "|" + actor))
	return payload + "." + a.mac("session", payload)
}

// verify returns the session of a value that is authentic and not
// expired (revocation is checked by the caller).
func (a authenticator) verify(value string, now time.Time) (session, bool) {
	payload, sig, found := strings.Cut(value, ".")
	if !found || subtle.ConstantTimeCompare([]byte(sig), []byte(a.mac("session", payload))) != 1 {
		return session{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return session{}, false
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 || parts[1] == "" {
		return session{}, false
	}
	unix, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || now.Unix() >= unix {
		return session{}, false
	}
	return session{value: value, id: parts[1], actor: parts[2], expires: time.Unix(unix, 0)}, true
}

// csrf returns the CSRF token of a session value.
func (a authenticator) csrf(session string) string { return a.mac("csrf", session) }

func (a authenticator) csrfOK(session, presented string) bool {
	return presented != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(a.csrf(session))) == 1
}

func (a authenticator) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteStrictMode,
	}
}

// sessionOf returns the request's valid session value and its actor: an
// authentic, unexpired session that has not been logged out. When the
// revocation list cannot be read, the session is refused (and the error
// logged).
func (s *Server) sessionOf(c echo.Context) (value, actor string, ok bool) {
	ses, ok := s.currentSession(c)
	return ses.value, ses.actor, ok
}

func (s *Server) currentSession(c echo.Context) (session, bool) {
	ck, err := c.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	ses, ok := s.auth.verify(ck.Value, s.clock.Now())
	if !ok {
		return session{}, false
	}
	revoked, err := s.sessions.SessionRevoked(ses.id)
	if err != nil {
		s.log.Error("ui: reading the revoked sessions", "err", err)
		return session{}, false
	}
	if revoked {
		return session{}, false
	}
	return ses, true
}

// requireAdmin lets a request through with the Bearer token, or with a
// session cookie and its CSRF token (the csrf field of a form body or the
// X-CSRF-Token header; never the query string). Without credentials it answers 401; with a session
// but a missing or bad CSRF token, 403. It puts the actor in the request's
// context (resilience.WithActor).
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		var actor string
		if h := r.Header.Get(echo.HeaderAuthorization); h != "" {
			if err := s.tooManyFailures(c); err != nil {
				return s.fail(c, err)
			}
			tok, found := bearerToken(h)
			if !found || !s.auth.tokenOK(tok) {
				s.failed(c)
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="fusebox"`)
				return s.fail(c, Errorf(EUNAUTHORIZED, "the bearer token is not valid"))
			}
			actor = apiActor
		} else {
			session, who, ok := s.sessionOf(c)
			if !ok {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="fusebox"`)
				return s.fail(c, Errorf(EUNAUTHORIZED, "log in or send the admin token as a bearer token"))
			}
			presented := r.Header.Get(csrfHeader)
			if presented == "" && !strings.HasPrefix(r.URL.Path, "/api/") {
				presented = formValue(c, csrfField)
			}
			if !s.auth.csrfOK(session, presented) {
				return s.fail(c, Errorf(EFORBIDDEN, "missing or invalid CSRF token"))
			}
			actor = who
		}
		c.SetRequest(r.WithContext(resilience.WithActor(r.Context(), actor)))
		return next(c)
	}
}

// requireBearer lets a request through with the admin token as a Bearer
// token only: a session cookie is not enough, so that the routes it guards
// (machine-to-machine webhooks) need no CSRF token. Otherwise it answers
// 401. It puts apiActor in the request's context.
func (s *Server) requireBearer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if err := s.tooManyFailures(c); err != nil {
			return s.fail(c, err)
		}
		tok, found := bearerToken(r.Header.Get(echo.HeaderAuthorization))
		if !found || !s.auth.tokenOK(tok) {
			if found {
				s.failed(c)
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="fusebox"`)
			msg := "send the admin token as a bearer token"
			if found {
				msg = "the bearer token is not valid"
			}
			return s.fail(c, Errorf(EUNAUTHORIZED, "%s", msg))
		}
		c.SetRequest(r.WithContext(resilience.WithActor(r.Context(), apiActor)))
		return next(c)
	}
}

// repeatsOneChar reports whether s is one character repeated.
func repeatsOneChar(s string) bool {
	_, n := utf8.DecodeRuneInString(s)
	return strings.Trim(s, s[:n]) == ""
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme, whose name is case-insensitive (RFC 9110), without the spaces
// around it.
func bearerToken(h string) (string, bool) {
	scheme, tok, found := strings.Cut(strings.TrimSpace(h), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// formValue reads a field of the form body (parsed by limitForm), never
// of the query string: a secret there would leak through logs and the
// Referer header.
func formValue(c echo.Context, name string) string {
	return c.Request().PostFormValue(name)
}

// actorOf returns who acts in ctx (set by requireAdmin).
func actorOf(ctx context.Context) string { return resilience.ActorFrom(ctx) }

// loginForm renders the login page.
func (s *Server) loginForm(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	return s.renderLogin(c, http.StatusOK, next, "")
}

func (s *Server) renderLogin(c echo.Context, status int, next, msg string) error {
	p := s.page(c, "Log in", "")
	p.Next = next
	return s.render(c, status, layout(p, templates.LoginPage(templates.Login{Next: next, Error: msg})))
}

// login checks the token of the login form and sets the session cookie.
func (s *Server) login(c echo.Context) error {
	next := safeNext(c.FormValue("next"))
	if err := s.tooManyFailures(c); err != nil {
		_, msg := statusOf(err)
		return s.renderLogin(c, http.StatusTooManyRequests, next, msg+".")
	}
	if !s.auth.tokenOK(strings.TrimSpace(formValue(c, "token"))) {
		s.failed(c)
		return s.renderLogin(c, http.StatusUnauthorized, next, "That token is not the admin token.")
	}
	actor := cleanActor(c.FormValue("name"))
	c.SetCookie(s.auth.cookie(s.auth.issue(actor, s.clock.Now()), int(s.cfg.SessionTTL/time.Second)))
	return c.Redirect(http.StatusSeeOther, next)
}

// logout ends the session: its id is recorded as revoked, so that a copy
// of the cookie is refused too, and the cookie is cleared. A Bearer
// request has no session to end.
func (s *Server) logout(c echo.Context) error {
	if ses, ok := s.currentSession(c); ok {
		if err := s.sessions.RevokeSession(ses.id, ses.expires, s.clock.Now()); err != nil {
			return s.fail(c, err)
		}
	}
	c.SetCookie(s.auth.cookie("", -1))
	return c.Redirect(http.StatusSeeOther, "/")
}

// safeNext keeps a redirect target on this site: a path, never a scheme
// or another host.
func safeNext(next string) string {
	// Browsers drop tabs and newlines from URLs, so "/\t/evil" would
	// become "//evil": refuse every control character.
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsFunc(next, unicode.IsControl) {
		return "/"
	}
	return next
}

// cleanActor keeps the printable part of a name given at login, at most 64
// runes; "" becomes "admin".
func cleanActor(name string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(name) {
		if n == 64 {
			break
		}
		if unicode.IsPrint(r) && r != '|' {
			b.WriteRune(r)
			n++
		}
	}
	if b.Len() == 0 {
		return "admin"
	}
	return b.String()
}

// maxForm bounds the body of a form post.
const maxForm = 64 << 10

// limitForm reads a form post's body, at most maxForm bytes and never as
// multipart, before the handler (and requireAdmin's CSRF check) look at it.
func (s *Server) limitForm(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		r.Body = http.MaxBytesReader(c.Response(), r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return s.fail(c, Errorf(ETOOLARGE, "form body is larger than %d bytes", maxForm))
			}
			return s.fail(c, Errorf(EINVALID, "unreadable form: %v", err))
		}
		return next(c)
	}
}

// guard is the middleware of every route Register mounts: the security
// headers, and with Config.RequireLogin, a login for the dashboard's pages,
// its live stream and the GET API. Requests of other methods pass to their
// own check (requireAdmin, requireBearer); /login, /static/, /healthz and
// /readyz stay open. A page without a login redirects to the login form;
// the stream and the API answer 401.
func (s *Server) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return s.securityHeaders(func(c echo.Context) error {
		r := c.Request()
		if !s.cfg.RequireLogin || (r.Method != http.MethodGet && r.Method != http.MethodHead) || openPath(r.URL.Path) {
			return next(c)
		}
		if h := r.Header.Get(echo.HeaderAuthorization); h != "" {
			if err := s.tooManyFailures(c); err != nil {
				return s.fail(c, err)
			}
			if tok, found := bearerToken(h); found && s.auth.tokenOK(tok) {
				return next(c)
			}
			s.failed(c)
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="fusebox"`)
			return s.fail(c, Errorf(EUNAUTHORIZED, "the bearer token is not valid"))
		}
		if _, ok := s.currentSession(c); ok {
			return next(c)
		}
		if p := r.URL.Path; strings.HasPrefix(p, "/api/") || p == "/events" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="fusebox"`)
			return s.fail(c, Errorf(EUNAUTHORIZED, "log in or send the admin token as a bearer token"))
		}
		return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(r.URL.RequestURI()))
	})
}

// openPath reports whether path stays open with Config.RequireLogin.
func openPath(path string) bool {
	return path == "/login" || path == "/healthz" || path == "/readyz" || strings.HasPrefix(path, "/static/")
}
