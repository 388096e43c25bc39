package storage

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/prometheus/prometheus/model/labels"
)

// readUncached is readAll with the tail cache switched off: the reference
// that cached reads must equal.
func readUncached(t *testing.T, s *Storage, mint, maxt int64, ms ...*labels.Matcher) map[string][]point {
	t.Helper()
	c := s.tail
	s.tail = nil
	defer func() { s.tail = c }()
	return readAll(t, s, mint, maxt, ms...)
}

// samePoints compares two reads; NaN equals NaN of the same bits.
func samePoints(a, b map[string][]point) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d series, want %d", len(a), len(b))
	}
	for k, pa := range a {
		pb, ok := b[k]
		if !ok {
			return fmt.Errorf("series %s is not expected", k)
		}
		if len(pa) != len(pb) {
			return fmt.Errorf("series %s: %d samples, want %d", k, len(pa), len(pb))
		}
		for i := range pa {
			if pa[i].T != pb[i].T || math.Float64bits(pa[i].V) != math.Float64bits(pb[i].V) {
				return fmt.Errorf("series %s sample %d: %v, want %v", k, i, pa[i], pb[i])
			}
		}
	}
	return nil
}

// checkRead reads [mint, maxt] with the cache and without it and fails
// when they differ; it returns the cached read.
func checkRead(t *testing.T, s *Storage, mint, maxt int64, ms ...*labels.Matcher) map[string][]point {
	t.Helper()
	got := readAll(t, s, mint, maxt, ms...)
	if err := samePoints(got, readUncached(t, s, mint, maxt, ms...)); err != nil {
		t.Fatalf("read of [%d, %d] through the tail cache: %v", mint, maxt, err)
	}
	return got
}

const tailTestStep = 15_000

// appendSeries writes n samples of series name{i="0".."k-1"} ending at end,
// value f(j).
func appendSeries(t *testing.T, s *Storage, name string, k, n int, end int64, f func(j int) float64) {
	t.Helper()
	var rows Rows
	for i := range k {
		ls := lbls("__name__", name, "i", strconv.Itoa(i))
		for j := range n {
			if err := rows.Add(ls, end-int64(n-1-j)*tailTestStep, f(j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}
	s.ForceFlush()
}

func TestTailCacheMatchesDecoding(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	end := time.Now().Truncate(time.Minute).UnixMilli()
	// 20 series: enough for the prefetcher to decode on another goroutine.
	appendSeries(t, s, "tail_counter", 20, 600, end, func(j int) float64 { return float64(j * 3) })
	// A series of plain NaN samples lives in a shadow series whose blocks
	// are read as NaN.
	appendSeries(t, s, "tail_nan", 1, 600, end, func(int) float64 { return math.NaN() })
	if err := s.ForceMerge(); err != nil {
		t.Fatal(err)
	}
	all := labels.MustNewMatcher(labels.MatchRegexp, "__name__", "tail_.*")
	for _, window := range []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour, 2*time.Hour + 30*time.Minute} {
		for run := range 2 {
			hits := s.tail.hits.Load()
			got := checkRead(t, s, end-window.Milliseconds()+1, end, all)
			if len(got) != 21 {
				t.Fatalf("%d series, want 21", len(got))
			}
			if n := len(got[`{__name__="tail_counter", i="7"}`]); n != int(window/(15*time.Second)) {
				t.Fatalf("window %s: %d samples, want %d", window, n, window/(15*time.Second))
			}
			// 600 samples span 2.5 h: a window of up to an eighth of
			// that is cached, and the second read of it is served from
			// the cache.
			cached := window <= 150*time.Minute/8
			if run == 1 && cached && s.tail.hits.Load()-hits != 21 {
				t.Fatalf("window %s: %d cache hits on the second read, want 21", window, s.tail.hits.Load()-hits)
			}
			if !cached && s.tail.hits.Load() != hits {
				t.Fatalf("window %s covers more than an eighth of the block but was served from the cache", window)
			}
		}
	}
	// A later, shorter range is served from what a longer one cached.
	hits := s.tail.hits.Load()
	checkRead(t, s, end-time.Minute.Milliseconds(), end-30_000, all)
	if s.tail.hits.Load()-hits != 21 {
		t.Fatalf("%d cache hits for a range inside the cached tails, want 21", s.tail.hits.Load()-hits)
	}
	if s.tail.sizeBytes() <= 0 || s.tail.sizeBytes() > s.tail.maxBytes {
		t.Fatalf("cache holds %d bytes, budget %d", s.tail.sizeBytes(), s.tail.maxBytes)
	}
}

func TestTailCacheForgetsDeletedSeries(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	end := time.Now().Truncate(time.Minute).UnixMilli()
	appendSeries(t, s, "tail_deleted", 1, 600, end, func(j int) float64 { return float64(j) })
	if err := s.ForceMerge(); err != nil {
		t.Fatal(err)
	}
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "tail_deleted")
	mint := end - (5 * time.Minute).Milliseconds()
	checkRead(t, s, mint, end, m)
	checkRead(t, s, mint, end, m)
	if s.tail.hits.Load() == 0 {
		t.Fatal("the second read was not served from the cache")
	}
	if _, err := s.DeleteSeries(t.Context(), [][]*labels.Matcher{{m}}); err != nil {
		t.Fatal(err)
	}
	if got := checkRead(t, s, mint, end, m); len(got) != 0 {
		t.Fatalf("a deleted series came back: %v", got)
	}
	// Written again at the same timestamps with other values, the series
	// has a new ID: the cached samples of the old one must not show.
	appendSeries(t, s, "tail_deleted", 1, 600, end, func(j int) float64 { return float64(-j) })
	if err := s.ForceMerge(); err != nil {
		t.Fatal(err)
	}
	got := checkRead(t, s, mint, end, m)
	pts := got[`{__name__="tail_deleted", i="0"}`]
	if len(pts) != 21 || pts[20].V != -599 {
		t.Fatalf("after deleting and writing again: %v, want 21 samples ending with -599", pts)
	}
}

func TestTailCacheAfterMerge(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	end := time.Now().Truncate(time.Minute).UnixMilli()
	appendSeries(t, s, "tail_merged", 1, 600, end, func(j int) float64 { return float64(j) })
	if err := s.ForceMerge(); err != nil {
		t.Fatal(err)
	}
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "tail_merged")
	mint := end - (5 * time.Minute).Milliseconds() + 1
	checkRead(t, s, mint, end, m)
	// Samples between the old ones, in a part of their own: the cached
	// block is still read, and merged with the new one.
	appendSeries(t, s, "tail_merged", 1, 100, end-tailTestStep/2, func(j int) float64 { return 1e6 + float64(j) })
	got := checkRead(t, s, mint, end, m)
	if n := len(got[`{__name__="tail_merged", i="0"}`]); n != 40 {
		t.Fatalf("before the merge: %d samples in 5 minutes, want 40", n)
	}
	// The merge replaces both blocks by one with a new key.
	if err := s.ForceMerge(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got = checkRead(t, s, mint, end, m)
		if n := len(got[`{__name__="tail_merged", i="0"}`]); n != 40 {
			t.Fatalf("after the merge: %d samples in 5 minutes, want 40", n)
		}
	}
}

