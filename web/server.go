// Package web is Vigil's HTTP surface: the Prometheus API v1, the
// ingestion endpoints, the operational endpoints and the web UI. It
// depends on the domain packages and never on the composition root: what it
// needs from there it declares as small interfaces.
package web

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
	"github.com/vigil-monitoring/vigil/web/auth"
)

// Options configures the HTTP server.
type Options struct {
	// MaxRequestBodyBytes bounds every request body; larger bodies get 413.
	MaxRequestBodyBytes int64

	// MaxRequestSamples bounds the samples of one remote write or
	// import request; a larger request gets 400 and nothing of it is
	// stored. Zero means no limit.
	MaxRequestSamples int

	// QueryTimeout is the default and the maximum of a query's `timeout`.
	QueryTimeout time.Duration

	// LookbackDelta is the engine's lookback; API calls may pass a smaller
	// or larger one with `lookback_delta`, as in Prometheus.
	LookbackDelta time.Duration

	// SlowQueryThreshold logs queries that take longer. Zero disables.
	SlowQueryThreshold time.Duration

	// ExternalURL is where users reach Vigil, for links.
	ExternalURL string
}

// Reloader re-reads the configuration; the composition root implements it.
type Reloader interface {
	Reload() error
}

// BuildInfo describes the running binary for /api/v1/status/buildinfo.
type BuildInfo struct {
	Version   string
	Revision  string
	Branch    string
	BuildUser string
	BuildDate string
	GoVersion string
}

// Deps are the components the server serves from.
type Deps struct {
	Storage *storage.Storage
	Engine  *promql.Engine
	// PartEngine, if set, is the engine of the parts of a range query
	// split in n across cores, holding at most an n-th of the samples the
	// Engine lets one query hold. Without it range queries are not split.
	PartEngine func(n int) *promql.Engine
	Parser     parser.Parser

	Build BuildInfo

	// Flags are the effective command-line settings, for status/flags.
	Flags map[string]string

	// Config returns the effective configuration as YAML, for status/config.
	Config func() string

	// ExternalLabels returns global.external_labels, which /federate adds
	// to every series that lacks them, as Prometheus does; nil adds none.
	ExternalLabels func() map[string]string

	// Reloader serves POST /-/reload; with nil there is nothing to reload.
	Reloader Reloader

	// Providers of the scrape, rule and notification state; nil serves
	// the empty shapes, as Prometheus does without those configured.
	Targets       TargetsProvider
	Rules         RulesProvider
	Alerts        AlertsProvider
	Alertmanagers AlertmanagersProvider
	// RemoteWrite reports the remotes samples are sent to, for
	// /api/v1/status/remote_write; nil lists none.
	RemoteWrite RemoteWriteProvider

	// Jobs lists the scheduled jobs for /api/v1/status/jobs and runs the
	// minute job for update-cache-metrics; nil lists none.
	Jobs JobsProvider

	// History, the alert history, serves /api/v1/alerts/history; nil
	// answers [].
	History AlertHistoryProvider
	// Alertmanager serves the Alertmanager API v2 (/api/v2/...); nil
	// serves an empty notifier that delivers nowhere.
	Alertmanager AlertmanagerProvider

	// Events records the event API's events; nil makes the server build
	// a recorder of its own over Storage.
	Events *ingest.Recorder

	// Dashboards serves the dashboards API (/api/v1/dashboards...); nil
	// answers 503 there.
	Dashboards DashboardStore

	// Pushgateway holds the groups pushed to /metrics/job/...; nil
	// disables that API.
	Pushgateway *ingest.Groups

	// Auth authenticates every request and authorises it by the route's
	// entry in routeAccess; it also serves /login, /logout, the user admin
	// API (/api/v1/admin/users...) and the caller's token API
	// (/api/v1/tokens). With nil, every route is open and those are not
	// mounted: for tests that build a server directly. --auth=none passes
	// a disabled Store instead, which lets everyone in as admin.
	Auth *auth.Store

	// Logger receives the slow-query log and request errors; nil means
	// slog.Default().
	Logger *slog.Logger

	// Backup serves POST /api/v1/admin/backup; nil answers 503 there.
	Backup Backuper

	// Ready reports whether start-up has finished, for /-/ready.
	Ready func() bool

	// StartTime is when the process started, for status/runtimeinfo.
	StartTime time.Time
}

// Server is Vigil's HTTP handler.
type Server struct {
	opts       Options
	deps       Deps
	e          *echo.Echo
	splitCosts splitCosts
}

// New builds the server and its routes.
func New(opts Options, deps Deps) *Server {
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 2 * time.Minute
	}
	if opts.LookbackDelta <= 0 {
		opts.LookbackDelta = 5 * time.Minute
	}
	if opts.MaxRequestBodyBytes <= 0 {
		opts.MaxRequestBodyBytes = 64 << 20
	}
	if deps.Events == nil && deps.Storage != nil {
		deps.Events = ingest.NewRecorder(deps.Storage, nil)
	}
	if deps.StartTime.IsZero() {
		deps.StartTime = time.Now()
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{opts: opts, deps: deps, e: e}
	s.registerOps(e)
	s.registerAuth(e)
	s.registerAPI(e)
	s.registerAlertHistory(e)
	s.registerAlertmanagerAPI(e)
	s.registerIngest(e)
	s.registerBackup(e)
	s.registerPlatform(e)
	s.registerEvents(e)
	s.registerJobs(e)
	s.registerUI(e)
	s.registerDashboards(e)
	return s
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.e.ServeHTTP(w, r)
}
