package storage

import (
	"errors"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// appendMemo appends two samples of every series named, as the memo's
// next batch, and returns Append's error and which rows the memo knew.
func appendMemo(t *testing.T, s *Storage, m *SeriesMemo, ts int64, specs ...string) (*LimitError, []bool) {
	t.Helper()
	var rows Rows
	rows.UseMemo(m)
	for _, spec := range specs {
		if err := rows.AddSeries(seriesLabels(spec), []Sample{{Timestamp: ts, Value: 1}, {Timestamp: ts + 1000, Value: 2}}); err != nil {
			t.Fatal(err)
		}
	}
	known := slices.Clone(rows.known)
	var lerr *LimitError
	if err := s.Append(&rows); err != nil && !errors.As(err, &lerr) {
		t.Fatalf("Append: %v", err)
	}
	return lerr, known
}

func allKnown(known []bool) bool {
	return len(known) > 0 && !slices.Contains(known, false)
}

// TestSeriesMemoLimits: series the memo knows skip the limiter's look-up,
// and the limits decide exactly as without a memo.
func TestSeriesMemoLimits(t *testing.T) {
	s, clock := openLimited(t, t.TempDir(), 2, 0)
	var m SeriesMemo
	ts := time.Now().Add(-time.Hour).UnixMilli()
	step := func(i int) int64 { return ts + int64(i)*10_000 }

	if lerr, known := appendMemo(t, s, &m, step(0), "a", "b"); lerr != nil || slices.Contains(known, true) {
		t.Fatalf("first batch: %v, known %v; want stored, nothing known", lerr, known)
	}
	if lerr, known := appendMemo(t, s, &m, step(1), "a", "b"); lerr != nil || !allKnown(known) {
		t.Fatalf("same batch again: %v, known %v; want stored, all known", lerr, known)
	}
	// A new series past the limit is refused wherever it comes, and the
	// known ones around it are stored.
	for i, specs := range [][]string{{"a", "b", "c"}, {"c", "a", "b"}} {
		lerr, _ := appendMemo(t, s, &m, step(2+i), specs...)
		if lerr == nil || lerr.Rejected != 2 || lerr.Stored != 4 {
			t.Fatalf("%v: %+v, want c refused and a, b stored", specs, lerr)
		}
		if got := storedSpecs(t, s, step(2+i)); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("%v: stored %v, want [a b]", specs, got)
		}
	}
	// A refusal makes the memo forget: the next batch is looked up in full.
	if lerr, known := appendMemo(t, s, &m, step(4), "a", "b"); lerr != nil || slices.Contains(known, true) {
		t.Fatalf("after a refusal: %v, known %v; want stored, nothing known", lerr, known)
	}
	if _, known := appendMemo(t, s, &m, step(5), "b", "a"); slices.Contains(known, true) {
		t.Fatalf("series that moved: known %v, want none", known)
	}

	// In the limiter's next generation the series are looked up again, so
	// that they are carried over: one more window later they still count,
	// and c is refused. Had the memo skipped them, they would have been
	// forgotten and c let in.
	appendMemo(t, s, &m, step(6), "b", "a")
	clock.advance(time.Hour)
	if lerr, known := appendMemo(t, s, &m, step(7), "b", "a"); lerr != nil || !allKnown(known) {
		t.Fatalf("next generation: %v, known %v; want stored (the memo's rows are known, the limiter looks them up)", lerr, known)
	}
	clock.advance(time.Hour)
	if lerr := appendSpecs(t, s, step(8), "c"); lerr == nil || lerr.Rejected != 2 {
		t.Fatalf("two generations later: %+v, want c refused (a, b carried over)", lerr)
	}
}

