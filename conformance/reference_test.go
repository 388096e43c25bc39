package conformance

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// memStore is an exact in-memory float store: every value is kept as
// given, NaN, -0 and all. VIGIL_CONFORMANCE_MODE=reference runs the scripts
// through the same harness, engine and time shift over it instead of
// Vigil's store, so the harness can be told apart from the store: what
// fails there is the harness' fault.
type memStore struct {
	mu     sync.Mutex
	series map[uint64]*memSeries
}

type memSeries struct {
	metric labels.Labels
	ts     []int64
	vs     []float64
}

func newMemStore() *memStore { return &memStore{series: map[uint64]*memSeries{}} }

// add appends samples in time order; a later sample at the same time
// replaces the earlier one.
func (m *memStore) add(metric labels.Labels, ts int64, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := metric.Hash()
	s, ok := m.series[h]
	if !ok {
		s = &memSeries{metric: metric}
		m.series[h] = s
	}
	i := sort.Search(len(s.ts), func(i int) bool { return s.ts[i] >= ts })
	if i < len(s.ts) && s.ts[i] == ts {
		s.vs[i] = v
		return
	}
	s.ts = slices.Insert(s.ts, i, ts)
	s.vs = slices.Insert(s.vs, i, v)
}

func (m *memStore) Querier(mint, maxt int64) (promstorage.Querier, error) {
	return &memQuerier{m: m, mint: mint, maxt: maxt}, nil
}

type memQuerier struct {
	m          *memStore
	mint, maxt int64
}

func (q *memQuerier) Select(_ context.Context, _ bool, hints *promstorage.SelectHints, ms ...*labels.Matcher) promstorage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
	}
	q.m.mu.Lock()
	defer q.m.mu.Unlock()
	var out []*memSeries
	for _, s := range q.m.series {
		if !matchesAll(ms, s.metric) {
			continue
		}
		lo := sort.Search(len(s.ts), func(i int) bool { return s.ts[i] >= mint })
		hi := sort.Search(len(s.ts), func(i int) bool { return s.ts[i] > maxt })
		if lo < hi {
			out = append(out, &memSeries{metric: s.metric, ts: s.ts[lo:hi:hi], vs: s.vs[lo:hi:hi]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].metric, out[j].metric) < 0 })
	return &memSeriesSet{series: out, i: -1}
}

func (q *memQuerier) LabelValues(_ context.Context, name string, _ *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	q.m.mu.Lock()
	defer q.m.mu.Unlock()
	var vals []string
	for _, s := range q.m.series {
		if v := s.metric.Get(name); v != "" && matchesAll(ms, s.metric) && !slices.Contains(vals, v) {
			vals = append(vals, v)
		}
	}
	slices.Sort(vals)
	return vals, nil, nil
}

func (q *memQuerier) LabelNames(_ context.Context, _ *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	q.m.mu.Lock()
	defer q.m.mu.Unlock()
	var names []string
	for _, s := range q.m.series {
		if matchesAll(ms, s.metric) {
			s.metric.Range(func(l labels.Label) {
				if !slices.Contains(names, l.Name) {
					names = append(names, l.Name)
				}
			})
		}
	}
	slices.Sort(names)
	return names, nil, nil
}

func (q *memQuerier) Close() error { return nil }

type memSeriesSet struct {
	series []*memSeries
	i      int
}

func (s *memSeriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *memSeriesSet) At() promstorage.Series            { return s.series[s.i] }
func (s *memSeriesSet) Err() error                        { return nil }
func (s *memSeriesSet) Warnings() annotations.Annotations { return nil }

func (s *memSeries) Labels() labels.Labels { return s.metric }

func (s *memSeries) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	return &memIterator{s: s, i: -1}
}

type memIterator struct {
	s *memSeries
	i int
}

func (it *memIterator) Next() chunkenc.ValueType {
	if it.i+1 >= len(it.s.ts) {
		it.i = len(it.s.ts)
		return chunkenc.ValNone
	}
	it.i++
	return chunkenc.ValFloat
}

func (it *memIterator) Seek(t int64) chunkenc.ValueType {
	i := max(it.i, 0)
	for i < len(it.s.ts) && it.s.ts[i] < t {
		i++
	}
	it.i = i
	if i >= len(it.s.ts) {
		return chunkenc.ValNone
	}
	return chunkenc.ValFloat
}

func (it *memIterator) At() (int64, float64) { return it.s.ts[it.i], it.s.vs[it.i] }
func (it *memIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return it.s.ts[it.i], nil
}

func (it *memIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return it.s.ts[it.i], nil
}
func (it *memIterator) AtT() int64  { return it.s.ts[it.i] }
func (it *memIterator) AtST() int64 { return 0 }
func (it *memIterator) Err() error  { return nil }
