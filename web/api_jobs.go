package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// JobsProvider lists the scheduled jobs for /api/v1/status/jobs and runs
// one on demand; the composition root implements it. With nil, the list
// is empty.
type JobsProvider interface {
	Jobs() []Job
	// RunJob runs the named job now and returns its state afterwards;
	// false when there is no such job.
	RunJob(name string) (Job, bool)
}

// Job is one scheduled job as /api/v1/status/jobs reports it.
type Job struct {
	Name     string
	Schedule string
	LastRun  time.Time // zero before the first run
	Duration time.Duration
	Result   string // "never run", "ok" or jobFailed
	Detail   string // what the last run computed, or its error
	NextRun  time.Time
}

// jobFailed is the Result of a job whose last run failed.
const jobFailed = "failed"

// minuteJob is the job that POST /api/v1/metrics/update-cache-metrics runs.
const minuteJob = "update-all-metrics"

type jobJSON struct {
	Name            string     `json:"name"`
	Schedule        string     `json:"schedule"`
	LastRun         *time.Time `json:"last_run"`
	DurationSeconds float64    `json:"duration_seconds"`
	Result          string     `json:"result"`
	Detail          string     `json:"detail"`
	NextRun         time.Time  `json:"next_run"`
}

func toJobJSON(j Job) jobJSON {
	out := jobJSON{Name: j.Name, Schedule: j.Schedule, DurationSeconds: j.Duration.Seconds(), Result: j.Result, Detail: j.Detail, NextRun: j.NextRun}
	if !j.LastRun.IsZero() {
		t := j.LastRun
		out.LastRun = &t
	}
	return out
}

func (s *Server) registerJobs(e *echo.Echo) {
	e.GET("/api/v1/status/jobs", func(c echo.Context) error {
		out := []jobJSON{}
		if s.deps.Jobs != nil {
			for _, j := range s.deps.Jobs.Jobs() {
				out = append(out, toJobJSON(j))
			}
		}
		return c.JSON(http.StatusOK, map[string]any{"jobs": out})
	})
}