// TestSeriesMemoLabels: the memo spares the UTF-8 check of a series only
// where the same series passed it in the last batch.
func TestSeriesMemoLabels(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	var m SeriesMemo
	ts := time.Now().Add(-time.Hour).UnixMilli()
	batch := func(ids ...string) (errs []error) {
		var rows Rows
		rows.UseMemo(&m)
		for _, id := range ids {
			errs = append(errs, rows.AddSeries(lbls("__name__", "m", "id", id), []Sample{{Timestamp: ts, Value: 1}}))
		}
		if err := s.Append(&rows); err != nil {
			t.Fatal(err)
		}
		ts += 1000
		return errs
	}
	bad := "\xff"
	for i, tc := range []struct {
		ids     []string
		notUTF8 []bool
	}{
		{[]string{"a", bad, "c"}, []bool{false, true, false}},
		{[]string{"a", bad, "c"}, []bool{false, true, false}}, // still refused at the same place
		{[]string{bad, "a", "c"}, []bool{true, false, false}},
		{[]string{"a", "c", bad}, []bool{false, false, true}},
		{[]string{"a", "c", "d"}, []bool{false, false, false}},
		{[]string{"a", "c", "d\xfe"}, []bool{false, false, true}}, // changed in place
	} {
		errs := batch(tc.ids...)
		for j, err := range errs {
			if got := errors.Is(err, ErrNotUTF8); got != tc.notUTF8[j] {
				t.Errorf("batch %d, series %d (id %q): error %v, want not-UTF-8 %v", i, j, tc.ids[j], err, tc.notUTF8[j])
			}
		}
	}
	// Other label errors do not depend on the memo either.
	var rows Rows
	rows.UseMemo(&m)
	if err := rows.AddSeries(lbls("id", "a"), []Sample{{Timestamp: ts, Value: 1}}); err == nil {
		t.Error("a series without a name was accepted")
	}
	if err := rows.AddSeries(lbls("__name__", "m", "", "x"), []Sample{{Timestamp: ts, Value: 1}}); err == nil {
		t.Error("an empty label name was accepted")
	}
	if rows.Len() != 0 || len(rows.known) != 0 {
		t.Errorf("refused series left %d rows, %d flags", rows.Len(), len(rows.known))
	}
}

// BenchmarkAppendScrapes appends the scrapes of 20 targets of 2,000
// series each in turn, as the scraper does, with and without a memo per
// target, through the cardinality limiter and the write-ahead log.
func BenchmarkAppendScrapes(b *testing.B) {
	const targets, perTarget = 20, 2000
	series := make([][][]Label, targets)
	for t := range series {
		for i := range perTarget {
			series[t] = append(series[t], lbls(
				"__name__", "http_request_duration_seconds_bucket",
				"endpoint", "/api/v1/panic/{id}/status",
				"instance", "10.0.0."+strconv.Itoa(t)+":8000",
				"job", "api",
				"le", strconv.Itoa(i%11),
				"method", "GET",
				"status", strconv.Itoa(200+i/11)))
		}
	}
	for _, withMemo := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "memo"}[withMemo], func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{Retention: 100 * 365 * 24 * time.Hour, MaxSeries: 1_000_000})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			memos := make([]SeriesMemo, targets)
			var rows Rows
			ts := time.Now().Add(-time.Hour).UnixMilli()
			scrape := func(n int) {
				t := n % targets
				rows.Reset()
				if withMemo {
					rows.UseMemo(&memos[t])
				}
				for _, ls := range series[t] {
					if err := rows.AddSeries(ls, []Sample{{Timestamp: ts + int64(n), Value: float64(n)}}); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Append(&rows); err != nil {
					b.Fatal(err)
				}
			}
			// The series are created, and the memos filled, before.
			for n := range 2 * targets {
				scrape(n)
			}
			// On a shared machine the process' CPU time says more than
			// the time on the clock; it includes the store's merges.
			cpu0 := cpuTime()
			for n := 2 * targets; b.Loop(); n++ {
				scrape(n)
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*perTarget), "cpu-ns/sample")
		})
	}
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
