package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// The backup job (--backup.dir, --backup.schedule, --backup.keep) writes
// a backup into a new directory of --backup.dir on the schedule, named
// after the time it starts (vigil-backup-20250601T030000Z, UTC, so that
// names sort by time), then removes the oldest beyond --backup.keep.
// Runs never overlap, with each other or with a backup asked through the
// API: a run due while a backup is being written is skipped.
const (
	scheduledBackupPrefix = "vigil-backup-"
	scheduledBackupLayout = "20060102T150405Z"
)

// validateBackup checks the backup settings for Validate.
func (c *Config) validateBackup(bad func(flag string, value any, format string, args ...any)) {
	if _, err := parseSchedule(c.Backup.Schedule); err != nil {
		bad("backup.schedule", quoteIfEmpty(c.Backup.Schedule), "not a schedule (%v); write a cron spec of five fields, MINUTE HOUR DAY MONTH WEEKDAY, such as \"0 3 * * *\" for 03:00 every day, or @daily, @hourly, @every 6h", err)
	}
	if c.Backup.Keep < 1 {
		bad("backup.keep", c.Backup.Keep, "must be at least 1: the number of scheduled backups kept")
	}
}

// backupMetrics are the backups' self-metrics. They count every backup
// the server writes, scheduled or asked through the API.
type backupMetrics struct {
	lastSuccess  *metrics.Gauge
	lastDuration *metrics.Gauge
	failures     *metrics.Counter
}

func newBackupMetrics(set *metrics.Set) *backupMetrics {
	return &backupMetrics{
		lastSuccess:  set.NewGauge("vigil_backup_last_success_timestamp_seconds", nil),
		lastDuration: set.NewGauge("vigil_backup_last_duration_seconds", nil),
		failures:     set.NewCounter("vigil_backup_failures_total"),
	}
}

// record counts a backup that ended at end after took.
func (m *backupMetrics) record(ok bool, end time.Time, took time.Duration) {
	m.lastDuration.Set(took.Seconds())
	if ok {
		m.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
	} else {
		m.failures.Inc()
	}
}

// backupJob writes the scheduled backups of an appliance; the job runner
// runs it on --backup.schedule as the job "backup".
type backupJob struct {
	a    *Appliance
	dir  string
	keep int
	log  *slog.Logger
}

// newBackupJob prepares the backups of cfg; the caller checked that
// cfg.Dir is set.
func newBackupJob(a *Appliance, cfg BackupConfig) (*backupJob, error) {
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("--backup.dir=%s: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--backup.dir=%s: cannot create it: %v; pass a directory this user can write to", cfg.Dir, unwrapPathError(err))
	}
	j := &backupJob{a: a, dir: dir, keep: cfg.Keep, log: a.log.With("component", "backup job")}
	j.log.Info("backups scheduled", "dir", dir, "schedule", cfg.Schedule, "keep", cfg.Keep)
	return j, nil
}

// run writes one scheduled backup, named after now, and rotates. A run
// due while another backup is being written is skipped.
func (j *backupJob) run(ctx context.Context, now time.Time) (string, error) {
	b := j.a.backups
	if !b.mu.TryLock() {
		j.log.Info("scheduled backup skipped: another backup is being written")
		return "skipped: another backup was being written", nil
	}
	defer b.mu.Unlock()
	dir := filepath.Join(j.dir, scheduledBackupPrefix+now.UTC().Format(scheduledBackupLayout))
	m, err := j.a.backupLocked(ctx, dir, nil)
	if err != nil {
		return "", err // logged and counted by backupLocked too
	}
	removed, err := rotateBackups(j.dir, j.keep)
	for _, r := range removed {
		j.log.Info("removed an old backup", "dir", r)
	}
	detail := fmt.Sprintf("wrote %s (%d files, %d bytes); removed %d old backups", dir, len(m.Files), m.Bytes(), len(removed))
	if err != nil {
		return detail, fmt.Errorf("%s; cannot remove old backups in %s: %w", detail, j.dir, err)
	}
	return detail, nil
}

// rotateBackups keeps the keep newest complete scheduled backups of dir
// and removes the older ones, and the incomplete ones (no manifest: a run
// that a crash interrupted). Only directories named as scheduled backups
// are considered; anything else in dir is left alone. The caller holds
// the backup lock, so no backup is being written.
func rotateBackups(dir string, keep int) (removed []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var complete []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		stamp, ok := strings.CutPrefix(name, scheduledBackupPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		if _, err := time.Parse(scheduledBackupLayout, stamp); err != nil {
			continue
		}
		path := filepath.Join(dir, name)
		if _, err := os.Stat(filepath.Join(path, BackupManifestFile)); err == nil {
			complete = append(complete, name)
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, path)
	}
	slices.Sort(complete)
	for len(complete) > keep {
		path := filepath.Join(dir, complete[0])
		complete = complete[1:]
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, path)
	}
	return removed, errors.Join(errs...)
}
