// Package scrape pulls metrics the way Prometheus does, from a
// prometheus.yml, through VictoriaMetrics lib/promscrape, and appends what
// it scrapes to Vigil's storage. It also scrapes Vigil itself (job
// "vigil") and reports the targets for /api/v1/targets.
package scrape

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/VictoriaMetrics/metrics"
	"gopkg.in/yaml.v2"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/web"
)

// SelfJob is the job under which Vigil scrapes its own /metrics, unless
// the prometheus.yml has a job of that name.
const SelfJob = "vigil"

// defaultSelfInterval is the self-scrape interval when prometheus.yml sets
// no global scrape_interval (Prometheus' own default, 1m, is too coarse
// for the appliance's dashboards).
const defaultSelfInterval = 15 * time.Second

// DefaultFileSDCheckInterval is how often file_sd_configs files are
// re-read: Prometheus' discovery applies changes within 5s too.
const DefaultFileSDCheckInterval = 5 * time.Second

// Appender is the storage the scraped samples go to.
type Appender interface {
	Append(rows *storage.Rows) error
	AppendMetadata(md []storage.Metadata)
}

// Options configure a Scraper.
type Options struct {
	Storage Appender
	Logger  *slog.Logger
	// SelfInstance is the instance label of the self-scrape target, the
	// host:port Vigil is reached at (e.g. 127.0.0.1:9595).
	SelfInstance string
	// FileSDCheckInterval is how often file_sd files are re-read;
	// 0 means DefaultFileSDCheckInterval. It is process-wide: the first
	// Scraper started in the process decides it.
	FileSDCheckInterval time.Duration
	// Internal are targets that this process serves (the demo's
	// exporter), scraped like the self-scrape: over 127.0.0.1, behind a
	// token made at start. A job of prometheus.yml with the same name
	// wins over them.
	Internal []InternalTarget
}

// InternalTarget is a target this process serves: its /metrics is
// Handler, scraped every Interval under Job with the instance label
// Instance.
type InternalTarget struct {
	Job, Instance string
	Interval      time.Duration
	Handler       http.Handler
}

// Scraper runs the scrape jobs of one prometheus.yml plus the self-scrape.
// Create it with New, Start it once, Reload it any number of times and
// Stop it once. Only one Scraper can run per process (see lib.go).
type Scraper struct {
	opts     Options
	log      *slog.Logger
	self     *selfTarget
	internal []*selfTarget // of opts.Internal, in its order

	mu      sync.Mutex // serializes Start, Reload and Stop
	running bool
	cfg     atomic.Pointer[PrometheusConfig] // nil without a prometheus.yml
	jobs    atomic.Pointer[[]string]         // the job names scraped, the self job included

	targets targetStates

	set         *metrics.Set
	appended    *metrics.Counter
	appendFails *metrics.Counter
	lastWarn    atomic.Int64 // Unix nanoseconds of the last append warning
}

// The interfaces of web that Scraper implements.
var (
	_ web.TargetsProvider        = (*Scraper)(nil)
	_ web.TargetMetadataProvider = (*Scraper)(nil)
)

// New prepares a Scraper; nothing runs until Start.
func New(opts Options) *Scraper {
	if opts.FileSDCheckInterval <= 0 {
		opts.FileSDCheckInterval = DefaultFileSDCheckInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Scraper{opts: opts, log: opts.Logger.With("component", "scrape")}
	s.set = metrics.NewSet()
	s.appended = s.set.NewCounter("vigil_scrape_samples_appended_total")
	s.appendFails = s.set.NewCounter("vigil_scrape_append_failures_total")
	return s
}

// Start loads src (the zero Source for none: only the self-scrape runs)
// and starts scraping. A configuration that does not validate is an error
// and nothing runs.
func (s *Scraper) Start(src Source) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pc, err := src.Load()
	if err != nil {
		return err
	}
	token, err := randomToken()
	if err != nil {
		return err
	}
	if s.self, err = startSelfTarget(token); err != nil {
		return err
	}
	for _, it := range s.opts.Internal {
		t, err := startLocalTarget(token, it.Handler)
		if err != nil {
			s.closeLocal()
			return err
		}
		s.internal = append(s.internal, t)
	}
	if err := startLibrary(s.opts.FileSDCheckInterval); err != nil {
		s.closeLocal()
		return err
	}
	if err := attach(s); err != nil {
		s.closeLocal()
		return err
	}
	if err := s.apply(pc); err != nil {
		detach(s)
		s.closeLocal()
		return err
	}
	s.targets.reset()
	metrics.RegisterSet(s.set)
	s.running = true
	return nil
}

