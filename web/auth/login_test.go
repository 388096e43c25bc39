package auth

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var csrfFieldRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// loginForm fetches the login page and posts it, as a browser does.
func loginForm(t *testing.T, srv *httptest.Server, user, password, next string) response {
	t.Helper()
	page := do(t, srv, request{method: http.MethodGet, path: "/login?next=" + url.QueryEscape(next), header: map[string]string{"Accept": "text/html"}})
	m := csrfFieldRE.FindStringSubmatch(page.body)
	ck := page.cookie(loginCSRFCookie)
	if page.status != 200 || m == nil || ck == nil {
		t.Fatalf("login page: %d, csrf field %v, cookie %v", page.status, m, ck)
	}
	form := url.Values{"username": {user}, "password": {password}, "csrf_token": {html.UnescapeString(m[1])}, "next": {next}}
	return do(t, srv, request{method: http.MethodPost, path: "/login", body: form.Encode(),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, cookies: []*http.Cookie{ck}})
}

func TestLoginPage(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "alice", "alice-password", RoleViewer)
	srv := newTestServer(t, env, false)

	page := do(t, srv, request{method: http.MethodGet, path: "/login?next=%2Fd%2Fabc%3Fvar-zone%3Dnorth"})
	if page.status != 200 || !strings.Contains(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /login: %d %s", page.status, page.header.Get("Content-Type"))
	}
	for _, want := range []string{`<html lang="en">`, `<label for="username">`, `<label for="password">`,
		`autocomplete="current-password"`, `action="/login"`, `name="next" value="/d/abc?var-zone=north"`} {
		if !strings.Contains(html.UnescapeString(page.body), want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	ck := page.cookie(loginCSRFCookie)
	m := csrfFieldRE.FindStringSubmatch(page.body)
	if ck == nil || m == nil || ck.Value != m[1] || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login CSRF cookie %+v, field %v", ck, m)
	}

	post := func(form url.Values, cookies ...*http.Cookie) response {
		return do(t, srv, request{method: http.MethodPost, path: "/login", body: form.Encode(),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, cookies: cookies})
	}
	good := url.Values{"username": {"alice"}, "password": {"alice-password"}, "csrf_token": {ck.Value}, "next": {"/d/abc"}}

	t.Run("missing login CSRF cookie", func(t *testing.T) {
		if got := post(good); got.status != http.StatusForbidden || got.cookie(SessionCookie) != nil {
			t.Errorf("got %d, session cookie %v", got.status, got.cookie(SessionCookie))
		}
	})
	t.Run("wrong login CSRF token", func(t *testing.T) {
		bad := url.Values{"username": {"alice"}, "password": {"alice-password"}, "csrf_token": {"forged"}}
		if got := post(bad, ck); got.status != http.StatusForbidden || !strings.Contains(got.body, "expired") {
			t.Errorf("got %d %s", got.status, got.body)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := url.Values{"username": {"alice"}, "password": {"nope-nope"}, "csrf_token": {ck.Value}}
		got := post(bad, ck)
		if got.status != http.StatusUnauthorized || !strings.Contains(got.body, `role="alert"`) ||
			!strings.Contains(got.body, "Invalid user name or password.") || !strings.Contains(got.body, `value="alice"`) {
			t.Errorf("got %d %s", got.status, got.body)
		}
	})
	t.Run("success redirects to next", func(t *testing.T) {
		got := post(good, ck)
		if got.status != http.StatusSeeOther || got.header.Get("Location") != "/d/abc" {
			t.Fatalf("got %d Location %q", got.status, got.header.Get("Location"))
		}
		if got.cookie(SessionCookie) == nil {
			t.Fatal("no session cookie")
		}
	})
	t.Run("open redirect refused", func(t *testing.T) {
		form := url.Values{"username": {"alice"}, "password": {"alice-password"}, "csrf_token": {ck.Value}, "next": {"//evil.example/x"}}
		if got := post(form, ck); got.header.Get("Location") != "/" {
			t.Errorf("Location = %q, want /", got.header.Get("Location"))
		}
	})
	if got := env.metricValue(t, `vigil_auth_attempts_total{method="form",result="success"}`); got != 2 {
		t.Errorf("form successes = %v, want 2", got)
	}
	if got := env.metricValue(t, `vigil_auth_attempts_total{method="form",result="failure"}`); got != 1 {
		t.Errorf("form failures = %v, want 1", got)
	}
}

func TestSessionCookieFlags(t *testing.T) {
	tests := []struct {
		name       string
		tls        bool
		secureOpt  bool
		wantSecure bool
	}{
		{"plain HTTP", false, false, false},
		{"plain HTTP behind a TLS proxy", false, true, true},
		{"TLS", true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestStore(t, Options{SecureCookies: tt.secureOpt})
			env.mustAddUser(t, "alice", "alice-password", RoleViewer)
			srv := newTestServer(t, env, tt.tls)
			got := loginForm(t, srv, "alice", "alice-password", "/")
			ck := got.cookie(SessionCookie)
			if ck == nil {
				t.Fatalf("no session cookie: %d %s", got.status, got.body)
			}
			if ck.Secure != tt.wantSecure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" ||
				ck.MaxAge != int((7*24*time.Hour)/time.Second) || len(ck.Value) < 40 {
				t.Errorf("cookie = %+v (raw %q); want Secure=%v HttpOnly SameSite=Lax Path=/ Max-Age=7d", ck, ck.Raw, tt.wantSecure)
			}
		})
	}
}

