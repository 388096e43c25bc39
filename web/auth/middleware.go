package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Principal is who a request acts as, put into the echo context by the
// middleware.
type Principal struct {
	User string
	// Role is the effective role: the user's role, narrowed by the token's.
	Role   Role
	Method Method
	// TokenID is set when an API token authenticated the request.
	TokenID string
}

// AnonymousUser is the principal's user name when authentication is off.
const AnonymousUser = "anonymous"

// CSRFHeader carries the session's CSRF token on state-changing requests
// authenticated by the session cookie; forms may send CSRFField instead.
const (
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf_token"
)

// Context keys. Values live as long as the request.
const (
	keyIdentified = "vigil.auth.identified"
	keyPrincipal  = "vigil.auth.principal"
	keyCSRF       = "vigil.auth.csrf"
	keyRejected   = "vigil.auth.rejected"
	keyCSRFFailed = "vigil.auth.csrf_failed"
)

// PrincipalFrom returns the request's principal, or nil for an anonymous
// request (or one the middleware has not seen).
func PrincipalFrom(c echo.Context) *Principal {
	p, _ := c.Get(keyPrincipal).(*Principal)
	return p
}

// CSRFTokenFrom returns the CSRF token of the request's session, for pages
// to embed; empty unless the request was authenticated by a session.
func CSRFTokenFrom(c echo.Context) string {
	t, _ := c.Get(keyCSRF).(string)
	return t
}

// Identify authenticates the request and puts its *Principal into the
// context; it rejects nothing but bad explicit credentials (an
// Authorization header that is wrong: 401; a locked-out login: 429; basic
// auth on a cross-origin state-changing browser request: 403). A missing,
// expired or invalid session cookie leaves the request anonymous, and so
// does a cookie on a state-changing request without the session's CSRF
// token: a forged cross-site request is simply not authenticated.
// Authorisation is left to RequireRole or Middleware.
func (s *Store) Identify() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if d := s.identify(c); d != nil {
				return s.reject(c, d)
			}
			return next(c)
		}
	}
}

// RequireRole lets requests through whose principal's role allows role
// (RoleAnyUser: any authenticated principal). It authenticates the request
// first unless Identify already has. Anonymous requests get 401 (API
// clients) or a redirect to the login page (browsers); other roles get 403.
func (s *Store) RequireRole(role Role) echo.MiddlewareFunc {
	return s.Middleware(func(echo.Context) Role { return role })
}

// Policy decides the role a request requires, usually from c.Path() (the
// route pattern) and the method. Returning "" means no decision and is
// treated as RoleAdmin, so a route nobody thought about stays closed.
type Policy func(c echo.Context) Role

// Middleware authenticates and authorises in one step according to
// required, for use with echo's Use (after routing, so c.Path() is the
// matched route). For RolePublic routes credentials are still read, so
// handlers see the principal, but failures never block the request.
func (s *Store) Middleware(required Policy) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			role := required(c)
			if role == "" {
				role = RoleAdmin
			}
			d := s.identify(c)
			if role == RolePublic {
				return next(c)
			}
			if d != nil {
				return s.reject(c, d)
			}
			if d := s.authorize(c, role); d != nil {
				return s.reject(c, d)
			}
			return next(c)
		}
	}
}

// denial is why a request is refused.
type denial struct {
	status     int
	errorType  string
	msg        string
	retryAfter time.Duration
	// challenge adds WWW-Authenticate to a 401.
	challenge bool
}

func unauthorized(msg string) *denial {
	return &denial{status: http.StatusUnauthorized, errorType: "unauthorized", msg: msg, challenge: true}
}

func forbidden(msg string) *denial {
	return &denial{status: http.StatusForbidden, errorType: "forbidden", msg: msg}
}

func internal(err error) *denial {
	return &denial{status: http.StatusInternalServerError, errorType: "internal", msg: "authentication failed: " + err.Error()}
}

