// Package appliance is Vigil's composition root: it turns a Config into
// running parts, starts them in order, stops them in reverse and reloads
// the configuration. Only cmd/vigil imports it.
package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"go.etcd.io/bbolt"

	"github.com/vigil-monitoring/vigil/appliance/demo"
	"github.com/vigil-monitoring/vigil/internal/clock"
	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
	"github.com/vigil-monitoring/vigil/web"
	"github.com/vigil-monitoring/vigil/web/auth"
)

// DrainTimeout is how long Stop waits for HTTP requests in flight before
// it cancels them.
const DrainTimeout = 10 * time.Second

// noStepSubqueryInterval is the step of subqueries written without one
// (`[30m:]`). Prometheus uses its global evaluation_interval, whose default
// is 1m; Vigil has no evaluation interval setting of its own, so it uses
// that default.
const noStepSubqueryInterval = time.Minute

// Appliance is one running Vigil: storage, query engine and HTTP server.
// Create it with New, then Start it once and Stop it once.
type Appliance struct {
	cfg      Config // the running configuration; Reload does not change it yet
	log      *slog.Logger
	build    web.BuildInfo
	features Features
	notices  []string
	start    time.Time

	// components are the parts that can take a new configuration without
	// a restart; scrape, rules and notify register here when they land.
	components []component

	mu       sync.Mutex // serializes Start and Stop
	reloadMu sync.Mutex // serializes Reload
	state    runState
	unlock   func()
	// stateDB is the bbolt state file (StateFileName), open from Start to
	// the end of Stop; the parts that keep state across restarts (users
	// now; alert state, silences, dashboards later) share it, each in its
	// own buckets.
	stateDB    *bbolt.DB
	users      *auth.Store
	authNotice string
	storage    *storage.Storage
	pushed     *pushgateway
	engine     *promql.Engine
	parts      *partEngines
	rules      *ruleRunner
	notify     *notifyRunner
	scrape     *scrapeRunner
	remote     *remoteWriteRunner
	metrics    *selfMetrics
	backups    *backupRunner
	backupJob  *backupJob  // nil without --backup.dir; run by jobs
	demo       *demoRunner // nil without --demo
	jobs       *jobRunner
	events     *ingest.Recorder // the event API's
	eventsRun  *eventsRunner
	dashboards *dashboardRunner
	server     *http.Server
	listener   net.Listener
	url        string
	cancel     context.CancelFunc // cancels the requests in flight
	inflight   atomic.Int64
	errc       chan error

	ready atomic.Bool

	lastReloadOK atomic.Bool
	lastReloadAt atomic.Int64 // Unix nanoseconds
}

// runState is where an Appliance is in its life.
type runState int

const (
	stateNew runState = iota
	stateStarted
	stateStopped
)

// component is a part of the appliance that Reload can reconfigure in
// place. Reload reports whether anything changed.
type component interface {
	Reload(cfg Config) (changed bool, err error)
}

// The interfaces of web that Appliance implements.
var (
	_ web.Reloader     = (*Appliance)(nil)
	_ web.ReloadStatus = (*Appliance)(nil)
)

// New checks cfg and prepares an appliance; nothing runs until Start. The
// log goes to standard error in the --log.level and --log.format asked.
func New(cfg Config) (*Appliance, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Appliance{
		cfg:   cfg,
		log:   NewLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format),
		build: Build(),
		start: time.Now(),
		errc:  make(chan error, 1),
	}
	var warnings []string
	a.features, warnings = ParseFeatures(cfg.EnableFeature)
	for _, w := range warnings {
		a.log.Warn(w)
	}
	a.notices = notices(cfg)
	a.lastReloadOK.Store(true)
	a.lastReloadAt.Store(a.start.UnixNano())
	return a, nil
}

// notices are what the user should know at start about the settings this
// build accepts but does not act on yet.
func notices(cfg Config) []string {
	var n []string
	if cfg.Demo {
		n = append(n, fmt.Sprintf("demo: a simulated Panic platform (job=%q) writes up to %s of history now (progress in the log) and a sample every %s; try the query panic_requests_total", demo.Job, cfg.DemoBackfill, demo.Step))
	}
	if cfg.Files.Alertmanager != "" && cfg.Alertmanager.Set() {
		n = append(n, fmt.Sprintf("alertmanager config: --config.alertmanager=%s is used; the alertmanager section of %s (line %d) is ignored, as flags given on the command line win over the file", cfg.Files.Alertmanager, cfg.Alertmanager.File, cfg.Alertmanager.Line))
	}
	return n
}

