package appliance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// The daily clean-up, the seed's "Cleanup Old Metrics" (remove old metric
// data, archive historical data), in Vigil's terms. The store drops
// samples past --retention by itself, the alert history is cut at
// --rules.history-retention on every evaluation, pushed groups expire
// after --pushgateway.group-ttl on every tick, and the backup job (when
// --backup.dir is set) is the archive. What remains for a daily job:
//
//   - series that went quiet: each jobs.cleanup.delete_series entry
//     deletes the series of its selector that have had no sample for
//     inactive_for (a firm that left, an endpoint that was removed), so
//     that they stop counting against the series limits and the index;
//   - TSDB snapshots made through /api/v1/admin/tsdb/snapshot that
//     nobody removed, older than jobs.cleanup.snapshot_max_age;
//   - event IDs past the retry window (an hour), which the event API
//     keeps in the state file so that a retry after a restart counts once.

// CleanupConfig is the daily clean-up job.
type CleanupConfig struct {
	Schedule string `yaml:"schedule"`
	// SnapshotMaxAge removes TSDB snapshots older than this; 0 keeps them.
	SnapshotMaxAge Duration `yaml:"snapshot_max_age"`
	// DeleteSeries deletes quiet series, selector by selector.
	DeleteSeries []SeriesCleanupConfig `yaml:"delete_series,omitempty"`
}

// SeriesCleanupConfig deletes the series of Match that have had no sample
// for InactiveFor.
type SeriesCleanupConfig struct {
	// Match is a series selector, such as {job="batch"} or
	// panic_requests_total{firm_id=~"trial-.*"}.
	Match string `yaml:"match"`
	// InactiveFor is at least a day: the index knows series by day.
	InactiveFor Duration `yaml:"inactive_for"`
}

func defaultCleanupConfig() CleanupConfig {
	return CleanupConfig{Schedule: "0 4 * * *", SnapshotMaxAge: Duration(3 * 24 * time.Hour)}
}

// validate checks the clean-up settings for Validate.
func (c *CleanupConfig) validate(bad func(flag string, value any, format string, args ...any), badKey func(key string, format string, args ...any)) {
	if c.SnapshotMaxAge < 0 {
		bad("jobs.cleanup.snapshot-max-age", c.SnapshotMaxAge, "must be 0 (keep snapshots) or greater")
	}
	for i, d := range c.DeleteSeries {
		key := fmt.Sprintf("jobs.cleanup.delete_series[%d]", i)
		if _, err := d.matchers(); err != nil {
			badKey(key+".match", "%s: %v; write a series selector such as {job=\"batch\"} or orders_total{firm=~\"trial-.*\"}", quoteIfEmpty(d.Match), err)
		}
		if d.InactiveFor.Std() < 24*time.Hour {
			badKey(key+".inactive_for", "%s: must be at least 1d (series are known by day)", d.InactiveFor)
		}
	}
}

// matchers parses Match.
func (d SeriesCleanupConfig) matchers() ([]*labels.Matcher, error) {
	if strings.TrimSpace(d.Match) == "" {
		return nil, errors.New("missing")
	}
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(d.Match)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if !m.Matches("") {
			return ms, nil
		}
	}
	return nil, errors.New("selects every series: give at least one matcher that does not match the empty string")
}

// cleanup runs the clean-up with the settings of the last (re)load.
type cleanup struct {
	st     *storage.Storage
	events *ingest.Recorder

	mu  sync.Mutex
	cfg CleanupConfig
}

var _ component = (*cleanup)(nil)

// Reload takes the clean-up settings of cfg; the schedule is the runner's.
func (c *cleanup) Reload(cfg Config) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := fmt.Sprint(c.cfg) != fmt.Sprint(cfg.Jobs.Cleanup)
	c.cfg = cfg.Jobs.Cleanup
	return changed, nil
}

// run is the job. It goes on after a failing step and reports every
// failure; what it did is in the detail either way.
func (c *cleanup) run(ctx context.Context, now time.Time) (string, error) {
	c.mu.Lock()
	cfg := c.cfg
	c.mu.Unlock()
	var done []string
	var errs []error
	deleted := 0
	for _, d := range cfg.DeleteSeries {
		ms, err := d.matchers()
		if err != nil {
			errs = append(errs, fmt.Errorf("delete_series %s: %w", d.Match, err))
			continue
		}
		n, err := c.st.DeleteInactiveSeries(ctx, ms, now.Add(-d.InactiveFor.Std()))
		if err != nil {
			errs = append(errs, fmt.Errorf("delete_series %s: %w", d.Match, err))
			continue
		}
		deleted += n
	}
	done = append(done, fmt.Sprintf("deleted %d series inactive for their delete_series window (%d selectors)", deleted, len(cfg.DeleteSeries)))
	if cfg.SnapshotMaxAge > 0 {
		removed, err := c.st.DeleteSnapshotsOlderThan(now.Add(-cfg.SnapshotMaxAge.Std()))
		if err != nil {
			errs = append(errs, err)
		}
		done = append(done, fmt.Sprintf("removed %d snapshots older than %s", len(removed), cfg.SnapshotMaxAge))
	}
	if c.events != nil {
		n, err := c.events.ForgetExpiredIDs(now)
		if err != nil {
			errs = append(errs, err)
		}
		done = append(done, fmt.Sprintf("forgot %d event IDs past the retry window", n))
	}
	detail := strings.Join(done, "; ")
	if len(errs) > 0 {
		return detail, fmt.Errorf("%s; failed: %w", detail, errors.Join(errs...))
	}
	return detail, nil
}