func locked(e *LockedError) *denial {
	return &denial{status: http.StatusTooManyRequests, errorType: "too_many_requests", msg: e.Error(), retryAfter: e.RetryAfter}
}

const errCSRF = "missing or invalid CSRF token: send the session's token in the X-CSRF-Token header (or the csrf_token form field); reload the page if it expired"

// identify sets the principal once per request. The *denial it returns
// (and returns again on later calls) is for bad explicit credentials only.
func (s *Store) identify(c echo.Context) *denial {
	if v := c.Get(keyIdentified); v != nil {
		d, _ := c.Get(keyRejected).(*denial)
		return d
	}
	c.Set(keyIdentified, true)
	if s.opts.Disabled {
		c.Set(keyPrincipal, &Principal{User: AnonymousUser, Role: RoleAdmin, Method: MethodNone})
		return nil
	}
	req := c.Request()
	if h := req.Header.Get(echo.HeaderAuthorization); h != "" {
		p, d := s.fromAuthorization(c, h)
		if d != nil {
			c.Set(keyRejected, d)
			return d
		}
		c.Set(keyPrincipal, p)
		return nil
	}
	ck, err := req.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	p, csrf, err := s.session(ck.Value)
	if err != nil {
		s.metrics.attempt(MethodSession, resultFailure)
		if errors.Is(err, ErrSessionNotFound) {
			s.clearSessionCookie(c)
			return nil
		}
		d := internal(err)
		c.Set(keyRejected, d)
		return d
	}
	if unsafeMethod(req.Method) && (s.origins.Check(req) != nil || !csrfMatches(req, csrf)) {
		s.metrics.attempt(MethodSession, resultFailure)
		c.Set(keyCSRFFailed, true)
		return nil
	}
	p.Method = MethodSession
	s.metrics.attempt(MethodSession, resultSuccess)
	c.Set(keyPrincipal, p)
	c.Set(keyCSRF, csrf)
	return nil
}

// fromAuthorization authenticates an Authorization header.
func (s *Store) fromAuthorization(c echo.Context, header string) (*Principal, *denial) {
	req := c.Request()
	scheme, rest, _ := strings.Cut(header, " ")
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		// "Token" is InfluxDB 2's scheme, which its client libraries and
		// Telegraf send to /api/v2/write.
		p, err := s.authenticateToken(strings.TrimSpace(rest))
		if err != nil {
			s.metrics.attempt(MethodBearer, resultFailure)
			if errors.Is(err, errBadToken) {
				return nil, unauthorized(err.Error())
			}
			return nil, internal(err)
		}
		p.Method = MethodBearer
		s.metrics.attempt(MethodBearer, resultSuccess)
		return p, nil
	case "basic":
		name, password, ok := req.BasicAuth()
		if !ok {
			s.metrics.attempt(MethodBasic, resultFailure)
			return nil, unauthorized("malformed basic auth header")
		}
		var p *Principal
		if strings.HasPrefix(password, TokenPrefix) {
			// Any user name: Grafana and remote_write need one.
			var err error
			p, err = s.authenticateToken(password)
			if err != nil {
				s.metrics.attempt(MethodBasic, resultFailure)
				if errors.Is(err, errBadToken) {
					return nil, unauthorized(err.Error())
				}
				return nil, internal(err)
			}
			s.metrics.attempt(MethodBasic, resultSuccess)
		} else {
			u, err := s.passwordLogin(MethodBasic, name, password, clientIP(c))
			var le *LockedError
			switch {
			case errors.As(err, &le):
				return nil, locked(le)
			case errors.Is(err, ErrInvalidCredentials):
				return nil, unauthorized(err.Error())
			case err != nil:
				return nil, internal(err)
			}
			p = &Principal{User: u.Name, Role: u.Role}
		}
		p.Method = MethodBasic
		// Browsers replay basic credentials they were once asked for, so
		// a cross-site form could use them; refuse cross-origin writes.
		if err := s.origins.Check(req); err != nil {
			return nil, forbidden("cross-origin request refused: " + err.Error())
		}
		return p, nil
	}
	s.metrics.attempt(MethodBasic, resultFailure)
	return nil, unauthorized(fmt.Sprintf("unsupported authorization scheme %q; use Bearer <token> (or Token <token>) or Basic", scheme))
}

