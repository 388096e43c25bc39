package auth

import (
	"bytes"
	"crypto/subtle"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed login.html
var loginHTML string

var loginTemplate = template.Must(template.New("login").Parse(loginHTML))

// loginCSRFCookie protects the login form itself (login CSRF) with a
// double-submit token: the form's hidden field must match this cookie,
// which a cross-site page can neither read nor set.
const loginCSRFCookie = "vigil_login_csrf"

type loginPage struct {
	Logout    bool
	Action    string
	User      string
	Next      string
	CSRFToken string
	Error     string
}

// LoginHandler serves the login page: GET shows the form, POST checks it,
// starts a session and redirects (303) to the form's next page. Mount it on
// GET and POST of Options.LoginPath as a public route; wrong credentials
// answer 401 and a lockout 429 with Retry-After, each with the form again.
func (s *Store) LoginHandler(c echo.Context) error {
	req := c.Request()
	next := safeNext(c.QueryParam("next"))
	if req.Method == http.MethodPost {
		next = safeNext(c.FormValue("next"))
	}
	if s.opts.Disabled {
		return c.Redirect(http.StatusSeeOther, next)
	}
	if req.Method != http.MethodPost {
		s.identify(c)
		if p := PrincipalFrom(c); p != nil && p.Method == MethodSession {
			return c.Redirect(http.StatusSeeOther, next)
		}
		return s.renderLogin(c, http.StatusOK, loginPage{Next: next})
	}

	name := c.FormValue("username")
	ck, err := req.Cookie(loginCSRFCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(c.FormValue(CSRFField))) != 1 {
		return s.renderLogin(c, http.StatusForbidden, loginPage{User: name, Next: next,
			Error: "The login form expired or was not sent from this site. Please try again."})
	}
	sid, _, err := s.Login(name, c.FormValue("password"), clientIP(c))
	var le *LockedError
	switch {
	case errors.As(err, &le):
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(le.RetryAfter.Seconds()))))
		return s.renderLogin(c, http.StatusTooManyRequests, loginPage{User: name, Next: next,
			Error: fmt.Sprintf("Too many failed logins. Try again in %s.", le.RetryAfter.Round(time.Second))})
	case errors.Is(err, ErrInvalidCredentials):
		return s.renderLogin(c, http.StatusUnauthorized, loginPage{User: name, Next: next,
			Error: "Invalid user name or password."})
	case err != nil:
		return s.renderLogin(c, http.StatusInternalServerError, loginPage{User: name, Next: next,
			Error: "Login failed because of a server error; the server log has details."})
	}
	s.setSessionCookie(c, sid)
	c.SetCookie(&http.Cookie{Name: loginCSRFCookie, Value: "", Path: s.opts.LoginPath, MaxAge: -1,
		Secure: s.secure(c), HttpOnly: true, SameSite: http.SameSiteStrictMode})
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.Redirect(http.StatusSeeOther, next)
}

// LogoutHandler ends the session: POST (with the session's CSRF token)
// logs out and redirects to the login page; GET shows a one-button form
// that posts here. Mount it as a public route.
func (s *Store) LogoutHandler(c echo.Context) error {
	req := c.Request()
	s.identify(c)
	p := PrincipalFrom(c)
	if req.Method != http.MethodPost {
		if p == nil || p.Method != MethodSession {
			return c.Redirect(http.StatusSeeOther, s.opts.LoginPath)
		}
		return s.renderPage(c, http.StatusOK, loginPage{Logout: true, Action: req.URL.Path, User: p.User, CSRFToken: CSRFTokenFrom(c)})
	}
	if failed, _ := c.Get(keyCSRFFailed).(bool); failed {
		return s.reject(c, forbidden(errCSRF))
	}
	if ck, err := req.Cookie(SessionCookie); err == nil && p != nil && p.Method == MethodSession {
		if err := s.Logout(ck.Value); err != nil {
			return s.reject(c, internal(err))
		}
	}
	s.clearSessionCookie(c)
	return c.Redirect(http.StatusSeeOther, s.opts.LoginPath)
}

// renderLogin shows the login form with a fresh double-submit token.
func (s *Store) renderLogin(c echo.Context, status int, page loginPage) error {
	page.CSRFToken = randomURLSafe(43)
	page.Action = s.opts.LoginPath
	c.SetCookie(&http.Cookie{
		Name: loginCSRFCookie, Value: page.CSRFToken, Path: s.opts.LoginPath,
		MaxAge: int(time.Hour / time.Second), Secure: s.secure(c), HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return s.renderPage(c, status, page)
}

func (s *Store) renderPage(c echo.Context, status int, page loginPage) error {
	var buf bytes.Buffer
	if err := loginTemplate.Execute(&buf, page); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set(echo.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set(echo.HeaderXFrameOptions, "DENY")
	return c.HTMLBlob(status, buf.Bytes())
}

// safeNext returns next if it is a path on this site, else "/", so the
// login page cannot be used to redirect to another site.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}