// Notices returns what the user should read at start besides the address:
// settings that this build accepts but does not act on yet.
func (a *Appliance) Notices() []string { return slices.Clone(a.notices) }

// AuthNotice is the line to print once, right after the address, about
// authentication: the generated admin credentials on the first start,
// a warning that every endpoint is open with --auth=none, or "" when there
// is nothing to say. Valid after Start. The generated password is nowhere
// else: it is neither logged nor stored (only its bcrypt hash is).
func (a *Appliance) AuthNotice() string { return a.authNotice }

// Logger returns the appliance's logger.
func (a *Appliance) Logger() *slog.Logger { return a.log }

// Config returns the running configuration.
func (a *Appliance) Config() Config { return a.cfg }

// Start opens the storage, builds the query engine and the HTTP server and
// starts serving. On error everything it started is stopped again.
func (a *Appliance) Start(ctx context.Context) (err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state != stateNew {
		return errors.New("appliance: Start called twice")
	}
	a.state = stateStarted
	defer func() {
		if err != nil {
			a.shutdown(context.Background())
		}
	}()
	cfg := a.cfg

	// The certificate first: a wrong file should not wait for the storage.
	var tlsConfig *tls.Config
	if cfg.Web.TLSCertFile != "" {
		certs, err := newCertReloader(cfg.Web.TLSCertFile, cfg.Web.TLSKeyFile, a.log.With("component", "tls"))
		if err != nil {
			return err
		}
		tlsConfig = newTLSConfig(certs)
	}

	if a.unlock, err = prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	if a.stateDB, err = openState(cfg.DataDir); err != nil {
		return err
	}
	if a.users, a.authNotice, err = openAuth(cfg, a.stateDB); err != nil {
		return err
	}
	if cfg.Auth == AuthNone {
		a.log.Warn("authentication is disabled (--auth=none): every endpoint is open")
	}
	// The Prometheus configuration is read now for its remote_write,
	// which must run before anything is stored; one that does not load
	// stops the start before the storage opens.
	promConfig, err := scrapeSource(cfg).Load()
	if err != nil {
		if cfg.Files.Prometheus != "" {
			return fmt.Errorf("--config.prometheus: %w", err)
		}
		return err
	}
	a.remote = newRemoteWrite(cfg, a.build.Version, a.log)
	t0 := time.Now()
	if a.storage, err = openStorage(cfg, a.remote.m); err != nil {
		return err
	}
	a.log.Info("storage opened", "path", a.storage.Path(), "retention", cfg.Retention, "took", time.Since(t0).Round(time.Millisecond))
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := a.remote.start(promConfig); err != nil {
		return err
	}

	if a.pushed, err = startPushgateway(cfg, a.storage, a.log); err != nil {
		return err
	}

	promReg := prometheus.NewRegistry()
	p := parser.NewParser(a.features.Parser)
	engineOpts, err := newEngineOpts(cfg, a.features, p, promReg, a.log)
	if err != nil {
		return err
	}
	a.engine = promql.NewEngine(engineOpts)
	a.parts = newPartEngines(engineOpts)
	a.metrics = newSelfMetrics(a.build, a.start, promReg)
	a.backups = &backupRunner{metrics: newBackupMetrics(a.metrics.set)}
	if cfg.Backup.Dir != "" {
		if a.backupJob, err = newBackupJob(a, cfg.Backup); err != nil {
			return err
		}
	}

	if a.listener, err = listen(cfg.Listen); err != nil {
		return err
	}
	a.url = browseURL(cfg.Listen, a.listener.Addr())
	if tlsConfig != nil {
		a.url = "https://" + strings.TrimPrefix(a.url, "http://")
	}
	// The demo's exporter is scraped from the start; it serves nothing
	// until the demo's history is written.
	var demoExporter *demo.Exporter
	if cfg.Demo {
		demoExporter = &demo.Exporter{}
	}
	if a.scrape, err = startScrape(cfg, a.storage, a.url, demoExporter, a.log); err != nil {
		return err
	}
	a.components = append(a.components, a.scrape)
	// remote_write reloads after the scrape capability, which re-reads
	// prometheus.yml.
	a.remote.prom = a.scrape.s.Config
	a.components = append(a.components, a.remote)
	if a.notify, err = startNotify(cfg, a.stateDB, externalURL(cfg, a.url), a.build, a.log); err != nil {
		return err
	}
	a.components = append(a.components, a.notify)
	if a.rules, err = startRules(cfg, a.engine, a.storage, a.stateDB, p, externalURL(cfg, a.url), a.scrape.ruleFiles, a.scrape.evaluationInterval(), a.notify, a.log); err != nil {
		return err
	}
	a.components = append(a.components, a.rules)
	a.notify.watchRules(a.rules.m)
	a.events = ingest.NewRecorder(a.storage, nil)
	if a.eventsRun, err = startEvents(a.events, a.stateDB, a.log); err != nil {
		return err
	}
	if _, err := a.eventsRun.Reload(cfg); err != nil {
		return err
	}
	a.components = append(a.components, a.eventsRun)
	if cfg.Demo {
		a.demo = startDemo(a.storage, a.events, demoExporter, clock.Wall{}, cfg.DemoBackfill.Std(), a.log, a.rules.backfillRecordings)
	}
	// Last of the components: its reload loads what it can and still
	// reports the files it skipped, after the others have reloaded.
	if a.dashboards, err = startDashboards(cfg, a.stateDB, p, a.log); err != nil {
		return err
	}
	a.components = append(a.components, a.dashboards)
	if err := a.startJobs(cfg); err != nil {
		return err
	}

	handler := web.New(web.Options{
		MaxRequestBodyBytes: int64(cfg.Web.MaxRequestBytes),
		MaxRequestSamples:   cfg.Limits.MaxSamplesPerRequest,
		QueryTimeout:        cfg.Query.Timeout.Std(),
		LookbackDelta:       cfg.Query.LookbackDelta.Std(),
		SlowQueryThreshold:  cfg.Query.SlowLogThreshold.Std(),
		ExternalURL:         externalURL(cfg, a.url),
	}, web.Deps{
		Storage:        a.storage,
		Engine:         a.engine,
		PartEngine:     a.parts.engine,
		Parser:         p,
		Build:          a.build,
		Flags:          cfg.FlagValues(),
		Config:         a.configYAML,
		ExternalLabels: a.externalLabels,
		Reloader:       a,
		Ready:          a.Ready,
		StartTime:      a.start,
		Pushgateway:    a.pushed.groups,
		Auth:           a.users,
		Backup:         backupAPI{a},
		Rules:          a.rules,
		Targets:        a.scrape.s,
		Alerts:         a.rules,
		History:        a.rules,
		Jobs:           a.jobs,
		Events:         a.events,
		Dashboards:     a.dashboards.store,
		RemoteWrite:    a.remote,
		Alertmanager:   a.notify.d,
		Alertmanagers:  a.notify,
		Logger:         a.log,
	})

	baseCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.server = &http.Server{
		Handler:           a.track(handler),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         tlsConfig,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(a.log.With("component", "http").Handler(), slog.LevelDebug),
	}
	srv, ln := a.server, a.listener
	go func() {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "") // HTTP/2 and HTTP/1.1
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.errc <- fmt.Errorf("the HTTP server stopped: %w", err)
		}
	}()
	a.ready.Store(true)
	a.log.Info("started", "version", a.build.Version, "url", a.url, "took", time.Since(a.start).Round(time.Millisecond))
	return nil
}

