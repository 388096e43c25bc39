package auth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// Every role against every endpoint class, authenticated by bearer token.
func TestRoleMatrix(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	env.mustAddUser(t, "viewer", "viewer-password", RoleViewer)
	env.mustAddUser(t, "writer", "writer-password", RoleWriter)
	srv := newTestServer(t, env, false)
	secrets := map[string]string{}
	for _, u := range []string{"admin", "viewer", "writer"} {
		secrets[u], _ = env.mustToken(t, u, TokenOptions{})
	}
	// A viewer-limited token of the admin behaves as a viewer.
	secrets["admin-as-viewer"], _ = env.mustToken(t, "admin", TokenOptions{Role: RoleViewer})

	type class struct {
		method, path string
		role         Role
	}
	classes := []class{
		{http.MethodGet, "/api/v1/tokens", RoleAnyUser},
		{http.MethodGet, "/api/v1/admin/users", RoleAdmin},
	}
	for _, r := range testRoutes {
		classes = append(classes, class{r.method, r.path, r.role})
	}
	principals := map[string]Role{"admin": RoleAdmin, "viewer": RoleViewer, "writer": RoleWriter, "admin-as-viewer": RoleViewer, "none": ""}

	for _, cl := range classes {
		for who, role := range principals {
			t.Run(cl.method+" "+cl.path+" as "+who, func(t *testing.T) {
				req := request{method: cl.method, path: cl.path}
				if who != "none" {
					req.header = bearer(secrets[who])
				}
				want := http.StatusOK
				switch {
				case cl.role == RolePublic:
				case who == "none":
					want = http.StatusUnauthorized
				case !role.Allows(cl.role):
					want = http.StatusForbidden
				}
				got := do(t, srv, req)
				if got.status != want {
					t.Fatalf("status %d, want %d; body %s", got.status, want, got.body)
				}
				if want == http.StatusForbidden && !strings.Contains(got.body, "requires role "+string(cl.role)) {
					t.Errorf("403 body %q does not name the required role %s", got.body, cl.role)
				}
				if want == http.StatusUnauthorized && got.header.Get("WWW-Authenticate") != `Basic realm="Vigil", charset="UTF-8"` {
					t.Errorf("401 WWW-Authenticate = %q", got.header.Get("WWW-Authenticate"))
				}
			})
		}
	}

	t.Run("auth=none", func(t *testing.T) {
		env := newTestStore(t, Options{Disabled: true})
		srv := newTestServer(t, env, false)
		for _, cl := range classes {
			got := do(t, srv, request{method: cl.method, path: cl.path})
			if got.status != http.StatusOK {
				t.Errorf("%s %s with auth disabled: %d %s", cl.method, cl.path, got.status, got.body)
			}
		}
		got := do(t, srv, request{method: http.MethodPost, path: "/-/reload"})
		if got.body != "anonymous admin none" {
			t.Errorf("principal with auth disabled = %q, want anonymous admin", got.body)
		}
	})
}

