package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vigil-monitoring/vigil/web/auth"
)

// Who may call what. Every request goes through Deps.Auth's middleware,
// which looks up the role the matched route requires in routeAccess:
//
//   - public: health and readiness probes, the login and logout pages;
//   - viewer: everything that reads (queries, metadata, status, targets,
//     rules, alerts, /federate, Vigil's own /metrics);
//   - writer: ingestion only, so a leaked ingestion token reads nothing;
//   - admin: what changes the server or deletes data (reload, the TSDB
//     admin API, flushing), backups and user administration.
//
// Admin includes viewer and writer. A route without an entry requires
// admin, and TestEveryRouteHasAnAccessEntry fails, so a new route cannot
// be forgotten.

// routeAccess maps echo route patterns (c.Path()) to the role they
// require. A key may start with a method ("POST /api/v2/silences") where
// the methods of one pattern need different roles; such an entry wins
// over the pattern's own. It is read-only after package initialisation.
var routeAccess = map[string]auth.Role{
	// Operations.
	"/-/healthy":            auth.RolePublic,
	"/-/ready":              auth.RolePublic,
	"/-/reload":             auth.RoleAdmin,
	"/metrics":              auth.RoleViewer, // self-monitoring
	"/internal/force_flush": auth.RoleAdmin,
	"/internal/force_merge": auth.RoleAdmin,
	"/debug/pprof/*":        auth.RoleAdmin,

	// Browser sessions.
	"/login":  auth.RolePublic,
	"/logout": auth.RolePublic,

	// Prometheus API v1: reads.
	"/api/v1/query":               auth.RoleViewer,
	"/api/v1/query_range":         auth.RoleViewer,
	"/api/v1/query_exemplars":     auth.RoleViewer,
	"/api/v1/format_query":        auth.RoleViewer,
	"/api/v1/series":              auth.RoleViewer,
	"/api/v1/labels":              auth.RoleViewer,
	"/api/v1/label/:name/values":  auth.RoleViewer,
	"/api/v1/metadata":            auth.RoleViewer,
	"/api/v1/targets":             auth.RoleViewer,
	"/api/v1/targets/metadata":    auth.RoleViewer,
	"/api/v1/scrape_pools":        auth.RoleViewer,
	"/api/v1/rules":               auth.RoleViewer,
	"/api/v1/alerts":              auth.RoleViewer,
	"/api/v1/alerts/history":      auth.RoleViewer,
	"/api/v1/alertmanagers":       auth.RoleViewer,
	"/api/v1/status/buildinfo":    auth.RoleViewer,
	"/api/v1/status/config":       auth.RoleViewer,
	"/api/v1/status/flags":        auth.RoleViewer,
	"/api/v1/status/runtimeinfo":  auth.RoleViewer,
	"/api/v1/status/tsdb":         auth.RoleViewer,
	"/api/v1/status/walreplay":    auth.RoleViewer,
	"/api/v1/status/jobs":         auth.RoleViewer,
	"/federate":                   auth.RoleViewer,
	"/api/v1/export":              auth.RoleViewer, // every stored sample of the matched series
	"/api/v1/status/remote_write": auth.RoleViewer,

	// Prometheus API v1: the TSDB admin API.
	"/api/v1/admin/tsdb/delete_series":    auth.RoleAdmin,
	"/api/v1/admin/tsdb/snapshot":         auth.RoleAdmin,
	"/api/v1/admin/tsdb/clean_tombstones": auth.RoleAdmin,

	// Backups: they copy every sample and the user store.
	"/api/v1/admin/backup": auth.RoleAdmin,

	// The Panic platform's API: reads, and running the minute job.
	"/api/v1/metrics/health":               auth.RoleViewer,
	"/api/v1/metrics/business":             auth.RoleViewer,
	"/api/v1/metrics/performance":          auth.RoleViewer,
	"/api/v1/metrics/alerts":               auth.RoleViewer,
	"/api/v1/metrics/prometheus":           auth.RoleViewer,
	"/api/v1/metrics/update-cache-metrics": auth.RoleAdmin,

	// Dashboards: viewers read and export them; importing, replacing and
	// deleting change what everyone sees, so admin.
	"/api/v1/dashboards":             auth.RoleViewer,
	"POST /api/v1/dashboards":        auth.RoleAdmin,
	"/api/v1/dashboards/:uid":        auth.RoleViewer,
	"PUT /api/v1/dashboards/:uid":    auth.RoleAdmin,
	"DELETE /api/v1/dashboards/:uid": auth.RoleAdmin,
	"/api/v1/dashboards/:uid/export": auth.RoleViewer,

	// Ingestion.
	"/api/v1/write":                 auth.RoleWriter,
	"/api/v1/import/prometheus":     auth.RoleWriter,
	"/metrics/job":                  auth.RoleWriter,
	"/metrics/job/*":                auth.RoleWriter,
	"/metrics/job@base64/*":         auth.RoleWriter,
	"/api/v1/events/:kind":          auth.RoleWriter,
	"/api/v1/events/custom/:metric": auth.RoleWriter,
	"/api/v1/import":                auth.RoleWriter,
	"/api/v1/import/csv":            auth.RoleWriter,
	"/opentelemetry/v1/metrics":     auth.RoleWriter,
	"/opentelemetry/api/v1/push":    auth.RoleWriter,
	"/api/v1/otlp/v1/metrics":       auth.RoleWriter,
	"/write":                        auth.RoleWriter,
	"/influx/write":                 auth.RoleWriter,
	"/api/v2/write":                 auth.RoleWriter,
	"/influx/api/v2/write":          auth.RoleWriter,
	// InfluxDB's health check, which InfluxDB answers without
	// credentials; it tells nothing but that Vigil is up.
	"/ping":        auth.RolePublic,
	"/influx/ping": auth.RolePublic,

	// Alertmanager API v2: viewers read alerts, groups, silences,
	// receivers and status; posting alerts is ingestion (a writer token
	// for the Prometheus or vmalert that sends them); creating, updating
	// and expiring silences mutes notifications for everyone, so admin.
	"/api/v2/alerts":             auth.RoleViewer,
	"POST /api/v2/alerts":        auth.RoleWriter,
	"/api/v2/alerts/groups":      auth.RoleViewer,
	"/api/v2/silences":           auth.RoleViewer,
	"POST /api/v2/silences":      auth.RoleAdmin,
	"/api/v2/silence/:id":        auth.RoleViewer,
	"DELETE /api/v2/silence/:id": auth.RoleAdmin,
	"/api/v2/receivers":          auth.RoleViewer,
	"/api/v2/status":             auth.RoleViewer,

	// Users and tokens (auth.Store.MountAdminAPI, MountTokenAPI).
	"/api/v1/admin/users":                  auth.RoleAdmin,
	"/api/v1/admin/users/:name":            auth.RoleAdmin,
	"/api/v1/admin/users/:name/tokens":     auth.RoleAdmin,
	"/api/v1/admin/users/:name/tokens/:id": auth.RoleAdmin,
	"/api/v1/admin/tokens":                 auth.RoleAdmin,
	"/api/v1/tokens":                       auth.RoleAnyUser,
	"/api/v1/tokens/:id":                   auth.RoleAnyUser,

	// The web UI: its pages and assets are for viewers (a browser
	// without a session is sent to the login page); anyone signed in may
	// ask who they are.
	"/":                 auth.RoleViewer,
	"/d/:uid":           auth.RoleViewer,
	"/d/:uid/:slug":     auth.RoleViewer,
	"/dashboard/import": auth.RoleViewer,
	"/explore":          auth.RoleViewer,
	"/alerts":           auth.RoleViewer,
	"/silences":         auth.RoleViewer,
	"/targets":          auth.RoleViewer,
	"/rules":            auth.RoleViewer,
	"/status":           auth.RoleViewer,
	"/assets/*":         auth.RoleViewer,
	"/api/v1/session":   auth.RoleAnyUser,
}

// requiredRole is the auth.Policy of the server: the role routeAccess
// gives the matched route, "" (hence admin) for a route it does not
// list. A request that matched no route at all needs any signed-in user,
// so strangers get 401 without learning which paths exist and users get
// the 404 they would expect.
func requiredRole(c echo.Context) auth.Role {
	path := c.Path()
	if path == "" {
		return auth.RoleAnyUser
	}
	return accessFor(c.Request().Method, path)
}

// accessFor looks up the role of method on route pattern path.
func accessFor(method, path string) auth.Role {
	if r, ok := routeAccess[method+" "+path]; ok {
		return r
	}
	return routeAccess[path]
}

// registerAuth installs authentication on every route and mounts the
// login, logout, user admin and token routes. Without Deps.Auth nothing is
// installed and every route is open.
func (s *Server) registerAuth(e *echo.Echo) {
	a := s.deps.Auth
	if a == nil {
		return
	}
	e.Use(a.Middleware(requiredRole))
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		e.Add(m, "/login", a.LoginHandler)
		e.Add(m, "/logout", a.LogoutHandler)
	}
	a.MountAdminAPI(e.Group("/api/v1/admin"))
	a.MountTokenAPI(e.Group("/api/v1"))
}
