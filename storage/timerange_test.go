package storage

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// The store drops samples outside its time range without a word; Append
// refuses them and says so, storing the rest, together with what the
// cardinality limits refuse.
func TestAppendRefusesRowsOutsideTheTimeRange(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Retention: time.Hour, MaxSeries: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UnixMilli()
	var rows Rows
	for _, r := range []struct {
		name string
		ts   int64
	}{
		{"old", now - 2*time.Hour.Milliseconds()},
		{"recent", now},
		{"future", now + 3*24*time.Hour.Milliseconds()},
		{"also_recent", now - time.Minute.Milliseconds()},
		{"past_the_limit", now},
	} {
		if err := rows.AddSeries(lbls("__name__", r.name), []Sample{{Timestamp: r.ts, Value: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	var lerr *LimitError
	if err := s.Append(&rows); !errors.As(err, &lerr) {
		t.Fatalf("Append = %v, want a *LimitError", err)
	}
	if lerr.Stored != 2 || lerr.Rejected != 3 || lerr.TooOld != 1 || lerr.TooFuture != 1 || lerr.SeriesLimit != 1 {
		t.Errorf("LimitError = %+v", lerr)
	}
	msg := lerr.Error()
	for _, want := range []string{"3 of 5 samples were refused", "the other 2 were stored", "1 are older than the retention", "--retention",
		"1 are more than 2 days ahead", "1 were refused by the cardinality limits", `past_the_limit`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
	s.ForceFlush()
	got := readAll(t, s, 0, now+4*24*time.Hour.Milliseconds(), labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	if len(got) != 2 || got[`{__name__="recent"}`] == nil || got[`{__name__="also_recent"}`] == nil {
		t.Errorf("stored %v, want recent and also_recent", got)
	}

	// A batch wholly inside the range is not touched.
	rows = Rows{}
	if err := rows.AddSeries(lbls("__name__", "recent"), []Sample{{Timestamp: now + 1000, Value: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(&rows); err != nil {
		t.Errorf("Append of a recent sample = %v", err)
	}
}
