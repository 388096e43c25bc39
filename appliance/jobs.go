package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/robfig/cron/v3"

	"github.com/vigil-monitoring/vigil/dashboards"
	"github.com/vigil-monitoring/vigil/internal/clock"
	"github.com/vigil-monitoring/vigil/rules"
	"github.com/vigil-monitoring/vigil/web"
)

// Vigil's scheduled jobs, which Celery beat ran before for the Panic
// platform: every minute the platform's health and summaries, every five
// minutes the firms' completion rates, daily the clean-up of old metrics,
// and the backups when --backup.dir is set. Their schedules are cron
// specs in the config (jobs:, backup.schedule), checked at start and at
// reload, and a reload applies new schedules at once. Each job counts its
// runs and failures in Vigil's self-metrics (vigil_job_failures_total{job}
// makes a failing job alertable) and reports its last run on
// /api/v1/status/jobs.

// The names of the jobs, as /api/v1/status/jobs and the self-metrics
// spell them.
const (
	jobUpdateAllMetrics         = "update-all-metrics"
	jobUpdatePerformanceMetrics = "update-performance-metrics"
	jobCleanup                  = "cleanup-old-metrics"
	jobBackup                   = "backup"
)

// JobsConfig holds the schedules of the platform's jobs and the clean-up's
// settings. A schedule is a cron spec of five fields (MINUTE HOUR DAY
// MONTH WEEKDAY) in the machine's time zone, or @hourly, @daily,
// @every 10m.
type JobsConfig struct {
	UpdateAllMetrics         JobConfig     `yaml:"update_all_metrics"`
	UpdatePerformanceMetrics JobConfig     `yaml:"update_performance_metrics"`
	Cleanup                  CleanupConfig `yaml:"cleanup"`
}

// JobConfig is the schedule of one job.
type JobConfig struct {
	Schedule string `yaml:"schedule"`
}

func defaultJobsConfig() JobsConfig {
	return JobsConfig{
		UpdateAllMetrics:         JobConfig{Schedule: "* * * * *"},
		UpdatePerformanceMetrics: JobConfig{Schedule: "*/5 * * * *"},
		Cleanup:                  defaultCleanupConfig(),
	}
}

// schedules are the jobs' schedules by job name, with the flag that sets
// each.
func (c Config) schedules() []jobSchedule {
	s := []jobSchedule{
		{jobUpdateAllMetrics, "jobs.update-all-metrics.schedule", c.Jobs.UpdateAllMetrics.Schedule},
		{jobUpdatePerformanceMetrics, "jobs.update-performance-metrics.schedule", c.Jobs.UpdatePerformanceMetrics.Schedule},
		{jobCleanup, "jobs.cleanup.schedule", c.Jobs.Cleanup.Schedule},
	}
	if c.Backup.Dir != "" {
		s = append(s, jobSchedule{jobBackup, "backup.schedule", c.Backup.Schedule})
	}
	return s
}

type jobSchedule struct{ job, flag, spec string }

// parseSchedule reads a cron spec as the jobs take it.
func parseSchedule(spec string) (cron.Schedule, error) {
	return cron.ParseStandard(spec)
}

// scheduleHint is what a bad schedule's message says to write instead.
const scheduleHint = "write a cron spec of five fields, MINUTE HOUR DAY MONTH WEEKDAY, such as \"*/5 * * * *\" for every five minutes or \"0 3 * * *\" for 03:00 every day, or @hourly, @daily, @every 10m"

// validate checks the jobs' settings for Validate.
func (c *JobsConfig) validate(bad func(flag string, value any, format string, args ...any), badKey func(key string, format string, args ...any)) {
	for _, s := range (Config{Jobs: *c}).schedules() {
		if _, err := parseSchedule(s.spec); err != nil {
			bad(s.flag, quoteIfEmpty(s.spec), "not a schedule (%v); %s", err, scheduleHint)
		}
	}
	c.Cleanup.validate(bad, badKey)
}

