package storage

import (
	"context"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/prometheus/prometheus/model/labels"
)

// readUnlabelled is readAll with the label cache switched off: the
// reference that reads through the cache must equal.
func readUnlabelled(t *testing.T, s *Storage, mint, maxt int64, ms ...*labels.Matcher) map[string][]point {
	t.Helper()
	c := s.labels
	s.labels = nil
	defer func() { s.labels = c }()
	return readAll(t, s, mint, maxt, ms...)
}

func seriesKeys(m map[string][]point) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestLabelCacheMatchesParsing(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	end := time.Now().Truncate(time.Minute).UnixMilli()
	var rows Rows
	odd := []string{`a"b`, `c\d`, "zürich", "x=y,z", "{}", "tab\there", "new\nline", "nul\x00byte", "\x01\x02"}
	for i, v := range odd {
		ls := lbls("__name__", "odd", "v", v, "i", strconv.Itoa(i))
		for j := range 4 {
			if err := rows.Add(ls, end-int64(3-j)*15_000, float64(j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A series with a plain NaN lives partly in its NaN shadow; the two
	// must come back as one series.
	ls := lbls("__name__", "ratio", "job", "a", "zone", "z1")
	_ = rows.AddSeries(ls, []Sample{{Value: 1, Timestamp: end - 30_000}, {Value: math.NaN(), Timestamp: end - 15_000}, {Value: 3, Timestamp: end}})
	_ = rows.Add(lbls("__name__", "only_nan", "job", "a"), end, math.NaN())
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}
	s.ForceFlush()

	all := labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")
	want := readUnlabelled(t, s, end-3600_000, end, all)
	if len(want) != len(odd)+2 {
		t.Fatalf("reference read: %d series, want %d: %v", len(want), len(odd)+2, seriesKeys(want))
	}
	h0 := s.labels.hits.Load()
	for run := range 3 {
		got := readAll(t, s, end-3600_000, end, all)
		if err := samePoints(got, want); err != nil {
			t.Fatalf("run %d through the label cache: %v", run, err)
		}
	}
	// The first run parsed (11 names and a NaN shadow's), the next two hit.
	if hits := s.labels.hits.Load() - h0; hits != 2*uint64(len(odd)+3) {
		t.Fatalf("%d hits, want %d", hits, 2*(len(odd)+3))
	}
	if r := want[`{__name__="ratio", job="a", zone="z1"}`]; len(r) != 3 || !math.IsNaN(r[1].V) {
		t.Fatalf("the NaN shadow was not merged back: %v", r)
	}
}

// TestLabelCacheSeesNewAndDeletedSeries: the cache only builds labels;
// which series a Select returns is the index's answer at that moment.
func TestLabelCacheSeesNewAndDeletedSeries(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	end := time.Now().Truncate(time.Minute).UnixMilli()
	add := func(ids ...int) {
		t.Helper()
		var rows Rows
		for _, i := range ids {
			if err := rows.Add(lbls("__name__", "m", "i", strconv.Itoa(i)), end, float64(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Append(&rows); err != nil {
			t.Fatal(err)
		}
		s.ForceFlush()
	}
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "m")
	expect := func(ids ...int) {
		t.Helper()
		var want []string
		for _, i := range ids {
			want = append(want, `{__name__="m", i="`+strconv.Itoa(i)+`"}`)
		}
		slices.Sort(want)
		// Twice: the second Select finds every name in the cache.
		for range 2 {
			got := readAll(t, s, end-60_000, end, m)
			if keys := seriesKeys(got); !slices.Equal(keys, want) {
				t.Fatalf("series %v, want %v", keys, want)
			}
			for k, pts := range got {
				if len(pts) != 1 || `{__name__="m", i="`+strconv.Itoa(int(pts[0].V))+`"}` != k {
					t.Fatalf("series %s has samples %v", k, pts)
				}
			}
		}
	}
	add(0, 1, 2)
	expect(0, 1, 2)
	add(3)
	expect(0, 1, 2, 3)
	if n, err := s.DeleteSeries(context.Background(), [][]*labels.Matcher{{m, labels.MustNewMatcher(labels.MatchEqual, "i", "1")}}); err != nil || n != 1 {
		t.Fatalf("delete: %d, %v", n, err)
	}
	expect(0, 2, 3)
	// Written again, the series comes back under a new ID, with the same
	// name and so the same cache entry.
	add(1)
	expect(0, 1, 2, 3)
}

// marshaledName returns the store's form of a series name.
func marshaledName(name string, kv ...string) []byte {
	var mn vmstorage.MetricName
	mn.MetricGroup = []byte(name)
	for i := 0; i < len(kv); i += 2 {
		mn.AddTag(kv[i], kv[i+1])
	}
	return mn.Marshal(nil)
}

// resolve looks names up in c as collect does: the cached ones from c,
// the others parsed and added.
func resolve(c *labelCache, names [][]byte) ([]parsedName, error) {
	out := make([]parsedName, len(names))
	var missKeys []nameKey
	var missNames [][]byte
	var missIdx []int
	keys := make([]nameKey, len(names))
	for i, name := range names {
		keys[i] = c.key(name)
	}
	hit := make([]bool, len(names))
	c.getAll(keys, out, hit)
	for i, name := range names {
		if !hit[i] {
			missKeys, missNames, missIdx = append(missKeys, keys[i]), append(missNames, name), append(missIdx, i)
		}
	}
	missed, err := parseSeriesNames(missNames)
	if err != nil {
		return nil, err
	}
	for k, i := range missIdx {
		out[i] = missed[k]
	}
	c.putAll(missKeys, missed)
	return out, nil
}

func TestLabelCacheStaysWithinItsBudget(t *testing.T) {
	const maxBytes = 16 << 10
	c := newLabelCache(maxBytes)
	names := make([][]byte, 500)
	for i := range names {
		names[i] = marshaledName("m", "i", strconv.Itoa(i), "job", "j")
	}
	for lo := 0; lo < len(names); lo += 50 {
		// Each batch holds a name twice and one of the previous batch.
		batch := append([][]byte{names[lo], names[max(lo-1, 0)]}, names[lo:lo+50]...)
		got, err := resolve(c, batch)
		if err != nil {
			t.Fatal(err)
		}
		want, err := parseSeriesNames(batch)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if !labels.Equal(got[i].labels, want[i].labels) || got[i].hash != want[i].hash || got[i].nan != want[i].nan {
				t.Fatalf("batch at %d, name %d: %v, want %v", lo, i, got[i].labels, want[i].labels)
			}
		}
		if n := c.sizeBytes(); n > maxBytes {
			t.Fatalf("the cache takes %d bytes, more than its %d", n, maxBytes)
		}
	}
	if c.hits.Load() == 0 || c.misses.Load() < uint64(len(names)) {
		t.Fatalf("hits %d, misses %d", c.hits.Load(), c.misses.Load())
	}
	// The oldest names were dropped with their generation.
	if _, ok := c.get(c.key(names[0])); ok {
		t.Fatal("the first name is still cached after 500 others filled a 16 KiB cache")
	}
	if _, ok := c.get(c.key(names[len(names)-1])); !ok {
		t.Fatal("the last name is not cached")
	}
}

func TestParseNaNShadowAndCorruptName(t *testing.T) {
	got, err := parseSeriesNames([][]byte{marshaledName("r", "job", "a", nanLabel, "1"), marshaledName("r", "job", "a")})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].nan || got[1].nan || !labels.Equal(got[0].labels, got[1].labels) || got[0].hash != got[1].hash {
		t.Fatalf("shadow %+v, series %+v", got[0], got[1])
	}
	if _, err := parseSeriesNames([][]byte{{0xff}}); err == nil {
		t.Fatal("a corrupt name parsed")
	}
}

func TestLabelCacheConcurrent(t *testing.T) {
	c := newLabelCache(32 << 10)
	names := make([][]byte, parallelParseMin+100)
	for i := range names {
		names[i] = marshaledName("m", "i", strconv.Itoa(i%300))
	}
	want, err := parseSeriesNames(names)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				got, err := resolve(c, names)
				if err != nil {
					t.Error(err)
					return
				}
				for i := range got {
					if !labels.Equal(got[i].labels, want[i].labels) {
						t.Errorf("name %d: %v, want %v", i, got[i].labels, want[i].labels)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestCollectPipelined: a Select of many series walks the search on a
// goroutine of its own; it must find what a small one would, NaN shadows
// merged, and stop at a cancelled context.
func TestCollectPipelined(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	end := time.Now().Truncate(time.Minute).UnixMilli()
	const n = 3*nameBatchSize + pipelineMinSeries
	var rows Rows
	for i := range n {
		ls := lbls("__name__", "many", "i", strconv.Itoa(i))
		v := float64(i)
		if i%500 == 7 {
			v = math.NaN() // in the series' NaN shadow
		}
		if err := rows.AddSeries(ls, []Sample{{Value: float64(i), Timestamp: end - 15_000}, {Value: v, Timestamp: end}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}
	s.ForceFlush()
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "many")
	want := readUnlabelled(t, s, end-60_000, end, m)
	if len(want) != n {
		t.Fatalf("reference read: %d series, want %d", len(want), n)
	}
	for run := range 2 {
		if err := samePoints(readAll(t, s, end-60_000, end, m), want); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	if r := want[`{__name__="many", i="7"}`]; len(r) != 2 || r[0].V != 7 || !math.IsNaN(r[1].V) {
		t.Fatalf("series 7: %v", r)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q, err := s.Querier(end-60_000, end)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(ctx, false, nil, m)
	for ss.Next() {
		t.Fatal("a cancelled Select returned series")
	}
	if err := ss.Err(); err == nil {
		t.Fatal("a cancelled Select did not fail")
	}
}

// get looks one key up.
func (c *labelCache) get(k nameKey) (parsedName, bool) {
	var p [1]parsedName
	var ok [1]bool
	c.getAll([]nameKey{k}, p[:], ok[:])
	return p[0], ok[0]
}

// TestLabelCacheSharedSlot: names whose first hashes collide take turns
// in a slot; neither is ever answered with the other's labels.
func TestLabelCacheSharedSlot(t *testing.T) {
	c := newLabelCache(1 << 20)
	ps, err := parseSeriesNames([][]byte{marshaledName("a"), marshaledName("b")})
	if err != nil {
		t.Fatal(err)
	}
	ka, kb := nameKey{h1: 1, h2: 2}, nameKey{h1: 1, h2: 3}
	c.putAll([]nameKey{ka}, ps[:1])
	if _, ok := c.get(kb); ok {
		t.Fatal("b found in a's slot")
	}
	c.putAll([]nameKey{kb}, ps[1:])
	if _, ok := c.get(ka); ok {
		t.Fatal("a still found after b took the slot")
	}
	if p, ok := c.get(kb); !ok || p.labels.Get("__name__") != "b" {
		t.Fatalf("b: %v %v", p.labels, ok)
	}
	if n, want := c.sizeBytes(), ps[1].size(); n != want {
		t.Fatalf("size %d, want %d", n, want)
	}
}

// TestDefaultCachesHoldALargeQuery runs the working set of an instant
// query over the 50,000 series of the large benchmark through the label
// and tail caches of their default sizes, twice: the second run must find
// every entry. A cache whose generation is smaller than the working set
// evicts each entry before the next run reads it, and hits none.
func TestDefaultCachesHoldALargeQuery(t *testing.T) {
	const series = 50_000
	labelsCache := newLabelCache(DefaultLabelCacheBytes)
	tails := newTailCache(DefaultTailCacheBytes)
	names := make([][]byte, series)
	for i := range names {
		names[i] = marshaledName("http_request_duration_seconds_bucket",
			"job", "panic-api", "instance", "api-"+strconv.Itoa(i%40)+":8000", "endpoint", "/api/v1/panic/"+strconv.Itoa(i/40%25),
			"method", "POST", "le", strconv.Itoa(i/1000))
	}
	// The last 5 minutes of a block sampled every 15 s with jitter.
	ts, vs := make([]int64, 20), make([]float64, 20)
	for i := range ts {
		ts[i], vs[i] = 1_700_000_000_000+int64(i)*15_000+int64(i%3), float64(i)
	}
	for run := range 2 {
		labelHits, tailHits := labelsCache.hits.Load(), 0
		if _, err := resolve(labelsCache, names); err != nil {
			t.Fatal(err)
		}
		for i := range series {
			key := tailKey{metricID: uint64(i), part: 1, offset: uint64(i) * 4096}
			if tails.get(key) != nil {
				tailHits++
				continue
			}
			tails.put(key, newTailEntry(ts[0], ts, vs))
		}
		if run == 1 {
			if n := labelsCache.hits.Load() - labelHits; n != series {
				t.Errorf("label cache: %d of %d series hit on the second run", n, series)
			}
			if tailHits != series {
				t.Errorf("tail cache: %d of %d blocks hit on the second run", tailHits, series)
			}
		}
	}
}
