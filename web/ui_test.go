package web

import (
	"encoding/json"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-monitoring/vigil/web/auth"
	"github.com/vigil-monitoring/vigil/web/ui"
)

var (
	metaCSRFRE  = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)
	loginFormRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	bundleRE    = regexp.MustCompile(`/assets/(main-[A-Z0-9]+\.js)`)
)

// browser is an HTTP client with a cookie jar that sends what a browser
// sends on navigation, and does not follow redirects by itself.
type browser struct {
	t   *testing.T
	srv *httptest.Server
	c   *http.Client
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, srv: srv, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) do(method, path string, body io.Reader, header map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("Origin", b.srv.URL)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

// login fills in the login form as a browser does.
func (b *browser) login(user, password, next string) *http.Response {
	b.t.Helper()
	_, page := b.do(http.MethodGet, "/login?next="+url.QueryEscape(next), nil, nil)
	m := loginFormRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("the login page has no CSRF field:\n%s", page)
	}
	form := url.Values{"username": {user}, "password": {password}, "csrf_token": {html.UnescapeString(m[1])}, "next": {next}}
	resp, _ := b.do(http.MethodPost, "/login", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	return resp
}

// TestUIPagesNeedALogin: a browser without a session is sent to the login
// page and, once logged in, back to the page it asked for, which carries
// the session's CSRF token; with that token the UI can post, without it
// not.
func TestUIPagesNeedALogin(t *testing.T) {
	a := newTestAuth(t, false)
	if err := a.AddUser("alice", "alice-password", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newTestServer(t, openStorage(t), Options{}, Deps{Auth: a}))
	defer srv.Close()
	b := newBrowser(t, srv)

	for _, p := range []string{"/", "/d/vigil-system-overview?from=now-6h&to=now&var-zone=harbor", "/d/abc/some-slug",
		"/dashboard/import", "/explore", "/alerts", "/silences", "/targets", "/rules", "/status"} {
		resp, _ := b.do(http.MethodGet, p, nil, nil)
		if want := "/login?next=" + url.QueryEscape(p); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			t.Errorf("GET %s without a session = %d to %q, want 302 to %q", p, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}

	next := "/d/vigil-business-metrics?from=now-24h&to=now"
	resp := b.login("alice", "alice-password", next)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
		t.Fatalf("login = %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), next)
	}
	resp, page := b.do(http.MethodGet, next, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s after login = %d %s", next, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("index.html %s = %q, want %q", h, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("index.html CSP = %q", csp)
	}
	m := metaCSRFRE.FindStringSubmatch(page)
	if m == nil || m[1] == "" {
		t.Fatalf("index.html carries no CSRF token:\n%s", page)
	}
	token := html.UnescapeString(m[1])

	// Who am I.
	resp, body := b.do(http.MethodGet, "/api/v1/session", nil, map[string]string{"Accept": "application/json"})
	var who struct {
		Status string
		Data   struct {
			User, Role, Method string
			AuthEnabled        bool
		}
	}
	if err := json.Unmarshal([]byte(body), &who); err != nil || resp.StatusCode != 200 ||
		who.Data.User != "alice" || who.Data.Role != "viewer" || who.Data.Method != "session" || !who.Data.AuthEnabled {
		t.Errorf("GET /api/v1/session = %d %s", resp.StatusCode, body)
	}

	// The front end posts queries with the token in X-CSRF-Token.
	form := strings.NewReader(url.Values{"query": {"1+1"}}.Encode())
	resp, body = b.do(http.MethodPost, "/api/v1/query", form, map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": token, "Accept": "application/json"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"result":[`) {
		t.Errorf("POST /api/v1/query with the page's CSRF token = %d %s", resp.StatusCode, body)
	}
	form = strings.NewReader(url.Values{"query": {"1+1"}}.Encode())
	resp, body = b.do(http.MethodPost, "/api/v1/query", form, map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("POST /api/v1/query without the CSRF token = %d %s, want 403", resp.StatusCode, body)
	}

	// The logout button of the nav bar posts the token as a form field.
	resp, _ = b.do(http.MethodPost, "/logout", strings.NewReader(url.Values{"csrf_token": {token}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("logout = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.do(http.MethodGet, "/explore", nil, nil)
	if resp.StatusCode != http.StatusFound {
		t.Errorf("GET /explore after logout = %d, want a redirect to the login page", resp.StatusCode)
	}
}

// TestUIAssets: the bundle index.html names is served with a long cache
// and its content type; unknown assets are 404.
func TestUIAssets(t *testing.T) {
	srv := httptest.NewServer(newTestServer(t, openStorage(t), Options{}, Deps{}))
	defer srv.Close()
	b := newBrowser(t, srv)
	resp, page := b.do(http.MethodGet, "/", nil, nil)
	m := bundleRE.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("GET / = %d, no bundle in:\n%s", resp.StatusCode, page)
	}
	want, err := fs.ReadFile(ui.Assets(), m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp, body := b.do(http.MethodGet, "/assets/"+m[1], nil, nil)
	if resp.StatusCode != 200 || body != string(want) {
		t.Fatalf("GET /assets/%s = %d, %d bytes, want %d", m[1], resp.StatusCode, len(body), len(want))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("the bundle's Content-Type is %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("the bundle's Cache-Control is %q", cc)
	}
	for _, p := range []string{"/assets/nosuch.js", "/assets/", "/assets/../ui.go"} {
		if resp, _ := b.do(http.MethodGet, p, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
	resp, body = b.do(http.MethodGet, "/api/v1/session", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"method":"none"`) || !strings.Contains(body, `"authEnabled":false`) {
		t.Errorf("GET /api/v1/session without authentication = %d %s", resp.StatusCode, body)
	}
}
