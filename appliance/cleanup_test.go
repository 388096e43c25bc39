package appliance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

func TestValidateJobs(t *testing.T) {
	runValidateCases(t, []validateCase{
		{"schedules", func(c *Config) {
			c.Jobs.UpdateAllMetrics.Schedule = "@every 30s"
			c.Jobs.Cleanup.Schedule = "@daily"
		}, ""},
		{"bad minute schedule", func(c *Config) { c.Jobs.UpdateAllMetrics.Schedule = "every minute" }, `--jobs.update-all-metrics.schedule=every minute: not a schedule`},
		{"six fields", func(c *Config) { c.Jobs.UpdatePerformanceMetrics.Schedule = "0 */5 * * * *" }, `--jobs.update-performance-metrics.schedule=0 */5 * * * *: not a schedule (expected exactly 5 fields`},
		{"empty cleanup schedule", func(c *Config) { c.Jobs.Cleanup.Schedule = "" }, `--jobs.cleanup.schedule="": not a schedule`},
		{"snapshot age", func(c *Config) { c.Jobs.Cleanup.SnapshotMaxAge = -1 }, `--jobs.cleanup.snapshot-max-age`},
		{"delete series", func(c *Config) {
			c.Jobs.Cleanup.DeleteSeries = []SeriesCleanupConfig{{Match: `{job="batch"}`, InactiveFor: Duration(14 * 24 * time.Hour)}}
		}, ""},
		{"delete series bad selector", func(c *Config) {
			c.Jobs.Cleanup.DeleteSeries = []SeriesCleanupConfig{{Match: `{job="batch"}`, InactiveFor: Duration(24 * time.Hour)}, {Match: `rate(x[5m])`, InactiveFor: Duration(24 * time.Hour)}}
		}, `jobs.cleanup.delete_series[1].match: rate(x[5m]): `},
		{"delete series matching everything", func(c *Config) {
			c.Jobs.Cleanup.DeleteSeries = []SeriesCleanupConfig{{Match: `{job=~".*"}`, InactiveFor: Duration(24 * time.Hour)}}
		}, `jobs.cleanup.delete_series[0].match: {job=~".*"}: `},
		{"delete series within a day", func(c *Config) {
			c.Jobs.Cleanup.DeleteSeries = []SeriesCleanupConfig{{Match: `{job="batch"}`, InactiveFor: Duration(time.Hour)}}
		}, `jobs.cleanup.delete_series[0].inactive_for: 1h: must be at least 1d`},
	})
}

func TestLoadFileJobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`jobs:
  update_all_metrics: {schedule: "@every 30s"}
  cleanup:
    schedule: "15 2 * * *"
    delete_series:
      - match: '{job="batch"}'
        inactive_for: 14d
`)
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	j := cfg.Jobs
	if j.UpdateAllMetrics.Schedule != "@every 30s" || j.UpdatePerformanceMetrics.Schedule != "*/5 * * * *" ||
		j.Cleanup.Schedule != "15 2 * * *" || j.Cleanup.SnapshotMaxAge != Duration(3*24*time.Hour) ||
		len(j.Cleanup.DeleteSeries) != 1 || j.Cleanup.DeleteSeries[0].InactiveFor != Duration(14*24*time.Hour) {
		t.Errorf("jobs = %+v", j)
	}
	write("jobs:\n  cleanup:\n    delete_series:\n      - match: '{job=\"x\"}'\n        inactive: 2d\n")
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), `:5: unknown key "inactive" in jobs.cleanup.delete_series (did you mean "inactive_for"?)`) {
		t.Errorf("unknown key in a list entry: %v", err)
	}
}

// TestCleanupJob runs the clean-up over a store with a quiet series, an
// active one and an old snapshot, and an event recorder with an expired ID.
func TestCleanupJob(t *testing.T) {
	st, err := storage.Open(t.TempDir(), storage.Options{Retention: 365 * 24 * time.Hour, NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	var rows storage.Rows
	for _, s := range []struct {
		firm string
		at   time.Time
	}{{"gone", now.Add(-20 * 24 * time.Hour)}, {"active", now.Add(-time.Hour)}} {
		if err := rows.Add([]storage.Label{{Name: "__name__", Value: "orders_total"}, {Name: "firm", Value: s.firm}}, s.at.UnixMilli(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Append(&rows); err != nil {
		t.Fatal(err)
	}
	st.ForceFlush()
	if _, _, err := st.Snapshot(); err != nil {
		t.Fatal(err)
	}
	rec := ingest.NewRecorder(st, func() time.Time { return now.Add(-2 * time.Hour) })
	if _, _, err := rec.Record(context.Background(), ingest.NotificationEvent, strings.NewReader(`{"id":"n1","channel":"sms","status":"sent"}`)); err != nil {
		t.Fatal(err)
	}

	c := &cleanup{st: st, events: rec, cfg: CleanupConfig{
		SnapshotMaxAge: Duration(time.Second),
		DeleteSeries:   []SeriesCleanupConfig{{Match: `orders_total`, InactiveFor: Duration(7 * 24 * time.Hour)}},
	}}
	// The snapshot's name has a resolution of a second.
	detail, err := c.run(context.Background(), now.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := "deleted 1 series inactive for their delete_series window (1 selectors); removed 1 snapshots older than 1s; forgot 1 event IDs past the retry window"
	if detail != want {
		t.Errorf("detail = %q\nwant %q", detail, want)
	}
	q, err := st.Querier(0, now.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, "orders_total"))
	var left []string
	for set.Next() {
		left = append(left, set.At().Labels().Get("firm"))
	}
	if len(left) != 1 || left[0] != "active" {
		t.Errorf("series left: %v, want the active firm's", left)
	}

	// A reload changes what the next run deletes.
	cfg := DefaultConfig()
	cfg.Jobs.Cleanup.DeleteSeries = nil
	if changed, _ := c.Reload(cfg); !changed {
		t.Error("Reload: no change")
	}
	if detail, _ := c.run(context.Background(), now); !strings.HasPrefix(detail, "deleted 0 series inactive for their delete_series window (0 selectors); removed 0 snapshots older than 3d") {
		t.Errorf("after the reload: %q", detail)
	}
}
