package auth

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"
	"go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// testClock is an injectable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testEnv struct {
	store   *Store
	db      *bbolt.DB
	dbPath  string
	clock   *testClock
	metrics *metrics.Set
}

// newTestStore opens a Store over a real bbolt file in t.TempDir().
func newTestStore(t *testing.T, opts Options) *testEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := newTestClock()
	set := metrics.NewSet()
	opts.BcryptCost = bcrypt.MinCost
	opts.Now = clock.Now
	opts.Metrics = set
	s, err := Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{store: s, db: db, dbPath: path, clock: clock, metrics: set}
}

func (e *testEnv) mustAddUser(t *testing.T, name, password string, role Role) {
	t.Helper()
	if err := e.store.AddUser(name, password, role); err != nil {
		t.Fatalf("AddUser(%q): %v", name, err)
	}
}

func (e *testEnv) mustToken(t *testing.T, user string, opts TokenOptions) (string, Token) {
	t.Helper()
	secret, tok, err := e.store.CreateToken(user, "test-"+user, opts)
	if err != nil {
		t.Fatalf("CreateToken(%q): %v", user, err)
	}
	return secret, tok
}

// metricValue returns the value of one exposition line of the env's set,
// or -1 if absent.
func (e *testEnv) metricValue(t *testing.T, series string) float64 {
	t.Helper()
	var buf bytes.Buffer
	e.metrics.WritePrometheus(&buf)
	for line := range strings.Lines(buf.String()) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if err := json.Unmarshal([]byte(strings.TrimSpace(rest)), &v); err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return v
		}
	}
	return -1
}

// testRoutes is the access table of the test server: one route per
// endpoint class Vigil has.
var testRoutes = []struct {
	method, path string
	role         Role
}{
	{http.MethodGet, "/-/healthy", RolePublic},
	{http.MethodGet, "/api/v1/query", RoleViewer},
	{http.MethodPost, "/api/v1/query", RoleViewer},
	{http.MethodPost, "/api/v1/write", RoleWriter},
	{http.MethodPost, "/api/v1/events/panic-request", RoleWriter},
	{http.MethodPost, "/-/reload", RoleAdmin},
	{http.MethodPost, "/api/v2/silences", RoleAdmin},
	{http.MethodGet, "/metrics", RoleViewer},
	{http.MethodGet, "/", RoleViewer},
	{http.MethodGet, "/ui/csrf", RoleViewer},
}

// newTestServer serves the test routes behind s.Middleware, the login and
// logout handlers and the admin and token APIs, on 127.0.0.1.
func newTestServer(t *testing.T, env *testEnv, tls bool) *httptest.Server {
	t.Helper()
	e := echo.New()
	e.HideBanner = true
	policy := map[string]Role{}
	ok := func(c echo.Context) error {
		p := PrincipalFrom(c)
		if p == nil {
			return c.String(http.StatusOK, "anonymous")
		}
		return c.String(http.StatusOK, p.User+" "+string(p.Role)+" "+string(p.Method))
	}
	for _, r := range testRoutes {
		policy[r.method+" "+r.path] = r.role
		h := ok
		if r.path == "/ui/csrf" {
			h = func(c echo.Context) error { return c.String(http.StatusOK, CSRFTokenFrom(c)) }
		}
		e.Add(r.method, r.path, h)
	}
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		e.Add(m, "/login", env.store.LoginHandler)
		e.Add(m, "/logout", env.store.LogoutHandler)
		policy[m+" /login"] = RolePublic
		policy[m+" /logout"] = RolePublic
	}
	e.Use(env.store.Middleware(func(c echo.Context) Role {
		if strings.HasPrefix(c.Path(), "/api/v1/admin/") {
			return RoleAdmin
		}
		if strings.HasPrefix(c.Path(), "/api/v1/tokens") {
			return RoleAnyUser
		}
		return policy[c.Request().Method+" "+c.Path()]
	}))
	env.store.MountAdminAPI(e.Group("/api/v1/admin"))
	env.store.MountTokenAPI(e.Group("/api/v1"))

	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(e)
	} else {
		srv = httptest.NewServer(e)
	}
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatalf("test server listens on %s, want 127.0.0.1", srv.Listener.Addr())
	}
	return srv
}

// request is one HTTP request to the test server.
type request struct {
	method, path string
	body         string
	header       map[string]string
	cookies      []*http.Cookie
	basic        *[2]string
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func do(t *testing.T, srv *httptest.Server, r request) response {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, srv.URL+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	for _, c := range r.cookies {
		req.AddCookie(c)
	}
	if r.basic != nil {
		req.SetBasicAuth(r.basic[0], r.basic[1])
	}
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func bearer(secret string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + secret}
}

func newRequest(method, path string) *http.Request {
	return httptest.NewRequest(method, path, nil)
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func countSessions(t *testing.T, env *testEnv) int {
	t.Helper()
	n := 0
	err := env.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket([]byte(bucketSessions)).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
