package storage

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

func TestDeleteInactiveSeries(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	now := time.Now()
	old := now.Add(-10 * 24 * time.Hour).UnixMilli()
	recent := now.Add(-time.Hour).UnixMilli()
	var rows Rows
	add := func(ts int64, v float64, kv ...string) {
		if err := rows.Add(lbls(kv...), ts, v); err != nil {
			t.Fatal(err)
		}
	}
	// firm1 went quiet ten days ago, with a NaN among its samples (kept in
	// a shadow series); firm2 is active; firm1 with an extra label is a
	// different series that is active; other matches no matcher.
	add(old, 1, "__name__", "orders_total", "firm", "firm1")
	add(old+15000, math.NaN(), "__name__", "orders_total", "firm", "firm1")
	add(old, 1, "__name__", "orders_total", "firm", "firm2")
	add(recent, 2, "__name__", "orders_total", "firm", "firm2")
	add(recent, 3, "__name__", "orders_total", "firm", "firm1", "region", "north")
	add(old, 4, "__name__", "other_total", "firm", "firm1")
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}
	s.ForceFlush()

	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, "orders_total")}
	n, err := s.DeleteInactiveSeries(context.Background(), ms, now.Add(-3*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("deleted %d series, want 1 (orders_total of firm1)", n)
	}
	got := readAll(t, s, 0, now.UnixMilli(), labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+"))
	var names []string
	for k := range got {
		names = append(names, k)
	}
	slices.Sort(names)
	want := []string{
		`{__name__="orders_total", firm="firm1", region="north"}`,
		`{__name__="orders_total", firm="firm2"}`,
		`{__name__="other_total", firm="firm1"}`,
	}
	if !slices.Equal(names, want) {
		t.Errorf("left after the clean-up:\n%q\nwant\n%q", names, want)
	}

	// Nothing more is inactive: a second run deletes nothing.
	if n, err := s.DeleteInactiveSeries(context.Background(), ms, now.Add(-3*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("second run: %d, %v; want 0 deleted", n, err)
	}
	if _, err := s.DeleteInactiveSeries(context.Background(), nil, now); err == nil {
		t.Error("no matchers: want an error, not a deletion of everything")
	}
}

func TestDeleteSnapshotsOlderThan(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	name, dir, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := s.DeleteSnapshotsOlderThan(time.Now().Add(-time.Hour)); err != nil || len(removed) != 0 {
		t.Fatalf("a fresh snapshot was removed: %v, %v", removed, err)
	}
	removed, err := s.DeleteSnapshotsOlderThan(time.Now().Add(time.Second))
	if err != nil || !slices.Equal(removed, []string{name}) {
		t.Fatalf("removed %v, %v; want [%s]", removed, err, name)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", filepath.Base(dir), err)
	}
}