// authorize checks the identified principal against role.
func (s *Store) authorize(c echo.Context, role Role) *denial {
	if role == RolePublic {
		return nil
	}
	p := PrincipalFrom(c)
	if p == nil {
		if failed, _ := c.Get(keyCSRFFailed).(bool); failed {
			return forbidden(errCSRF)
		}
		return unauthorized("authentication required: log in, or send an API token as Bearer or basic auth")
	}
	if !p.Role.Allows(role) {
		return forbidden(fmt.Sprintf("this endpoint requires role %s; %s %q has role %s", role, principalKind(p), p.User, p.Role))
	}
	return nil
}

func principalKind(p *Principal) string {
	if p.TokenID != "" {
		return "the token of user"
	}
	return "user"
}

// reject writes the response for d: JSON in Prometheus' error envelope for
// paths under /api/, a redirect to the login page for browsers that are
// not logged in, plain text otherwise.
func (s *Store) reject(c echo.Context, d *denial) error {
	req := c.Request()
	h := c.Response().Header()
	if d.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(d.retryAfter.Seconds()))))
	}
	api := strings.HasPrefix(req.URL.Path, "/api/")
	anonymous := PrincipalFrom(c) == nil && req.Header.Get(echo.HeaderAuthorization) == ""
	if d.status == http.StatusUnauthorized && anonymous && !api && isBrowserNavigation(req) {
		return c.Redirect(http.StatusFound, s.loginURL(req.URL.RequestURI()))
	}
	if d.challenge {
		h.Set(echo.HeaderWWWAuthenticate, `Basic realm="Vigil", charset="UTF-8"`)
	}
	h.Set(echo.HeaderCacheControl, "no-store")
	if api {
		return c.JSON(d.status, errorBody{Status: "error", ErrorType: d.errorType, Error: d.msg})
	}
	return c.String(d.status, d.msg+"\n")
}

// errorBody is Prometheus' error envelope.
type errorBody struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

func (s *Store) loginURL(next string) string {
	return s.opts.LoginPath + "?next=" + url.QueryEscape(next)
}

func isBrowserNavigation(req *http.Request) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	return strings.Contains(req.Header.Get(echo.HeaderAccept), "text/html")
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// csrfMatches reports whether the request carries want in the CSRF header
// or, for URL-encoded forms, the csrf_token field. Multipart forms must use
// the header: parsing them would spool files before authentication.
func csrfMatches(req *http.Request, want string) bool {
	got := req.Header.Get(CSRFHeader)
	if got == "" {
		mt, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
		if mt == echo.MIMEApplicationForm {
			got = req.PostFormValue(CSRFField)
		}
	}
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// clientIP is the address failed logins are counted against. Only the
// echo IPExtractor the server configures is trusted with forwarding
// headers; without one, the peer address is used, so a client cannot
// escape the per-address limit by inventing X-Forwarded-For.
func clientIP(c echo.Context) string {
	if c.Echo() != nil && c.Echo().IPExtractor != nil {
		return c.RealIP()
	}
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}

// Cookies.

func (s *Store) secure(c echo.Context) bool { return c.IsTLS() || s.opts.SecureCookies }

func (s *Store) setSessionCookie(c echo.Context, id string) {
	c.SetCookie(&http.Cookie{
		Name: SessionCookie, Value: id, Path: "/",
		MaxAge:   int(s.opts.SessionMaxAge / time.Second),
		Secure:   s.secure(c),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Store) clearSessionCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: s.secure(c), HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}