// JobResult is the outcome of a job's last run.
type JobResult string

// The job results.
const (
	JobNeverRun JobResult = "never run"
	JobOK       JobResult = "ok"
	JobFailed   JobResult = "failed"
)

// jobFunc runs a job as of now and says what it did.
type jobFunc func(ctx context.Context, now time.Time) (detail string, err error)

// scheduledJob is one job and the state of its last run.
type scheduledJob struct {
	name string
	run  jobFunc
	// running is held for the whole of a run, scheduled or asked for:
	// runs of one job never overlap.
	running sync.Mutex
	// wake tells the job's loop that its schedule changed.
	wake chan struct{}

	mu       sync.Mutex // guards the fields below
	spec     string
	sched    cron.Schedule
	result   JobResult
	detail   string // what it computed, or its error
	lastRun  time.Time
	duration time.Duration

	runs, failures *metrics.Counter
	lastSuccess    *metrics.Gauge
	lastDuration   *metrics.Gauge
}

// jobRunner runs the jobs on their schedules, on its clock.
type jobRunner struct {
	jobs   []*scheduledJob
	clock  clock.Clock
	ctx    context.Context // cancelled by stop, which ends runs in progress
	cancel context.CancelFunc
	done   sync.WaitGroup
	log    *slog.Logger
}

var (
	_ web.JobsProvider = (*jobRunner)(nil)
	_ component        = (*jobRunner)(nil)
)

// newJobRunner prepares a runner on clk; add jobs, then start it.
func newJobRunner(clk clock.Clock, log *slog.Logger) *jobRunner {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobRunner{clock: clk, ctx: ctx, cancel: cancel, log: log.With("component", "jobs")}
}

// add registers a job on the schedule spec, which Validate has checked.
func (r *jobRunner) add(set *metrics.Set, name, spec string, run jobFunc) error {
	sched, err := parseSchedule(spec)
	if err != nil {
		return fmt.Errorf("job %s: %q is not a schedule: %w", name, spec, err)
	}
	r.jobs = append(r.jobs, &scheduledJob{
		name: name, run: run, wake: make(chan struct{}, 1), spec: spec, sched: sched, result: JobNeverRun,
		runs:         set.NewCounter(fmt.Sprintf(`vigil_job_runs_total{job=%q}`, name)),
		failures:     set.NewCounter(fmt.Sprintf(`vigil_job_failures_total{job=%q}`, name)),
		lastSuccess:  set.NewGauge(fmt.Sprintf(`vigil_job_last_success_timestamp_seconds{job=%q}`, name), nil),
		lastDuration: set.NewGauge(fmt.Sprintf(`vigil_job_last_duration_seconds{job=%q}`, name), nil),
	})
	return nil
}

// start runs every job's loop.
func (r *jobRunner) start() {
	for _, j := range r.jobs {
		r.done.Add(1)
		go func() {
			defer r.done.Done()
			r.loop(j)
		}()
	}
}

// loop runs j at each time its schedule gives, until stop. A run that
// takes longer than the interval makes the job skip the times it missed,
// as cron's SkipIfStillRunning would; a new schedule takes effect at once.
func (r *jobRunner) loop(j *scheduledJob) {
	for {
		j.mu.Lock()
		next := j.sched.Next(r.clock.Now())
		j.mu.Unlock()
		ctx, cancel := context.WithCancel(r.ctx)
		waited := make(chan error, 1)
		go func() { waited <- r.clock.Wait(ctx, next) }()
		select {
		case <-j.wake:
			cancel()
			<-waited
			continue
		case err := <-waited:
			cancel()
			if err != nil {
				return // stopped
			}
			select {
			case <-j.wake: // rescheduled just as the time came
				continue
			default:
			}
		}
		// As of the time it wakes: later than next after a suspend.
		r.runJob(j, r.clock.Now())
	}
}

