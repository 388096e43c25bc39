package web

import "github.com/labstack/echo/v4"

// registerAPI mounts the Prometheus HTTP API v1 and /federate. Every route
// waits for readiness, as in Prometheus. Query-like endpoints take GET and
// POST (form-encoded), the admin endpoints POST and PUT.
func (s *Server) registerAPI(e *echo.Echo) {
	get := func(path string, f apiFunc) { e.GET("/api/v1"+path, s.api(f), s.whenReady) }
	getPost := func(path string, f apiFunc) {
		h := s.api(f)
		e.GET("/api/v1"+path, h, s.whenReady)
		e.POST("/api/v1"+path, h, s.whenReady)
	}

	getPost("/query", s.query)
	getPost("/query_range", s.queryRange)
	getPost("/query_exemplars", s.queryExemplars)
	getPost("/format_query", s.formatQuery)

	getPost("/series", s.series)
	getPost("/labels", s.labelNames)
	get("/label/:name/values", s.labelValues)
	get("/metadata", s.metadata)

	get("/targets", s.targets)
	get("/targets/metadata", s.targetsMetadata)
	get("/scrape_pools", s.scrapePools)
	get("/rules", s.rules)
	get("/alerts", s.alerts)
	get("/alertmanagers", s.alertmanagers)

	get("/status/buildinfo", s.buildInfo)
	get("/status/config", s.statusConfig)
	get("/status/flags", s.statusFlags)
	get("/status/runtimeinfo", s.runtimeInfo)
	get("/status/tsdb", s.tsdbStatusHandler)
	get("/status/walreplay", s.walReplay)
	get("/status/remote_write", s.remoteWriteStatus)

	// The admin endpoints require the admin role (routeAccess).
	admin := e.Group("/api/v1/admin/tsdb")
	adminRoute := func(path string, f apiFunc) {
		h := s.api(f)
		admin.POST(path, h, s.whenReady)
		admin.PUT(path, h, s.whenReady)
	}
	adminRoute("/delete_series", s.deleteSeries)
	adminRoute("/snapshot", s.snapshot)
	adminRoute("/clean_tombstones", s.cleanTombstones)

	e.GET("/federate", s.federate, s.whenReady)
}