func TestSessionAndCSRF(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "root", "root-password", RoleAdmin)
	srv := newTestServer(t, env, false)
	secret, _ := env.mustToken(t, "root", TokenOptions{})

	login := loginForm(t, srv, "root", "root-password", "/")
	session := login.cookie(SessionCookie)
	cookies := []*http.Cookie{session}

	got := do(t, srv, request{method: http.MethodGet, path: "/api/v1/query", cookies: cookies})
	if got.status != 200 || got.body != "root admin session" {
		t.Fatalf("GET with session: %d %q", got.status, got.body)
	}
	csrf := do(t, srv, request{method: http.MethodGet, path: "/ui/csrf", cookies: cookies}).body
	if len(csrf) < 40 {
		t.Fatalf("CSRF token %q", csrf)
	}

	form := "csrf_token=" + url.QueryEscape(csrf)
	formHeader := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	tests := []struct {
		name   string
		req    request
		status int
	}{
		{"no CSRF token", request{cookies: cookies}, 403},
		{"wrong CSRF token", request{cookies: cookies, header: map[string]string{CSRFHeader: "wrong"}}, 403},
		{"another session's token", request{cookies: cookies, header: map[string]string{CSRFHeader: secretOtherCSRF(t, env)}}, 403},
		{"CSRF header", request{cookies: cookies, header: map[string]string{CSRFHeader: csrf}}, 200},
		{"CSRF form field", request{cookies: cookies, header: formHeader, body: form}, 200},
		{"form field in a JSON body is not read", request{cookies: cookies, header: map[string]string{"Content-Type": "application/json"}, body: form}, 403},
		{"cross-site with the right token", request{cookies: cookies, header: map[string]string{CSRFHeader: csrf, "Sec-Fetch-Site": "cross-site"}}, 403},
		{"bearer is exempt", request{header: bearer(secret)}, 200},
		{"bearer wins over the cookie", request{cookies: cookies, header: bearer(secret)}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/-/reload", "/api/v2/silences"} {
				tt.req.method, tt.req.path = http.MethodPost, path
				got := do(t, srv, tt.req)
				if got.status != tt.status {
					t.Errorf("POST %s: %d %s, want %d", path, got.status, got.body, tt.status)
				}
				if tt.status == 403 && !strings.Contains(got.body, "CSRF") && !strings.Contains(got.body, "cross-origin") {
					t.Errorf("403 body %q does not explain", got.body)
				}
			}
		})
	}
	for _, m := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete} {
		got := do(t, srv, request{method: m, path: "/api/v1/admin/users/root", cookies: cookies})
		if got.status != http.StatusForbidden {
			t.Errorf("%s by session without CSRF token: %d, want 403", m, got.status)
		}
	}

	// Logged in: the login page sends the browser on.
	if got := do(t, srv, request{method: http.MethodGet, path: "/login?next=/alerts", cookies: cookies}); got.status != http.StatusSeeOther || got.header.Get("Location") != "/alerts" {
		t.Errorf("GET /login while logged in: %d %q", got.status, got.header.Get("Location"))
	}

	// Logout: GET shows a form, POST needs the token.
	page := do(t, srv, request{method: http.MethodGet, path: "/logout", cookies: cookies})
	if page.status != 200 || !strings.Contains(page.body, `value="`+csrf+`"`) {
		t.Fatalf("GET /logout: %d %s", page.status, page.body)
	}
	if got := do(t, srv, request{method: http.MethodPost, path: "/logout", cookies: cookies}); got.status != http.StatusForbidden {
		t.Errorf("POST /logout without token: %d, want 403", got.status)
	}
	out := do(t, srv, request{method: http.MethodPost, path: "/logout", cookies: cookies, header: formHeader, body: form})
	if out.status != http.StatusSeeOther || out.header.Get("Location") != "/login" {
		t.Fatalf("POST /logout: %d %q", out.status, out.header.Get("Location"))
	}
	if ck := out.cookie(SessionCookie); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("logout did not clear the cookie: %+v", ck)
	}
	if got := do(t, srv, request{method: http.MethodGet, path: "/api/v1/query", cookies: cookies}); got.status != http.StatusUnauthorized {
		t.Errorf("old session after logout: %d, want 401", got.status)
	}
	if got := do(t, srv, request{method: http.MethodGet, path: "/", cookies: cookies, header: map[string]string{"Accept": "text/html"}}); got.status != http.StatusFound {
		t.Errorf("browser with a dead session: %d, want 302 to login", got.status)
	}
}

