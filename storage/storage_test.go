package storage

import (
	"context"
	"math"
	"runtime"
	"strconv"
	"testing"
	"time"

	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

func openTest(t *testing.T, dir string) *Storage {
	t.Helper()
	s, err := Open(dir, Options{Retention: 100 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func lbls(kv ...string) []Label {
	var out []Label
	for i := 0; i < len(kv); i += 2 {
		out = append(out, Label{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

type point struct {
	T int64
	V float64
}

func readAll(t *testing.T, s *Storage, mint, maxt int64, ms ...*labels.Matcher) map[string][]point {
	t.Helper()
	q, err := s.Querier(mint, maxt)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, ms...)
	out := map[string][]point{}
	var it chunkenc.Iterator
	for ss.Next() {
		sr := ss.At()
		it = sr.Iterator(it)
		var pts []point
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			pts = append(pts, point{ts, v})
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		out[sr.Labels().String()] = pts
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppendQueryRestart(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	base := time.Now().Add(-time.Hour).UnixMilli()
	var rows Rows
	for i := 0; i < 100; i++ {
		ts := base + int64(i)*15000
		if err := rows.Add(lbls("__name__", "up", "job", "a", "Zone", "x"), ts, float64(i)); err != nil {
			t.Fatal(err)
		}
		if err := rows.Add(lbls("__name__", "up", "job", "b"), ts, float64(i)*0.1); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Add(lbls("__name__", "up", "job", "b"), base+100*15000, math.Float64frombits(value.StaleNaN)); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}
	s.ForceFlush()

	check := func(s *Storage) {
		got := readAll(t, s, base, base+3600_000, labels.MustNewMatcher(labels.MatchEqual, "__name__", "up"))
		if len(got) != 2 {
			t.Fatalf("want 2 series, got %d: %v", len(got), got)
		}
		a := got[`{Zone="x", __name__="up", job="a"}`]
		if len(a) != 100 || a[99].V != 99 || a[0].T != base {
			t.Fatalf("series a: %d points, %v", len(a), a)
		}
		b := got[`{__name__="up", job="b"}`]
		if len(b) != 101 || b[3].V != 0.30000000000000004 && b[3].V != 0.3 || !value.IsStaleNaN(b[100].V) {
			t.Fatalf("series b: %d points, last %v", len(b), b[len(b)-1])
		}
	}
	check(s)

	names, _, err := mustQuerier(t, s).LabelNames(context.Background(), nil)
	if err != nil || len(names) != 3 || names[1] != "__name__" {
		t.Fatalf("label names %v %v", names, err)
	}
	vals, _, err := mustQuerier(t, s).LabelValues(context.Background(), "job", nil, labels.MustNewMatcher(labels.MatchEqual, "Zone", "x"))
	if err != nil || len(vals) != 1 || vals[0] != "a" {
		t.Fatalf("label values %v %v", vals, err)
	}

	s.Close()
	s = openTest(t, dir)
	defer s.Close()
	check(s)

	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	qry, err := engine.NewInstantQuery(context.Background(), s, nil, `sum by (job) (up)`, time.UnixMilli(base+99*15000))
	if err != nil {
		t.Fatal(err)
	}
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	v, _ := res.Vector()
	if len(v) != 2 {
		t.Fatalf("vector %v", v)
	}

	n, err := s.DeleteSeries(context.Background(), [][]*labels.Matcher{{labels.MustNewMatcher(labels.MatchEqual, "job", "a")}})
	if err != nil || n != 1 {
		t.Fatalf("delete: %d %v", n, err)
	}
	got := readAll(t, s, base, base+3600_000, labels.MustNewMatcher(labels.MatchRegexp, "__name__", "u.*"))
	if len(got) != 1 {
		t.Fatalf("after delete: %v", got)
	}
	st, err := s.TSDBStatus(context.Background(), time.UnixMilli(base), 10)
	if err != nil || st.TotalSeries == 0 {
		t.Fatalf("status %+v %v", st, err)
	}
}

func mustQuerier(t *testing.T, s *Storage) promstorage.Querier {
	q, err := s.Querier(0, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestPlainNaN(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	base := time.Now().Add(-time.Hour).UnixMilli()
	var rows Rows
	ls := lbls("__name__", "ratio", "job", "a")
	_ = rows.AddSeries(ls, []Sample{{Value: 1, Timestamp: base}, {Value: math.NaN(), Timestamp: base + 15000}, {Value: 3, Timestamp: base + 30000}})
	_ = rows.Add(lbls("__name__", "only_nan"), base, math.NaN())
	_ = rows.Add(lbls("__name__", "stale"), base, math.Float64frombits(value.StaleNaN))
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}
	s.ForceFlush()
	got := readAll(t, s, base-1, base+3600_000, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	r := got[`{__name__="ratio", job="a"}`]
	if len(got) != 3 || len(r) != 3 || r[0].V != 1 || !math.IsNaN(r[1].V) || value.IsStaleNaN(r[1].V) || r[2].V != 3 {
		t.Fatalf("got %v", got)
	}
	if n := got[`{__name__="only_nan"}`]; len(n) != 1 || !math.IsNaN(n[0].V) || value.IsStaleNaN(n[0].V) {
		t.Fatalf("only_nan %v", n)
	}
	if n := got[`{__name__="stale"}`]; len(n) != 1 || !value.IsStaleNaN(n[0].V) {
		t.Fatalf("stale %v", n)
	}
	names, _, _ := mustQuerier(t, s).LabelNames(context.Background(), nil)
	for _, n := range names {
		if n == nanLabel {
			t.Fatalf("label names show %s: %v", nanLabel, names)
		}
	}
	q, _ := s.Querier(0, math.MaxInt64)
	defer q.Close() // before s.Close: an open search pins the store's parts
	ss := q.Select(context.Background(), true, &promstorage.SelectHints{Func: "series", Start: base - 1, End: base + 3600_000}, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	n := 0
	for ss.Next() {
		if ss.At().Labels().Has(nanLabel) {
			t.Fatalf("series shows %s", nanLabel)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("series look-up: %d series", n)
	}
	if err := rows.Add(lbls("__name__", "x", nanLabel, "1"), base, 1); err == nil {
		t.Fatal("the reserved label was accepted")
	}
}

// TestSeriesLookupHonoursTimeRange: the index knows series by day, but a
// series look-up must only return series with samples in its range.
func TestSeriesLookupHonoursTimeRange(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	now := time.Now().UnixMilli()
	var rows Rows
	_ = rows.Add(lbls("__name__", "m", "when", "now"), now, 1)
	_ = rows.Add(lbls("__name__", "m", "when", "3h_ago"), now-3*3600_000, 1)
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}
	s.ForceFlush()
	count := func(start, end int64) int {
		q, _ := s.Querier(start, end)
		defer q.Close()
		ss := q.Select(context.Background(), false, &promstorage.SelectHints{Start: start, End: end, Func: "series"}, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
		n := 0
		for ss.Next() {
			n++
		}
		return n
	}
	if n := count(now-2*3600_000, now-3600_000); n != 0 {
		t.Fatalf("series without samples in the range: %d", n)
	}
	if n := count(now-4*3600_000, now); n != 2 {
		t.Fatalf("want 2 series, got %d", n)
	}
	if n := count(now-60_000, now+60_000); n != 1 {
		t.Fatalf("want 1 series, got %d", n)
	}
}

func TestCacheMemory(t *testing.T) {
	for _, c := range []struct{ option, system, want int64 }{
		{0, 24 << 30, DefaultMaxCacheMemory}, // a quarter would be 6 GiB
		{0, 2 << 30, 512 << 20},              // a quarter of a small machine
		{3 << 30, 24 << 30, 3 << 30},         // the option wins
		{0, 0, 0},                            // unknown: VictoriaMetrics' own 25%
	} {
		if got := cacheMemory(c.option, c.system); got != c.want {
			t.Errorf("cacheMemory(%d, %d) = %d, want %d", c.option, c.system, got, c.want)
		}
	}
	if runtime.GOOS == "linux" && systemMemory() <= 0 {
		t.Error("the system's memory is unknown on Linux")
	}
}

// TestForceMergeLeavesOnePart: parts written by checkpoints end as one
// file part while appends and flushes go on beside the merge. (Whether
// VictoriaMetrics' forced merge meets a running merge, and skips, is up to
// timing: this test does not make it happen, the side-by-side harness
// did.)
func TestForceMergeLeavesOnePart(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	base := time.Now().Add(-time.Hour).UnixMilli()
	appendAt := func(i int) {
		var rows Rows
		_ = rows.Add(lbls("__name__", "merged", "i", strconv.Itoa(i%7)), base+int64(i)*1000, float64(i))
		if err := s.Append(&rows); err != nil {
			t.Error(err)
		}
	}
	fileParts := func() uint64 {
		var m vmstorage.Metrics
		s.vm.UpdateMetrics(&m)
		return m.TableMetrics.SmallPartsCount + m.TableMetrics.BigPartsCount
	}
	for i := range 4 {
		appendAt(i)
		if err := s.checkpoint(); err != nil {
			t.Fatal(err)
		}
	}
	if n := fileParts(); n < 4 {
		t.Fatalf("set-up: %d file parts, want 4", n)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 4; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			appendAt(i)
			s.ForceFlush()
		}
	}()
	err := s.ForceMerge()
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	// At most one more part: rows flushed to a file while it merged.
	if n := fileParts(); n > 2 {
		t.Fatalf("after ForceMerge: %d file parts", n)
	}
}
