package web

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"
	"go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"github.com/vigil-monitoring/vigil/web/auth"
)

// newTestAuth opens an auth.Store over a fresh bbolt file.
func newTestAuth(t *testing.T, disabled bool) *auth.Store {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := auth.Open(db, auth.Options{Disabled: disabled, BcryptCost: bcrypt.MinCost, Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// routesOf lists the server's routes as "METHOD pattern", without echo's
// internal not-found routes.
func routesOf(s *Server) []*echo.Route {
	var routes []*echo.Route
	for _, r := range s.e.Routes() {
		if r.Method != echo.RouteNotFound {
			routes = append(routes, r)
		}
	}
	slices.SortFunc(routes, func(a, b *echo.Route) int {
		return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method)
	})
	return routes
}

// Every route has an explicit decision in routeAccess, and every entry
// there names a route that exists.
func TestEveryRouteHasAnAccessEntry(t *testing.T) {
	s := newTestServer(t, openStorage(t), Options{}, Deps{Auth: newTestAuth(t, false)})
	used := map[string]bool{}
	for _, r := range routesOf(s) {
		role := accessFor(r.Method, r.Path)
		if role == "" {
			t.Errorf("route %s %s has no entry in routeAccess (web/access.go); decide which role it requires", r.Method, r.Path)
			continue
		}
		if _, ok := routeAccess[r.Method+" "+r.Path]; ok {
			used[r.Method+" "+r.Path] = true
		} else {
			used[r.Path] = true
		}
	}
	for key := range routeAccess {
		if !used[key] {
			t.Errorf("routeAccess has an entry for %q, which is no route of the server; remove it", key)
		}
	}
}

// The role each principal needs, route by route: requests are refused
// exactly when the route's role is not met, whatever the handler does.
func TestRoleMatrixOnEveryRoute(t *testing.T) {
	st := openStorage(t)
	a := newTestAuth(t, false)
	s := newTestServer(t, st, Options{}, Deps{Auth: a})

	secrets := map[string]string{}
	roles := map[string]auth.Role{"anonymous": ""}
	for _, role := range auth.UserRoles() {
		name := string(role) + "-user"
		if err := a.AddUser(name, "password-"+name, role); err != nil {
			t.Fatal(err)
		}
		secret, _, err := a.CreateToken(name, "test", auth.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		secrets[name], roles[name] = secret, role
	}
	// An admin's token narrowed to viewer acts as a viewer.
	secret, _, err := a.CreateToken("admin-user", "read-only", auth.TokenOptions{Role: auth.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	secrets["admin-as-viewer"], roles["admin-as-viewer"] = secret, auth.RoleViewer

	params := regexp.MustCompile(`:[a-z]+|\*`)
	for _, r := range routesOf(s) {
		required := accessFor(r.Method, r.Path)
		if required == "" {
			required = auth.RoleAdmin // as the middleware treats it
		}
		path := params.ReplaceAllString(r.Path, "nosuch")
		for who, role := range roles {
			t.Run(r.Method+" "+r.Path+" as "+who, func(t *testing.T) {
				req := httptest.NewRequest(r.Method, path, nil)
				if who != "anonymous" {
					req.Header.Set("Authorization", "Bearer "+secrets[who])
				}
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				body := rec.Body.String()
				switch {
				case required == auth.RolePublic || (role != "" && role.Allows(required)):
					if rec.Code == http.StatusUnauthorized || strings.Contains(body, "requires role") {
						t.Errorf("refused: %d %s", rec.Code, body)
					}
				case role == "":
					if rec.Code != http.StatusUnauthorized || !strings.Contains(body, "authentication required") {
						t.Errorf("anonymous request to a %s route: %d %s, want 401", required, rec.Code, body)
					}
				default:
					if rec.Code != http.StatusForbidden || !strings.Contains(body, "requires role "+string(required)) {
						t.Errorf("%s on a %s route: %d %s, want 403 naming the role", role, required, rec.Code, body)
					}
				}
			})
		}
	}
}

// Paths that match no route: 401 for strangers, 404 for signed-in users.
func TestUnknownPaths(t *testing.T) {
	a := newTestAuth(t, false)
	s := newTestServer(t, openStorage(t), Options{}, Deps{Auth: a})
	if err := a.AddUser("viewer", "viewer-password", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		basic bool
		want  int
	}{{false, http.StatusUnauthorized}, {true, http.StatusNotFound}} {
		req := httptest.NewRequest(http.MethodGet, "/no/such/page", nil)
		if tt.basic {
			req.SetBasicAuth("viewer", "viewer-password")
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("GET /no/such/page (basic auth %v) = %d %s, want %d", tt.basic, rec.Code, rec.Body, tt.want)
		}
	}
}

// --auth=none (a disabled Store) and no Store at all both leave every
// route open.
func TestOpenWithoutAuthentication(t *testing.T) {
	for name, a := range map[string]*auth.Store{"disabled": newTestAuth(t, true), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, openStorage(t), Options{}, Deps{Auth: a})
			for _, tt := range []struct{ method, path string }{
				{http.MethodGet, "/api/v1/query?query=1"},
				{http.MethodPost, "/-/reload"},
				{http.MethodPost, "/api/v1/import/prometheus"},
				{http.MethodGet, "/metrics"},
			} {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader("up 1\n")))
				if rec.Code >= 400 {
					t.Errorf("%s %s = %d %s, want success", tt.method, tt.path, rec.Code, rec.Body)
				}
			}
		})
	}
}
