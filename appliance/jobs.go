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
	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/web"
)

// The Panic platform's scheduled jobs, which Celery beat ran before: every
// minute the platform's health and summaries, every five minutes the firms'
// completion rates. Each writes what it computed as series of its own, so
// that dashboards and rules can use them, and counts its runs and failures
// in Vigil's self-metrics (vigil_job_failures_total{job=...}).

// JobResult is the outcome of a job's last run.
type JobResult string

// The job results.
const (
	JobNeverRun JobResult = "never run"
	JobOK       JobResult = "ok"
	JobFailed   JobResult = "failed"
)

// platformJob is one scheduled job.
type platformJob struct {
	name     string
	schedule string
	sched    cron.Schedule
	run      func(ctx context.Context, now time.Time) (string, error)

	mu       sync.Mutex
	result   JobResult
	detail   string // what it computed, or its error
	lastRun  time.Time
	duration time.Duration

	runs, failures *metrics.Counter
	lastSuccess    *metrics.Gauge
}

// jobRunner runs the platform jobs on their schedules.
type jobRunner struct {
	jobs   []*platformJob
	cron   *cron.Cron
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
}

var _ web.JobsProvider = (*jobRunner)(nil)

// componentStatusValue is how a component's status is stored in
// vigil_platform_component_status.
var componentStatusValue = map[dashboards.Status]float64{
	dashboards.StatusOK: 0, dashboards.StatusDegraded: 1, dashboards.StatusDown: 2, dashboards.StatusUnknown: -1,
}

// newJobs builds the jobs over sum, storing into st; nothing runs until
// start.
func newJobs(sum dashboards.Summaries, st *storage.Storage, set *metrics.Set, log *slog.Logger) *jobRunner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &jobRunner{ctx: ctx, cancel: cancel, log: log.With("component", "jobs")}
	add := func(name, schedule string, run func(ctx context.Context, now time.Time) (string, error)) {
		sched, err := cron.ParseStandard(schedule)
		if err != nil {
			panic(fmt.Sprintf("job %s: bad built-in schedule %q: %v", name, schedule, err))
		}
		r.jobs = append(r.jobs, &platformJob{
			name: name, schedule: schedule, sched: sched, run: run, result: JobNeverRun,
			runs:        set.NewCounter(fmt.Sprintf(`vigil_job_runs_total{job=%q}`, name)),
			failures:    set.NewCounter(fmt.Sprintf(`vigil_job_failures_total{job=%q}`, name)),
			lastSuccess: set.NewGauge(fmt.Sprintf(`vigil_job_last_success_timestamp_seconds{job=%q}`, name), nil),
		})
	}
	add("update-all-metrics", "* * * * *", func(ctx context.Context, now time.Time) (string, error) {
		m, err := sum.Minute(ctx, now)
		if err != nil {
			return "", err
		}
		var rows storage.Rows
		for _, c := range m.Health {
			if err := rows.Add([]storage.Label{{Name: "__name__", Value: "vigil_platform_component_status"}, {Name: "component", Value: c.Name}}, now.UnixMilli(), componentStatusValue[c.Status]); err != nil {
				return "", err
			}
		}
		if err := st.Append(&rows); err != nil {
			return "", err
		}
		return fmt.Sprintf("platform %s; %d components, %d plans, %d caches, %d zones", dashboards.Overall(m.Health), len(m.Health), len(m.ActiveSubscriptions), len(m.CacheHitRates), len(m.PanicRequestRates)), nil
	})
	add("update-performance-metrics", "*/5 * * * *", func(ctx context.Context, now time.Time) (string, error) {
		p, err := sum.Performance(ctx, now, 1, dashboards.Filter{})
		if err != nil {
			return "", err
		}
		var rows storage.Rows
		for _, v := range p.CompletionRates {
			if err := rows.Add([]storage.Label{{Name: "__name__", Value: "vigil_platform_firm_completion_ratio_1h"}, {Name: "firm_id", Value: v.Labels["firm_id"]}}, now.UnixMilli(), v.Value); err != nil {
				return "", err
			}
		}
		if err := st.Append(&rows); err != nil {
			return "", err
		}
		return fmt.Sprintf("%d zones, %d firms", len(p.ZoneResponseTimes), len(p.CompletionRates)), nil
	})
	return r
}

// start schedules the jobs; runs of one job never overlap.
func (r *jobRunner) start() {
	r.cron = cron.New(cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)))
	for _, j := range r.jobs {
		r.cron.Schedule(j.sched, cron.FuncJob(func() { r.runJob(j, time.Now()) }))
	}
	r.cron.Start()
}

func (r *jobRunner) stop() {
	r.cancel()
	if r.cron != nil {
		<-r.cron.Stop().Done()
	}
}

// runJob runs j as of now and records the outcome.
func (r *jobRunner) runJob(j *platformJob, now time.Time) {
	t0 := time.Now()
	detail, err := j.run(r.ctx, now)
	took := time.Since(t0)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lastRun, j.duration = now, took
	j.runs.Inc()
	if err != nil {
		j.result, j.detail = JobFailed, err.Error()
		j.failures.Inc()
		r.log.Warn("job failed", "job", j.name, "err", err)
		return
	}
	j.result, j.detail = JobOK, detail
	j.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
}

// Jobs is web's JobsProvider.
func (r *jobRunner) Jobs() []web.Job {
	out := make([]web.Job, 0, len(r.jobs))
	now := time.Now()
	for _, j := range r.jobs {
		j.mu.Lock()
		out = append(out, web.Job{Name: j.name, Schedule: j.schedule, LastRun: j.lastRun, Duration: j.duration,
			Result: string(j.result), Detail: j.detail, NextRun: j.sched.Next(now)})
		j.mu.Unlock()
	}
	return out
}

// RunJob is web's JobsProvider: it runs the named job now.
func (r *jobRunner) RunJob(name string) (web.Job, bool) {
	for _, j := range r.jobs {
		if j.name == name {
			r.runJob(j, time.Now())
			for _, v := range r.Jobs() {
				if v.Name == name {
					return v, true
				}
			}
		}
	}
	return web.Job{}, false
}