// secretOtherCSRF logs in a second session and returns its CSRF token.
func secretOtherCSRF(t *testing.T, env *testEnv) string {
	t.Helper()
	_, csrf, err := env.store.Login("root", "root-password", "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	return csrf
}

func TestSessionExpiry(t *testing.T) {
	env := newTestStore(t, Options{SessionIdleTimeout: time.Hour, SessionMaxAge: 3 * time.Hour})
	env.mustAddUser(t, "alice", "alice-password", RoleViewer)
	s := env.store

	t.Run("idle", func(t *testing.T) {
		sid, _, err := s.Login("alice", "alice-password", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		env.clock.Advance(59 * time.Minute)
		if _, _, err := s.session(sid); err != nil {
			t.Fatalf("session within the idle timeout: %v", err)
		}
		env.clock.Advance(59 * time.Minute) // used 59 minutes ago: still alive
		if _, _, err := s.session(sid); err != nil {
			t.Fatalf("session used within the idle timeout: %v", err)
		}
		env.clock.Advance(time.Hour)
		if _, _, err := s.session(sid); err == nil {
			t.Fatal("idle session still valid")
		}
	})
	t.Run("absolute", func(t *testing.T) {
		sid, _, err := s.Login("alice", "alice-password", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			env.clock.Advance(35 * time.Minute)
			if _, _, err := s.session(sid); err != nil {
				t.Fatalf("active session ended early: %v", err)
			}
		}
		env.clock.Advance(30 * time.Minute) // 3h05m after login
		if _, _, err := s.session(sid); err == nil {
			t.Fatal("session outlived SessionMaxAge")
		}
	})
	t.Run("expired sessions are swept at login", func(t *testing.T) {
		for range 3 {
			if _, _, err := s.Login("alice", "alice-password", "127.0.0.1"); err != nil {
				t.Fatal(err)
			}
		}
		env.clock.Advance(4 * time.Hour)
		if _, _, err := s.Login("alice", "alice-password", "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if n := countSessions(t, env); n != 1 {
			t.Errorf("%d sessions stored, want 1", n)
		}
	})
}

func TestSafeNext(t *testing.T) {
	tests := map[string]string{
		"":                     "/",
		"/":                    "/",
		"/d/abc?from=now-1h":   "/d/abc?from=now-1h",
		"/alerts#x":            "/alerts#x",
		"//evil.example":       "/",
		"/\\evil.example":      "/",
		"https://evil.example": "/",
		"javascript:alert(1)":  "/",
		"evil":                 "/",
		"/a\r\nSet-Cookie: x":  "/",
	}
	for in, want := range tests {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