func TestCredentialKinds(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	env.mustAddUser(t, "grafana", "grafana-password", RoleViewer)
	srv := newTestServer(t, env, false)
	secret, _ := env.mustToken(t, "grafana", TokenOptions{})

	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantBody   string
	}{
		{"bearer", request{header: bearer(secret)}, 200, "grafana viewer bearer"},
		{"bearer lower-case scheme", request{header: map[string]string{"Authorization": "bearer " + secret}}, 200, "grafana viewer bearer"},
		{"InfluxDB 2's Token scheme", request{header: map[string]string{"Authorization": "Token " + secret}}, 200, "grafana viewer bearer"},
		{"basic with token, any user name", request{basic: &[2]string{"whatever", secret}}, 200, "grafana viewer basic"},
		{"basic with token, empty user name", request{basic: &[2]string{"", secret}}, 200, "grafana viewer basic"},
		{"basic with password", request{basic: &[2]string{"grafana", "grafana-password"}}, 200, "grafana viewer basic"},
		{"basic with wrong password", request{basic: &[2]string{"grafana", "wrong-password"}}, 401, "invalid user name or password"},
		{"basic with unknown user", request{basic: &[2]string{"mallory", "grafana-password"}}, 401, "invalid user name or password"},
		{"bearer unknown", request{header: bearer("vgl_0000")}, 401, "invalid, expired or revoked API token"},
		{"bearer with a password", request{header: bearer("grafana-password")}, 401, "invalid, expired or revoked API token"},
		{"basic with unknown token", request{basic: &[2]string{"x", "vgl_0000"}}, 401, "invalid, expired or revoked API token"},
		{"malformed basic", request{header: map[string]string{"Authorization": "Basic !!!"}}, 401, "malformed basic auth"},
		{"unsupported scheme", request{header: map[string]string{"Authorization": "Digest foo"}}, 401, `unsupported authorization scheme \"Digest\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.method, tt.req.path = http.MethodGet, "/api/v1/query"
			got := do(t, srv, tt.req)
			if got.status != tt.wantStatus || !strings.Contains(got.body, tt.wantBody) {
				t.Errorf("got %d %q, want %d containing %q", got.status, got.body, tt.wantStatus, tt.wantBody)
			}
		})
	}

	for series, want := range map[string]float64{
		`vigil_auth_attempts_total{method="bearer",result="success"}`: 3,
		`vigil_auth_attempts_total{method="bearer",result="failure"}`: 2,
		`vigil_auth_attempts_total{method="basic",result="success"}`:  3,
		`vigil_auth_attempts_total{method="basic",result="failure"}`:  5,
	} {
		if got := env.metricValue(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// Unauthenticated requests: the answer depends on who asks.
func TestUnauthenticatedResponses(t *testing.T) {
	env := newTestStore(t, Options{})
	srv := newTestServer(t, env, false)

	t.Run("API path: JSON envelope and challenge", func(t *testing.T) {
		got := do(t, srv, request{method: http.MethodGet, path: "/api/v1/query?query=up", header: map[string]string{"Accept": "text/html"}})
		if got.status != http.StatusUnauthorized {
			t.Fatalf("status %d", got.status)
		}
		if got.header.Get("WWW-Authenticate") == "" {
			t.Error("no WWW-Authenticate")
		}
		var body map[string]string
		if err := json.Unmarshal([]byte(got.body), &body); err != nil {
			t.Fatalf("body %q: %v", got.body, err)
		}
		if body["status"] != "error" || body["errorType"] != "unauthorized" || body["error"] == "" || len(body) != 3 {
			t.Errorf("body = %v, want Prometheus error envelope", body)
		}
	})
	t.Run("browser page: redirect to login", func(t *testing.T) {
		got := do(t, srv, request{method: http.MethodGet, path: "/?from=now-1h&to=now", header: map[string]string{"Accept": "text/html,application/xhtml+xml"}})
		if got.status != http.StatusFound {
			t.Fatalf("status %d, want 302", got.status)
		}
		loc, err := url.Parse(got.header.Get("Location"))
		if err != nil || loc.Path != "/login" || loc.Query().Get("next") != "/?from=now-1h&to=now" {
			t.Errorf("Location = %q, want /login?next=<the page>", got.header.Get("Location"))
		}
		if got.header.Get("WWW-Authenticate") != "" {
			t.Error("redirect carries WWW-Authenticate, which would pop up the browser's dialog")
		}
	})
	t.Run("scraper on a non-API path: plain 401 and challenge", func(t *testing.T) {
		got := do(t, srv, request{method: http.MethodGet, path: "/metrics"})
		if got.status != http.StatusUnauthorized || got.header.Get("WWW-Authenticate") == "" || strings.HasPrefix(got.body, "{") {
			t.Errorf("got %d %q %v", got.status, got.body, got.header)
		}
	})
	t.Run("403 under /api/ is JSON too", func(t *testing.T) {
		env.mustAddUser(t, "w", "writer-password", RoleWriter)
		got := do(t, srv, request{method: http.MethodGet, path: "/api/v1/query", basic: &[2]string{"w", "writer-password"}})
		var body map[string]string
		if err := json.Unmarshal([]byte(got.body), &body); err != nil || got.status != 403 || body["errorType"] != "forbidden" ||
			body["error"] != `this endpoint requires role viewer; user "w" has role writer` {
			t.Errorf("got %d %q", got.status, got.body)
		}
	})
}

func TestTokenRevokeOverHTTP(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	env.mustAddUser(t, "prom", "prom-password", RoleWriter)
	srv := newTestServer(t, env, false)
	secret, tok := env.mustToken(t, "prom", TokenOptions{})
	write := request{method: http.MethodPost, path: "/api/v1/write", basic: &[2]string{"prometheus", secret}}
	if got := do(t, srv, write); got.status != 200 {
		t.Fatalf("before revoke: %d %s", got.status, got.body)
	}
	got := do(t, srv, request{method: http.MethodDelete, path: "/api/v1/tokens/" + tok.ID, header: bearer(secret)})
	if got.status != http.StatusNoContent {
		t.Fatalf("revoke own token: %d %s", got.status, got.body)
	}
	if got := do(t, srv, write); got.status != http.StatusUnauthorized {
		t.Errorf("after revoke: %d %s, want 401", got.status, got.body)
	}
}

// Browsers replay basic credentials; a cross-site POST must not ride on
// them.
func TestBasicAuthCrossOrigin(t *testing.T) {
	env := newTestStore(t, Options{TrustedOrigins: []string{"https://grafana.example.com"}})
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	srv := newTestServer(t, env, false)
	secret, _ := env.mustToken(t, "admin", TokenOptions{})
	basic := &[2]string{"admin", "admin-password"}
	tests := []struct {
		name   string
		req    request
		status int
	}{
		{"no browser headers (API client)", request{basic: basic}, 200},
		{"same origin", request{basic: basic, header: map[string]string{"Sec-Fetch-Site": "same-origin"}}, 200},
		{"cross-site", request{basic: basic, header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403},
		{"old browser, foreign Origin", request{basic: basic, header: map[string]string{"Origin": "https://evil.example"}}, 403},
		{"trusted origin", request{basic: basic, header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://grafana.example.com"}}, 200},
		{"bearer is not replayed by browsers", request{header: map[string]string{"Authorization": "Bearer " + secret, "Sec-Fetch-Site": "cross-site"}}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.method, tt.req.path = http.MethodPost, "/-/reload"
			if got := do(t, srv, tt.req); got.status != tt.status {
				t.Errorf("got %d %s, want %d", got.status, got.body, tt.status)
			}
		})
	}
}

// Identify and RequireRole compose per route group, the other way to wire
// the package.
func TestIdentifyAndRequireRoleGroups(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	env.mustAddUser(t, "viewer", "viewer-password", RoleViewer)
	s := env.store
	e := echo.New()
	e.Use(s.Identify())
	who := func(c echo.Context) error {
		if p := PrincipalFrom(c); p != nil {
			return c.String(200, p.User)
		}
		return c.String(200, "anonymous")
	}
	e.GET("/-/healthy", who)
	e.GET("/api/v1/query", who, s.RequireRole(RoleViewer))
	adm := e.Group("/-", s.RequireRole(RoleAdmin))
	adm.POST("/reload", who)

	tests := []struct {
		method, path string
		basic        *[2]string
		status       int
		body         string
	}{
		{"GET", "/-/healthy", nil, 200, "anonymous"},
		{"GET", "/-/healthy", &[2]string{"viewer", "viewer-password"}, 200, "viewer"},
		{"GET", "/-/healthy", &[2]string{"viewer", "bad-password"}, 401, ""}, // Identify rejects bad explicit credentials
		{"GET", "/api/v1/query", nil, 401, ""},
		{"GET", "/api/v1/query", &[2]string{"viewer", "viewer-password"}, 200, "viewer"},
		{"POST", "/-/reload", &[2]string{"viewer", "viewer-password"}, 403, ""},
		{"POST", "/-/reload", &[2]string{"admin", "admin-password"}, 200, "admin"},
	}
	for _, tt := range tests {
		req := newRequest(tt.method, tt.path)
		if tt.basic != nil {
			req.SetBasicAuth(tt.basic[0], tt.basic[1])
		}
		rec := serve(e, req)
		if rec.Code != tt.status || (tt.body != "" && rec.Body.String() != tt.body) {
			t.Errorf("%s %s %v: %d %q, want %d %q", tt.method, tt.path, tt.basic, rec.Code, rec.Body.String(), tt.status, tt.body)
		}
	}
}

func TestPolicyWithoutDecisionIsAdminOnly(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	env.mustAddUser(t, "viewer", "viewer-password", RoleViewer)
	e := echo.New()
	e.Use(env.store.Middleware(func(echo.Context) Role { return "" }))
	e.GET("/new-route", func(c echo.Context) error { return c.String(200, "ok") })
	for user, status := range map[string]int{"viewer": 403, "admin": 200} {
		req := newRequest("GET", "/new-route")
		req.SetBasicAuth(user, user+"-password")
		if rec := serve(e, req); rec.Code != status {
			t.Errorf("%s on an undecided route: %d, want %d", user, rec.Code, status)
		}
	}
}

func TestClientIPIgnoresForwardedHeadersByDefault(t *testing.T) {
	e := echo.New()
	req := newRequest("GET", "/")
	req.RemoteAddr = "192.0.2.7:5555"
	req.Header.Set("X-Forwarded-For", "203.0.113.1")
	c := e.NewContext(req, nil)
	if got := clientIP(c); got != "192.0.2.7" {
		t.Errorf("clientIP = %q, want the peer address", got)
	}
	e.IPExtractor = echo.ExtractIPFromXFFHeader(echo.TrustIPRange(mustCIDR(t, "192.0.2.0/24")))
	if got := clientIP(c); got != "203.0.113.1" {
		t.Errorf("clientIP with a trusting IPExtractor = %q, want the forwarded address", got)
	}
}
