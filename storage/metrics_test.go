package storage

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestSeriesGauge: vigil_storage_series counts the series in the store,
// counted afresh at most every seriesCountEvery.
func TestSeriesGauge(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	ts := time.Now().Add(-time.Minute).UnixMilli()
	add := func(ids ...string) {
		var rows Rows
		for _, id := range ids {
			if err := rows.Add(lbls("__name__", "m", "id", id), ts, 1); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Append(&rows); err != nil {
			t.Fatal(err)
		}
		s.ForceFlush()
	}
	gauge := func() string {
		var b bytes.Buffer
		s.metrics.set.WritePrometheus(&b)
		for _, line := range strings.Split(b.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "vigil_storage_series "); ok {
				return v
			}
		}
		t.Fatalf("no vigil_storage_series in\n%s", b.String())
		return ""
	}
	add("1", "2", "3")
	if got := gauge(); got != "3" {
		t.Fatalf("vigil_storage_series = %s, want 3", got)
	}
	add("4", "5")
	if got := gauge(); got != "3" {
		t.Errorf("vigil_storage_series = %s right after, want the count kept (3)", got)
	}
	s.metrics.mu.Lock()
	s.metrics.seriesAt = s.metrics.seriesAt.Add(-seriesCountEvery)
	s.metrics.mu.Unlock()
	if got := gauge(); got != "5" {
		t.Errorf("vigil_storage_series = %s after %s, want 5", got, seriesCountEvery)
	}
}