// stop ends the loops, cancelling runs in progress, and waits for them.
func (r *jobRunner) stop() {
	r.cancel()
	r.done.Wait()
}

// runJob runs j as of now and records the outcome.
func (r *jobRunner) runJob(j *scheduledJob, now time.Time) {
	j.running.Lock()
	defer j.running.Unlock()
	t0 := time.Now()
	detail, err := j.run(r.ctx, now)
	took := time.Since(t0)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lastRun, j.duration = now, took
	j.runs.Inc()
	j.lastDuration.Set(took.Seconds())
	if err != nil {
		j.result, j.detail = JobFailed, err.Error()
		j.failures.Inc()
		r.log.Warn("job failed", "job", j.name, "err", err)
		return
	}
	j.result, j.detail = JobOK, detail
	j.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
	r.log.Debug("job done", "job", j.name, "took", took, "detail", detail)
}

// Reload applies the schedules of cfg: a job whose schedule changed is
// rescheduled at once. Validate has checked them.
func (r *jobRunner) Reload(cfg Config) (bool, error) {
	changed := false
	for _, s := range cfg.schedules() {
		j := r.job(s.job)
		if j == nil {
			continue // the backup job comes and goes with a restart only
		}
		sched, err := parseSchedule(s.spec)
		if err != nil {
			return false, fmt.Errorf("--%s=%s: %w", s.flag, s.spec, err)
		}
		j.mu.Lock()
		if j.spec != s.spec {
			j.spec, j.sched, changed = s.spec, sched, true
			r.log.Info("job rescheduled", "job", j.name, "schedule", s.spec, "next", sched.Next(r.clock.Now()).Format(time.RFC3339))
			select {
			case j.wake <- struct{}{}:
			default:
			}
		}
		j.mu.Unlock()
	}
	return changed, nil
}

func (r *jobRunner) job(name string) *scheduledJob {
	for _, j := range r.jobs {
		if j.name == name {
			return j
		}
	}
	return nil
}

// Jobs is web's JobsProvider.
func (r *jobRunner) Jobs() []web.Job {
	out := make([]web.Job, 0, len(r.jobs))
	now := r.clock.Now()
	for _, j := range r.jobs {
		out = append(out, j.view(now))
	}
	return out
}

func (j *scheduledJob) view(now time.Time) web.Job {
	j.mu.Lock()
	defer j.mu.Unlock()
	return web.Job{Name: j.name, Schedule: j.spec, LastRun: j.lastRun, Duration: j.duration,
		Result: string(j.result), Detail: j.detail, NextRun: j.sched.Next(now)}
}

// RunJob is web's JobsProvider: it runs the named job now, after a run in
// progress if there is one.
func (r *jobRunner) RunJob(name string) (web.Job, bool) {
	j := r.job(name)
	if j == nil {
		return web.Job{}, false
	}
	r.runJob(j, r.clock.Now())
	return j.view(r.clock.Now()), true
}

// startJobs schedules the appliance's jobs on the wall clock.
func (a *Appliance) startJobs(cfg Config) error {
	r := newJobRunner(clock.Wall{}, a.log)
	sum := dashboards.Summaries{Query: dashboards.QueryFunc(rules.EngineQuery(a.engine, a.storage))}
	if err := addPlatformJobs(r, a.metrics.set, cfg.Jobs, sum, a.storage); err != nil {
		return err
	}
	c := &cleanup{st: a.storage, events: a.events, cfg: cfg.Jobs.Cleanup}
	if err := r.add(a.metrics.set, jobCleanup, cfg.Jobs.Cleanup.Schedule, c.run); err != nil {
		return err
	}
	if a.backupJob != nil {
		if err := r.add(a.metrics.set, jobBackup, cfg.Backup.Schedule, a.backupJob.run); err != nil {
			return err
		}
	}
	a.jobs = r
	a.components = append(a.components, r, c)
	r.start()
	return nil
}