// Reload loads src and, if it validates, makes it the running
// configuration: jobs and targets that stay keep running with their
// state. On error the running configuration is kept. changed reports
// whether the scrape jobs changed.
func (s *Scraper) Reload(src Source) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return false, nil
	}
	pc, err := src.Load()
	if err != nil {
		s.log.Error("prometheus config reload failed; keeping the running scrape configuration", "file", cmp.Or(src.File, src.In), "err", err)
		return false, err
	}
	before, _ := yaml.Marshal(s.render(s.cfg.Load()))
	if err := s.apply(pc); err != nil {
		return false, err
	}
	after, _ := yaml.Marshal(s.render(pc))
	changed = string(before) != string(after)
	if changed {
		s.log.Info("scrape configuration reloaded", "file", cmp.Or(src.File, src.In), "jobs", len(*s.jobs.Load()))
	}
	return changed, nil
}

// apply hands pc (nil: only the self-scrape) to the library.
func (s *Scraper) apply(pc *PrometheusConfig) error {
	doc := s.render(pc)
	data, err := yaml.Marshal(doc)
	if err != nil {
		return fmt.Errorf("cannot render the scrape configuration: %w", err)
	}
	writeLibraryConfig(data)
	var jobs []string
	if pc != nil {
		jobs = slices.Clone(pc.JobNames)
	}
	if !slices.Contains(jobs, SelfJob) {
		jobs = append(jobs, SelfJob)
	}
	for _, it := range s.opts.Internal {
		if !slices.Contains(jobs, it.Job) {
			jobs = append(jobs, it.Job)
		}
	}
	s.cfg.Store(pc)
	s.jobs.Store(&jobs)
	return nil
}

// render builds the configuration lib/promscrape reads: pc's global and
// jobs as validated, plus the self-scrape job unless pc has one.
func (s *Scraper) render(pc *PrometheusConfig) yaml.MapSlice {
	var doc yaml.MapSlice
	var jobs []any
	selfInterval := defaultSelfInterval
	hasSelf := false
	if pc != nil {
		if len(pc.libGlobal) > 0 {
			doc = append(doc, yaml.MapItem{Key: "global", Value: pc.libGlobal})
		}
		for _, j := range pc.jobs {
			jobs = append(jobs, j)
		}
		hasSelf = slices.Contains(pc.JobNames, SelfJob)
		selfInterval = cmpDuration(pc.globalInterval, defaultSelfInterval)
	}
	if !hasSelf {
		jobs = append(jobs, s.self.job(selfInterval, s.opts.SelfInstance))
	}
	jobs = append(jobs, s.internalJobs(pc)...)
	return append(doc, yaml.MapItem{Key: "scrape_configs", Value: jobs})
}

// internalJobs are the scrape configs of opts.Internal, a job for each
// job name that pc does not have.
func (s *Scraper) internalJobs(pc *PrometheusConfig) []any {
	var jobs []any
	var names []string
	for _, it := range s.opts.Internal {
		if !slices.Contains(names, it.Job) {
			names = append(names, it.Job)
		}
	}
	for _, name := range names {
		if pc != nil && slices.Contains(pc.JobNames, name) {
			continue
		}
		var ts []*selfTarget
		var instances []string
		interval := defaultSelfInterval
		for i, it := range s.opts.Internal {
			if it.Job == name {
				ts, instances = append(ts, s.internal[i]), append(instances, it.Instance)
				interval = cmp.Or(it.Interval, interval)
			}
		}
		jobs = append(jobs, internalJob(name, interval, s.self.token, ts, instances))
	}
	return jobs
}