// openStorage opens the TSDB, turning the panics VictoriaMetrics raises on
// unusable directories into an error.
func openStorage(cfg Config, tap storage.Tap) (s *storage.Storage, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot open the storage in %s: %v", cfg.DataDir, r)
		}
	}()
	s, err = storage.Open(cfg.DataDir, storage.Options{
		Retention:          cfg.Retention.Std(),
		MemoryAllowedBytes: int64(cfg.Memory.AllowedBytes),
		MaxSeriesPerQuery:  cfg.Query.MaxSeries,
		MaxSeries:          cfg.Limits.MaxSeries,
		MaxSeriesPerMetric: cfg.Limits.MaxSeriesPerMetric,
		Tap:                tap,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open the storage: %w", err)
	}
	return s, nil
}

// newEngineOpts are the options of the one PromQL engine that the API,
// the rules and the dashboards share. Its metrics go to reg, not to
// client_golang's global registry.
func newEngineOpts(cfg Config, f Features, p parser.Parser, reg prometheus.Registerer, log *slog.Logger) (promql.EngineOpts, error) {
	// The tracker bounds concurrent queries and keeps the running ones in
	// a file, so that the next start logs those a crash interrupted.
	tracker, err := promql.NewActiveQueryTracker(cfg.DataDir, cfg.Query.MaxConcurrency, log.With("component", "active query tracker"))
	if err != nil {
		return promql.EngineOpts{}, fmt.Errorf("cannot create the active query log in %s: %w", cfg.DataDir, err)
	}
	subqueryStep := noStepSubqueryInterval.Milliseconds()
	return promql.EngineOpts{
		Logger:                   log.With("component", "query engine"),
		Reg:                      reg,
		MaxSamples:               cfg.Query.MaxSamples,
		Timeout:                  cfg.Query.Timeout.Std(),
		ActiveQueryTracker:       tracker,
		LookbackDelta:            cfg.Query.LookbackDelta.Std(),
		NoStepSubqueryIntervalFn: func(int64) int64 { return subqueryStep },
		// Always on for regular PromQL since Prometheus 2.33.
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		EnablePerStepStats:       f.PerStepStats,
		EnableDelayedNameRemoval: f.DelayedNameRemoval,
		Parser:                   p,
	}, nil
}

