package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/snapshot/snapshotutil"
	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// What the daily clean-up of the appliance asks of the store: series that
// went quiet, and snapshots that nobody removed.

// DeleteInactiveSeries deletes the series that match ms and have no
// sample since since, and returns how many it deleted. A series is active
// when the index lists it on since's UTC day or later: the index knows
// series by day, so the cut is day-granular and a series is never deleted
// before it has been quiet for at least the time asked. Each series is
// deleted exactly: a series with more labels that is still active is not
// touched, even though ms's matchers alone would select it.
//
// A series that receives samples again after its deletion starts anew,
// without its history.
func (s *Storage) DeleteInactiveSeries(ctx context.Context, ms []*labels.Matcher, since time.Time) (int, error) {
	if len(ms) == 0 {
		return 0, fmt.Errorf("refusing to delete every inactive series: give at least one matcher")
	}
	tfs, err := matchersToTagFilters(ms)
	if err != nil {
		return 0, err
	}
	tfss := []*vmstorage.TagFilters{tfs}
	now := time.Now()
	deadline := searchDeadline(ctx)
	search := func(tfss []*vmstorage.TagFilters, from time.Time) ([]parsedName, error) {
		tr := vmstorage.TimeRange{MinTimestamp: from.UnixMilli(), MaxTimestamp: now.UnixMilli()}
		names, err := s.vm.SearchMetricNames(nil, tfss, tr, s.opts.MaxSeriesPerQuery, deadline)
		if err != nil {
			return nil, s.searchError(err)
		}
		raw := make([][]byte, len(names))
		for i, n := range names {
			raw[i] = []byte(n)
		}
		return parseSeriesNames(raw)
	}
	all, err := search(tfss, now.Add(-s.opts.Retention))
	if err != nil {
		return 0, fmt.Errorf("cannot list the series matching %v: %w", ms, err)
	}
	active, err := search(tfss, since)
	if err != nil {
		return 0, fmt.Errorf("cannot list the active series matching %v: %w", ms, err)
	}
	isActive := map[uint64]bool{} // by the hash of the labels, NaN shadows folded in
	for _, p := range active {
		isActive[p.hash] = true
	}
	done := map[uint64]bool{}
	var del []*vmstorage.TagFilters
	for _, p := range all {
		if isActive[p.hash] || done[p.hash] {
			continue
		}
		done[p.hash] = true
		exact, err := s.exactFilters(p.labels, now, deadline)
		if err != nil {
			return 0, err
		}
		del = append(del, exact)
	}
	if len(del) == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if _, err := s.vm.DeleteSeries(nil, del, s.opts.MaxSeriesPerQuery); err != nil {
		return 0, fmt.Errorf("cannot delete %d inactive series matching %v: %w", len(del), ms, s.searchError(err))
	}
	return len(del), nil
}

// exactFilters are the tag filters that select the series ls and its NaN
// shadow, and no series with more labels: the label names that such
// series add are required to be absent.
func (s *Storage) exactFilters(ls labels.Labels, now time.Time, deadline uint64) (*vmstorage.TagFilters, error) {
	var ms []*labels.Matcher
	ls.Range(func(l labels.Label) { ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, l.Name, l.Value)) })
	tfs, err := matchersToTagFilters(ms)
	if err != nil {
		return nil, err
	}
	tr := vmstorage.TimeRange{MinTimestamp: now.Add(-s.opts.Retention).UnixMilli(), MaxTimestamp: now.UnixMilli()}
	names, err := s.vm.SearchLabelNames(nil, []*vmstorage.TagFilters{tfs}, tr, 1e6, s.opts.MaxSeriesPerQuery, deadline)
	if err != nil {
		return nil, fmt.Errorf("cannot look up the series that extend %s: %w", ls, s.searchError(err))
	}
	slices.Sort(names)
	for _, n := range names {
		if n == nanLabel || n == model.MetricNameLabel || n == "" || ls.Has(n) {
			continue
		}
		// An empty value matches the series without the label.
		if err := tfs.Add([]byte(n), nil, false, false); err != nil {
			return nil, fmt.Errorf("invalid label name %q: %w", n, err)
		}
	}
	return tfs, nil
}

// DeleteSnapshotsOlderThan removes the snapshots of the store (those of
// the TSDB admin API that nobody removed) created before cutoff, and
// returns their names. Backups delete their own snapshot when they end.
func (s *Storage) DeleteSnapshotsOlderThan(cutoff time.Time) (removed []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot list or delete the snapshots in %s: %v", filepath.Join(s.path, "snapshots"), r)
		}
	}()
	for _, name := range s.vm.MustListSnapshots() {
		t, err := snapshotutil.Time(name)
		if err != nil || !t.Before(cutoff) {
			continue
		}
		if err := s.vm.DeleteSnapshot(name); err != nil {
			return removed, fmt.Errorf("cannot delete the snapshot %s: %w", name, err)
		}
		removed = append(removed, name)
	}
	return removed, nil
}