// closeLocal stops serving the self-scrape and the internal targets.
func (s *Scraper) closeLocal() {
	if s.self != nil {
		s.self.close()
	}
	for _, t := range s.internal {
		t.close()
	}
	s.internal = nil
}

// Config returns the running prometheus.yml configuration, nil when Vigil
// runs without one. The caller must not modify it.
func (s *Scraper) Config() *PrometheusConfig { return s.cfg.Load() }

// Stop stops scraping: no sample is appended after it returns. The
// library's scrapers themselves stop within a second (see lib.go).
func (s *Scraper) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	s.running = false
	detach(s)
	s.closeLocal()
	s.targets.reset()
	metrics.UnregisterSet(s.set, false)
	return nil
}

// append stores what one push of the library carries; info is what
// examine found in it. wr is valid only during the call.
func (s *Scraper) append(wr *prompb.WriteRequest, info pushInfo) {
	rows := rowsPool.Get().(*storage.Rows)
	defer rowsPool.Put(rows)
	var memo *storage.SeriesMemo
	if info.kind == pushScrape && info.up {
		// A target's scrapes list its series in the same order each
		// time: its memo spares the checks of those seen last time.
		memo = s.targets.takeMemo(info.target)
		defer s.targets.putMemo(info.target, memo)
	}
	firstErr, notUTF8 := addRows(rows, wr, info, memo)
	if info.up && notUTF8 != nil {
		// Prometheus' parser refuses a label that is not UTF-8, and
		// lib/promscrape's takes it: the scrape fails as a malformed one.
		// Its staleness markers go without the memo, which keeps the
		// last scrape stored.
		failScrape(wr)
		info.up, info.parseErr = false, truncate("invalid UTF-8 in a scraped series: "+notUTF8.Error(), maxParseErrorLen)
		firstErr, _ = addRows(rows, wr, info, nil)
	}
	n := rows.Len()
	if err := s.opts.Storage.Append(rows); err != nil && firstErr == nil {
		firstErr = err
	}
	s.appended.Add(n)
	if firstErr != nil {
		s.appendFails.Inc()
		s.warnRarely("cannot store scraped samples", firstErr)
	}
	switch info.kind {
	case pushScrape:
		if s.targets.scraped(info, wr.Metadata) {
			s.opts.Storage.AppendMetadata(storageMetadata(wr.Metadata))
		}
	case pushGone:
		s.targets.forget(info.target)
	}
}

// addRows puts the samples of wr into rows and returns the first error of
// a series that cannot be stored, and the first about a label that is not
// UTF-8. The staleness markers of series that are not UTF-8 are left out
// without an error: they come from a scrape that failed for it, and were
// never stored. With memo, rows are the memo's next batch.
func addRows(rows *storage.Rows, wr *prompb.WriteRequest, info pushInfo, memo *storage.SeriesMemo) (firstErr, notUTF8 error) {
	rows.Reset()
	if memo != nil {
		rows.UseMemo(memo)
	}
	for i := range wr.Timeseries {
		ts := &wr.Timeseries[i]
		err := rows.AddSeries(ts.Labels, ts.Samples)
		if err == nil {
			continue
		}
		isUTF8 := errors.Is(err, storage.ErrNotUTF8)
		if isUTF8 && notUTF8 == nil {
			notUTF8 = err
		}
		if firstErr == nil && (info.kind == pushScrape || !isUTF8) {
			firstErr = err
		}
	}
	return firstErr, notUTF8
}

// warnRarely logs at most one warning every 10 seconds: a full disk or a
// series limit fails every scrape.
func (s *Scraper) warnRarely(msg string, err error) {
	now := time.Now().UnixNano()
	last := s.lastWarn.Load()
	if now-last < int64(10*time.Second) || !s.lastWarn.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn(msg, "err", err)
}

var rowsPool = sync.Pool{New: func() any { return new(storage.Rows) }}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