// partEngines evaluate the parts of range queries that the API splits
// across cores: for n parts, an engine like the shared one whose
// --query.max-samples is an n-th of it, so that a split query holds no
// more samples at once than one evaluated whole may. They share the
// shared engine's tracker, so every part counts against
// --query.max-concurrency; their metrics are not registered (one
// registry takes one engine's), and vigil_query_duration_seconds counts
// split queries like the others. They own nothing to close.
type partEngines struct {
	opts    promql.EngineOpts
	mu      sync.Mutex
	engines map[int]*promql.Engine
}

func newPartEngines(opts promql.EngineOpts) *partEngines {
	opts.Reg = nil
	return &partEngines{opts: opts, engines: map[int]*promql.Engine{}}
}

// engine is the engine of the parts of a query split in n.
func (e *partEngines) engine(n int) *promql.Engine {
	e.mu.Lock()
	defer e.mu.Unlock()
	ng := e.engines[n]
	if ng == nil {
		opts := e.opts
		opts.MaxSamples = max(1, opts.MaxSamples/n)
		ng = promql.NewEngine(opts)
		e.engines[n] = ng
	}
	return ng
}

// track counts the requests being served, so that Stop can wait for the
// last of them before it closes the storage under them.
func (a *Appliance) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.inflight.Add(1)
		defer a.inflight.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// Ready reports whether Start has finished and Stop has not begun.
func (a *Appliance) Ready() bool { return a.ready.Load() }

// URL is where a browser on this machine reaches Vigil, e.g.
// http://127.0.0.1:9595; valid after Start.
func (a *Appliance) URL() string { return a.url }

// Errors delivers a failure that ends the appliance while it runs, such
// as the HTTP server stopping on its own. The caller should then Stop.
func (a *Appliance) Errors() <-chan error { return a.errc }

// Stop stops accepting connections, lets the requests in flight finish
// (up to DrainTimeout, or ctx's deadline if sooner), then closes the query
// engine, the storage, which flushes every sample appended, and the state
// file.
func (a *Appliance) Stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state != stateStarted {
		return nil
	}
	return a.shutdown(ctx)
}