func TestTailCacheStaysWithinItsBudget(t *testing.T) {
	c := newTailCache(10_000)
	entry := func() *tailEntry { return &tailEntry{offs: make([]uint32, 50), vs: make([]float64, 50)} }
	key := func(i int) tailKey { return tailKey{metricID: uint64(i), part: uint64(i) * 3, offset: uint64(i) * 7} }
	for i := range 100 {
		c.put(key(i), entry())
		if c.sizeBytes() > c.maxBytes {
			t.Fatalf("after %d entries the cache holds %d bytes, budget %d", i+1, c.sizeBytes(), c.maxBytes)
		}
	}
	if c.get(key(99)) == nil {
		t.Fatal("the newest entry is gone")
	}
	if c.get(key(0)) != nil {
		t.Fatal("the oldest entry is still there")
	}
	// An entry of the previous generation moves forward when used, so it
	// survives the next turn.
	var old tailKey
	for k := range c.prev {
		old = k
		break
	}
	if old == (tailKey{}) || c.get(old) == nil {
		t.Fatal("no entry in the previous generation")
	}
	for i := 100; i < 105; i++ {
		c.put(key(i), entry())
	}
	if c.get(old) == nil {
		t.Fatalf("entry %v was used but dropped", old)
	}
	if newTailCache(0) != nil || newTailCache(-1) != nil {
		t.Fatal("a cache of no bytes is not off")
	}
}

// TestTailEntryTimestamps: evenly spaced timestamps are kept as a step,
// others as 4-byte offsets, and both give back every sample of a range;
// a tail spanning more than 4 bytes of milliseconds is not cached.
func TestTailEntryTimestamps(t *testing.T) {
	regular := []int64{1000, 16000, 31000, 46000, 61000}
	jittered := []int64{1000, 16003, 30998, 46001, 61000}
	for _, tc := range []struct {
		name    string
		ts      []int64
		step    int64
		hasOffs bool
	}{
		{"evenly spaced", regular, 15000, false},
		{"jittered", jittered, 0, true},
		{"one sample", []int64{7}, 0, false},
		{"none", nil, 0, false},
	} {
		vs := make([]float64, len(tc.ts))
		for i := range vs {
			vs[i] = float64(i) + 0.5
		}
		e := newTailEntry(0, tc.ts, vs)
		if e == nil || e.step != tc.step || (e.offs != nil) != tc.hasOffs {
			t.Fatalf("%s: entry %+v", tc.name, e)
		}
		for lo := int64(-1); lo <= 62000; lo += 7499 {
			for hi := lo; hi <= 62000; hi += 4999 {
				gotTs, gotVs := e.appendRange(nil, nil, vmstorage.TimeRange{MinTimestamp: lo, MaxTimestamp: hi})
				var wantTs []int64
				var wantVs []float64
				for i, ts := range tc.ts {
					if ts >= lo && ts <= hi {
						wantTs, wantVs = append(wantTs, ts), append(wantVs, vs[i])
					}
				}
				if !slices.Equal(gotTs, wantTs) || !slices.Equal(gotVs, wantVs) {
					t.Fatalf("%s [%d, %d]: %v %v, want %v %v", tc.name, lo, hi, gotTs, gotVs, wantTs, wantVs)
				}
			}
		}
	}
	if e := newTailEntry(0, []int64{0, 1 << 33}, []float64{1, 2}); e != nil {
		t.Fatalf("a tail of %d ms was cached", int64(1)<<33)
	}
	if e := newTailEntry(0, regular, make([]float64, 5)); e.size() != 5*8+128 {
		t.Fatalf("an evenly spaced entry of 5 samples takes %d bytes", e.size())
	}
}
