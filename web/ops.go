package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"
)

// The operational endpoints (health, readiness, reload, self-metrics,
// flush) and the middleware every route goes through: the request body
// limit and the HTTP self-metrics.

func (s *Server) registerOps(e *echo.Echo) {
	e.HTTPErrorHandler = s.handleError
	e.Use(s.countRequests(e), s.limitBody)

	// Reloads triggered here are remembered for status/runtimeinfo, unless
	// the Reloader reports reload outcomes itself.
	if s.deps.Reloader != nil {
		if _, ok := s.deps.Reloader.(ReloadStatus); !ok {
			s.deps.Reloader = &trackingReloader{Reloader: s.deps.Reloader}
		}
	}

	healthy := func(c echo.Context) error {
		return c.String(http.StatusOK, "Vigil is Healthy.\n")
	}
	e.GET("/-/healthy", healthy)
	e.HEAD("/-/healthy", healthy)

	ready := func(c echo.Context) error {
		if !s.isReady() {
			return c.String(http.StatusServiceUnavailable, "Service Unavailable")
		}
		return c.String(http.StatusOK, "Vigil is Ready.\n")
	}
	e.GET("/-/ready", ready)
	e.HEAD("/-/ready", ready)

	e.POST("/-/reload", s.reload)
	e.PUT("/-/reload", s.reload)
	e.GET("/-/reload", func(c echo.Context) error {
		return c.String(http.StatusMethodNotAllowed, "This endpoint requires a POST request.\n")
	})

	e.GET("/metrics", func(c echo.Context) error {
		w := c.Response()
		w.Header().Set(echo.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		metrics.WritePrometheus(w, true)
		return nil
	})

	// VictoriaMetrics' name, for tools and tests that flush before reading.
	forceFlush := func(c echo.Context) error {
		if s.deps.Storage != nil {
			s.deps.Storage.ForceFlush()
		}
		return c.NoContent(http.StatusOK)
	}
	e.GET("/internal/force_flush", forceFlush)
	e.POST("/internal/force_flush", forceFlush)
	forceMerge := func(c echo.Context) error {
		if s.deps.Storage != nil {
			if err := s.deps.Storage.ForceMerge(); err != nil {
				return c.String(http.StatusInternalServerError, err.Error()+"\n")
			}
		}
		return c.NoContent(http.StatusOK)
	}
	e.GET("/internal/force_merge", forceMerge)
	e.POST("/internal/force_merge", forceMerge)

	// Go's profiles, as Prometheus serves them, for the admin who has to
	// find out where the time or the memory goes.
	e.GET("/debug/pprof/*", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
		case "cmdline":
			pprof.Cmdline(w, r)
		case "profile":
			pprof.Profile(w, r)
		case "symbol":
			pprof.Symbol(w, r)
		case "trace":
			pprof.Trace(w, r)
		default:
			pprof.Index(w, r)
		}
	})))
}

func (s *Server) isReady() bool { return s.deps.Ready == nil || s.deps.Ready() }

// whenReady answers 503 until start-up has finished, as Prometheus gates
// its API and /federate.
func (s *Server) whenReady(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.isReady() {
			return c.String(http.StatusServiceUnavailable, "Service Unavailable")
		}
		return next(c)
	}
}

func (s *Server) reload(c echo.Context) error {
	if s.deps.Reloader == nil {
		return c.String(http.StatusOK, "nothing to reload\n")
	}
	if err := s.deps.Reloader.Reload(); err != nil {
		return c.String(http.StatusInternalServerError, fmt.Sprintf("failed to reload config: %s\n", err))
	}
	return c.NoContent(http.StatusOK)
}

// trackingReloader remembers the outcome of the reloads done through it.
type trackingReloader struct {
	Reloader

	mu      sync.Mutex
	success bool
	at      time.Time
}

func (t *trackingReloader) Reload() error {
	err := t.Reloader.Reload()
	t.mu.Lock()
	t.success, t.at = err == nil, time.Now()
	t.mu.Unlock()
	return err
}

func (t *trackingReloader) LastReload() (bool, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.success, t.at
}

// limitBody bounds every request body by Options.MaxRequestBodyBytes. A
// declared Content-Length over the limit is refused at once; otherwise the
// body is wrapped so that reading past the limit fails with
// *http.MaxBytesError, which the handlers return and handleError answers
// with 413.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	limit := s.opts.MaxRequestBodyBytes
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > limit {
			return &http.MaxBytesError{Limit: limit}
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(c.Response().Writer, r.Body, limit)
		}
		return next(c)
	}
}

// isBodyTooLarge tells an error that comes from reading past the body
// limit. Handlers that read bodies themselves return such errors as they
// are (or wrapped with %w) to get a 413.
func isBodyTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func bodyTooLargeMessage(limit int64) string {
	return fmt.Sprintf("request body too large: the limit is %d bytes; send less data per request (for remote write, lower max_samples_per_send) or raise the server's request body limit", limit)
}

// routeMetrics are the self-metrics of one route.
type routeMetrics struct {
	path     string
	requests *metrics.Counter
	// duration is created by the route's first request: a histogram is
	// 14 series, and most of Vigil's ninety-odd routes never see a request
	// on a given server, so creating them all up front stored some 1,100
	// idle series in the self-monitoring job (the request counters, one
	// series each, still start at zero so that rate() sees the first
	// request).
	duration atomic.Pointer[metrics.PrometheusHistogram]
}

// observe counts one request that started at start.
func (m *routeMetrics) observe(start time.Time) {
	m.requests.Inc()
	h := m.duration.Load()
	if h == nil {
		h = metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf("vigil_http_request_duration_seconds{path=%q}", m.path))
		m.duration.Store(h)
	}
	h.UpdateDuration(start)
}

// countRequests counts requests and their duration per route pattern
// (vigil_http_requests_total and vigil_http_request_duration_seconds with
// a `path` label). Requests that match no route count under path="other",
// so that scanners cannot create series.
func (s *Server) countRequests(e *echo.Echo) echo.MiddlewareFunc {
	var (
		once   sync.Once
		routes map[string]*routeMetrics
	)
	get := func(path string) *routeMetrics {
		// Routes are all registered when the first request arrives.
		once.Do(func() {
			routes = map[string]*routeMetrics{}
			for _, r := range e.Routes() {
				routes[r.Path] = newRouteMetrics(r.Path)
			}
			routes["other"] = newRouteMetrics("other")
		})
		if m, ok := routes[path]; ok {
			return m
		}
		return routes["other"]
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			get(c.Path()).observe(start)
			return err
		}
	}
}

func newRouteMetrics(path string) *routeMetrics {
	return &routeMetrics{
		path:     path,
		requests: metrics.GetOrCreateCounter(fmt.Sprintf("vigil_http_requests_total{path=%q}", path)),
	}
}
