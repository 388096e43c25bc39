package appliance

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/prometheus/promql"

	"github.com/vigil-monitoring/vigil/dashboards"
	"github.com/vigil-monitoring/vigil/internal/clock"
	"github.com/vigil-monitoring/vigil/rules"
	"github.com/vigil-monitoring/vigil/storage"
)

func TestPlatformJobs(t *testing.T) {
	st, err := storage.Open(t.TempDir(), storage.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	now := time.Now().Truncate(time.Second)
	var rows storage.Rows
	for _, s := range []struct {
		name string
		v    float64
	}{{"db_connections_active", 0}, {"redis_connections_active", 4}} {
		if err := rows.Add([]storage.Label{{Name: "__name__", Value: s.name}}, now.Add(-time.Minute).UnixMilli(), s.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Append(&rows); err != nil {
		t.Fatal(err)
	}
	st.ForceFlush()

	r := newJobRunner(clock.Wall{}, slog.New(slog.DiscardHandler))
	if err := addPlatformJobs(r, metrics.NewSet(), defaultJobsConfig(), dashboards.Summaries{Query: dashboards.QueryFunc(rules.EngineQuery(engine, st))}, st); err != nil {
		t.Fatal(err)
	}
	if js := r.Jobs(); len(js) != 2 || js[0].Result != string(JobNeverRun) || !js[0].NextRun.After(now) {
		t.Fatalf("before any run: %+v", js)
	}
	j, ok := r.RunJob(jobUpdateAllMetrics)
	if !ok || j.Result != string(JobOK) || !strings.HasPrefix(j.Detail, "platform down;") || j.LastRun.IsZero() {
		t.Fatalf("minute job: %+v", j)
	}
	st.ForceFlush()
	v, err := rules.EngineQuery(engine, st)(context.Background(), `vigil_platform_component_status`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range v {
		got[s.Metric.Get("component")] = s.F
	}
	if got["database"] != 2 || got["redis"] != 0 || got["cache_hit_rate"] != -1 {
		t.Errorf("vigil_platform_component_status = %v, want database 2 (down), redis 0 (ok), cache_hit_rate -1 (unknown)", got)
	}
	if _, ok := r.RunJob("no-such-job"); ok {
		t.Error("RunJob ran a job that does not exist")
	}

	// A failing job says why and counts the failure in the self-metrics.
	broken := newJobRunner(clock.Wall{}, slog.New(slog.DiscardHandler))
	if err := addPlatformJobs(broken, metrics.NewSet(), defaultJobsConfig(), dashboards.Summaries{Query: func(context.Context, string, time.Time) (promql.Vector, error) {
		return nil, errors.New("the engine is closed")
	}}, st); err != nil {
		t.Fatal(err)
	}
	j, _ = broken.RunJob(jobUpdatePerformanceMetrics)
	if j.Result != string(JobFailed) || !strings.Contains(j.Detail, "the engine is closed") {
		t.Errorf("failing job: %+v", j)
	}
	if n := broken.jobs[1].failures.Get(); n != 1 {
		t.Errorf("vigil_job_failures_total = %d, want 1", n)
	}
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestJobsFollowTheirSchedules runs two jobs on a fake clock through an
// hour in a few jumps, then reschedules one through Reload.
func TestJobsFollowTheirSchedules(t *testing.T) {
	start := time.Date(2026, 3, 2, 12, 0, 30, 0, time.UTC)
	clk := clock.NewFake(start)
	r := newJobRunner(clk, slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	runs := map[string][]time.Time{}
	record := func(name string, fail bool) jobFunc {
		return func(_ context.Context, now time.Time) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			runs[name] = append(runs[name], now)
			if fail {
				return "", errors.New("the disk is full")
			}
			return "done", nil
		}
	}
	ran := func(name string) []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Time(nil), runs[name]...)
	}
	set := metrics.NewSet()
	if err := r.add(set, jobUpdateAllMetrics, "* * * * *", record(jobUpdateAllMetrics, false)); err != nil {
		t.Fatal(err)
	}
	if err := r.add(set, jobUpdatePerformanceMetrics, "*/5 * * * *", record(jobUpdatePerformanceMetrics, true)); err != nil {
		t.Fatal(err)
	}
	r.start()
	defer r.stop()
	asleep := func() { waitUntil(t, "both jobs to wait", func() bool { return clk.Waiters() == 2 }) }
	asleep()
	if js := r.Jobs(); js[0].NextRun != start.Add(30*time.Second) || js[1].NextRun != start.Add(4*time.Minute+30*time.Second) {
		t.Fatalf("next runs: %v and %v, want 12:01 and 12:05", js[0].NextRun, js[1].NextRun)
	}

	// 12:01: the minute job runs, once.
	clk.Set(start.Add(30 * time.Second))
	waitUntil(t, "the 12:01 run", func() bool { return len(ran(jobUpdateAllMetrics)) == 1 })
	asleep()
	if got := ran(jobUpdatePerformanceMetrics); len(got) != 0 {
		t.Errorf("the five-minute job ran at %v", got)
	}

	// The clock jumps to 12:07 (a suspended machine): each job runs once,
	// as of 12:07, and the minute job does not catch up the runs it missed.
	clk.Set(time.Date(2026, 3, 2, 12, 7, 0, 0, time.UTC))
	waitUntil(t, "the runs after the jump", func() bool { return len(ran(jobUpdateAllMetrics)) == 2 && len(ran(jobUpdatePerformanceMetrics)) == 1 })
	asleep()
	if got := ran(jobUpdateAllMetrics); !got[1].Equal(time.Date(2026, 3, 2, 12, 7, 0, 0, time.UTC)) {
		t.Errorf("after the jump the minute job ran as of %v, want 12:07", got[1])
	}
	js := r.Jobs()
	if js[1].Result != string(JobFailed) || js[1].Detail != "the disk is full" || r.jobs[1].failures.Get() != 1 {
		t.Errorf("the failing job: %+v, %d failures", js[1], r.jobs[1].failures.Get())
	}
	if js[0].Result != string(JobOK) || !js[0].LastRun.Equal(time.Date(2026, 3, 2, 12, 7, 0, 0, time.UTC)) || !js[0].NextRun.Equal(time.Date(2026, 3, 2, 12, 8, 0, 0, time.UTC)) {
		t.Errorf("the minute job after 12:07: %+v", js[0])
	}

	// A reload moves the five-minute job to the hour: it waits for 13:00.
	cfg := DefaultConfig()
	cfg.Jobs.UpdatePerformanceMetrics.Schedule = "0 * * * *"
	if changed, err := r.Reload(cfg); err != nil || !changed {
		t.Fatalf("Reload = %v, %v; want a change", changed, err)
	}
	if changed, _ := r.Reload(cfg); changed {
		t.Error("the same schedules again count as a change")
	}
	asleep()
	clk.Set(time.Date(2026, 3, 2, 12, 10, 0, 0, time.UTC))
	waitUntil(t, "the 12:10 minute run", func() bool { return len(ran(jobUpdateAllMetrics)) == 3 })
	asleep()
	if got := ran(jobUpdatePerformanceMetrics); len(got) != 1 {
		t.Errorf("the rescheduled job ran at 12:10: %v", got)
	}
	if j := r.Jobs()[1]; j.Schedule != "0 * * * *" || !j.NextRun.Equal(time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("the rescheduled job: %q, next run %v; want 0 * * * * at 13:00", j.Schedule, j.NextRun)
	}
	clk.Set(time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC))
	waitUntil(t, "the 13:00 run", func() bool { return len(ran(jobUpdatePerformanceMetrics)) == 2 })
}