// shutdown stops whatever has started, in reverse order; a.mu is held.
func (a *Appliance) shutdown(ctx context.Context) error {
	a.state = stateStopped
	a.ready.Store(false)
	var errs []error
	if a.server != nil {
		a.log.Info("stopping: no longer accepting connections; draining HTTP requests", "timeout", DrainTimeout)
		drainCtx, cancel := context.WithTimeout(ctx, DrainTimeout)
		err := a.server.Shutdown(drainCtx)
		cancel()
		if err != nil {
			a.log.Warn("HTTP requests still running after the drain timeout; cancelling them", "requests", a.inflight.Load())
			a.cancel()
			a.server.Close()
			if !a.waitIdle(5 * time.Second) {
				a.log.Warn("HTTP requests did not finish after cancelling; closing the storage anyway", "requests", a.inflight.Load())
			}
		}
	} else if a.listener != nil {
		a.listener.Close()
	}
	if a.cancel != nil {
		a.cancel()
	}
	if a.jobs != nil {
		// First: a scheduled backup in progress is cancelled and lets go
		// of the backup lock.
		a.jobs.stop()
	}
	if a.backups != nil {
		// A backup asked through the API was cancelled with its request;
		// wait for it to let go of the storage. Nothing unlocks: the
		// appliance does not start again.
		a.backups.mu.Lock()
	}
	if a.demo != nil {
		a.demo.close()
	}
	if a.scrape != nil {
		a.scrape.stop()
	}
	if a.rules != nil {
		a.rules.stop()
	}
	if a.notify != nil {
		a.notify.stop()
	}
	if a.engine != nil {
		if err := a.engine.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the query engine: %w", err))
		}
	}
	if a.pushed != nil {
		a.pushed.close()
	}
	if a.eventsRun != nil {
		a.eventsRun.close()
	}
	if a.storage != nil {
		a.log.Info("stopping: flushing and closing the storage")
		t0 := time.Now()
		if err := a.storage.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the storage: %w", err))
		}
		a.log.Info("storage closed", "took", time.Since(t0).Round(time.Millisecond))
	}
	if a.remote != nil {
		// After the storage: every sample stored is queued by now.
		a.remote.stop()
	}
	if a.stateDB != nil {
		if err := a.stateDB.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the state file: %w", err))
		}
	}
	if a.metrics != nil {
		a.metrics.unregister()
	}
	if a.unlock != nil {
		a.unlock()
	}
	a.log.Info("stopped")
	return errors.Join(errs...)
}

// waitIdle waits until no request is being served, up to timeout.
func (a *Appliance) waitIdle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for a.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Reload re-reads the --config file, keeping the flags given on the
// command line in force. A configuration that does not load or validate
// is rejected and the running one kept. The components reload in place,
// in order (the first that fails ends the reload); settings that changed
// and no component applies are logged as needing a restart.
func (a *Appliance) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	what := "the configuration"
	if a.cfg.ConfigFile != "" {
		what = a.cfg.ConfigFile
	}
	next, err := a.cfg.reread()
	if err == nil {
		err = next.Validate()
	}
	if err != nil {
		a.recordReload(false)
		a.log.Error("configuration reload failed; keeping the running configuration", "file", a.cfg.ConfigFile, "err", err)
		return fmt.Errorf("reloading %s: %w", what, err)
	}
	for _, c := range a.components {
		if _, err := c.Reload(next); err != nil {
			a.recordReload(false)
			return fmt.Errorf("reloading %s: %w", what, err)
		}
	}
	a.recordReload(true)
	if changed := changedSettings(a.cfg, next); len(changed) > 0 {
		a.log.Warn("configuration reloaded; these settings change only after a restart", "file", a.cfg.ConfigFile, "settings", changed)
	} else if a.cfg.ConfigFile == "" {
		a.log.Info("configuration reloaded; no --config file, nothing to re-read")
	} else {
		a.log.Info("configuration reloaded; nothing reloadable changed", "file", a.cfg.ConfigFile)
	}
	return nil
}

func (a *Appliance) recordReload(ok bool) {
	now := time.Now()
	a.lastReloadOK.Store(ok)
	if ok {
		a.lastReloadAt.Store(now.UnixNano())
	}
	if a.metrics != nil {
		a.metrics.reloaded(ok, now)
	}
}

// LastReload reports whether the last configuration load succeeded and
// when the last successful one was, for web's status/runtimeinfo.
func (a *Appliance) LastReload() (success bool, at time.Time) {
	return a.lastReloadOK.Load(), time.Unix(0, a.lastReloadAt.Load())
}

// reloadableFlags are the settings that Reload applies in place.
var reloadableFlags = map[string]bool{
	"rules.files":                              true,
	"rules.builtin":                            true,
	"jobs.update-all-metrics.schedule":         true,
	"jobs.update-performance-metrics.schedule": true,
	"jobs.cleanup.schedule":                    true,
	"jobs.cleanup.snapshot-max-age":            true,
	"backup.schedule":                          true,
	"dashboards.dir":                           true,
}

// changedSettings lists, by flag name, the settings that differ and that
// only a restart applies.
func changedSettings(old, next Config) []string {
	a, b := old.FlagValues(), next.FlagValues()
	var changed []string
	for name, v := range a {
		if b[name] != v && !reloadableFlags[name] {
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	return changed
}

// configYAML is the running configuration as a --config file would hold
// it, for /api/v1/status/config.
func (a *Appliance) configYAML() string {
	out, err := a.cfg.MarshalFile()
	if err != nil {
		return fmt.Sprintf("# cannot render the configuration: %v\n", err)
	}
	return string(out)
}
