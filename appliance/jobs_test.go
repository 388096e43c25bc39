package appliance

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/prometheus/promql"

	"github.com/vigil-monitoring/vigil/dashboards"
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

	set := metrics.NewSet()
	r := newJobs(dashboards.Summaries{Query: dashboards.QueryFunc(rules.EngineQuery(engine, st))}, st, set, slog.New(slog.DiscardHandler))
	if js := r.Jobs(); len(js) != 2 || js[0].Result != string(JobNeverRun) || !js[0].NextRun.After(now) {
		t.Fatalf("before any run: %+v", js)
	}
	j, ok := r.RunJob("update-all-metrics")
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
	broken := newJobs(dashboards.Summaries{Query: func(context.Context, string, time.Time) (promql.Vector, error) {
		return nil, errors.New("the engine is closed")
	}}, st, metrics.NewSet(), slog.New(slog.DiscardHandler))
	j, _ = broken.RunJob("update-performance-metrics")
	if j.Result != string(JobFailed) || !strings.Contains(j.Detail, "the engine is closed") {
		t.Errorf("failing job: %+v", j)
	}
	if n := broken.jobs[1].failures.Get(); n != 1 {
		t.Errorf("vigil_job_failures_total = %d, want 1", n)
	}
}
