package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/bytesutil"
	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// Querier returns a Prometheus storage.Querier over [mint, maxt] (Unix
// milliseconds): Storage is a storage.Queryable for the PromQL engine and
// serves the series, labels and label values look-ups.
//
// Selected series keep references to compressed blocks; a series' blocks
// are read and decoded only when the engine iterates it. The references
// stay valid until the querier is closed, so close it only after the
// engine has finished with every series it selected.
func (s *Storage) Querier(mint, maxt int64) (promstorage.Querier, error) {
	return &querier{s: s, mint: mint, maxt: maxt}, nil
}

type querier struct {
	s          *Storage
	mint, maxt int64

	mu          sync.Mutex
	searches    []*vmstorage.Search
	prefetchers []*prefetcher
	sets        []*seriesSet
	closed      bool
}

var searchPool = sync.Pool{New: func() any { return &vmstorage.Search{} }}

// Close releases every search the querier opened. Blocks selected through
// it must not be read afterwards.
func (q *querier) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.prefetchers {
		p.stop()
	}
	q.prefetchers = nil
	for _, sr := range q.searches {
		sr.MustClose()
		searchPool.Put(sr)
	}
	q.searches = nil
	for _, ss := range q.sets {
		ss.release()
	}
	q.sets = nil
	q.closed = true
	return nil
}

func (q *querier) timeRange(start, end int64) vmstorage.TimeRange {
	if start < q.mint {
		start = q.mint
	}
	if end > q.maxt || end == 0 {
		end = q.maxt
	}
	return vmstorage.TimeRange{MinTimestamp: start, MaxTimestamp: end}
}

// Select returns the series matching ms that have blocks in the time
// range. With hints.Func "series" the caller wants labels only, and no
// block is decoded.
func (q *querier) Select(ctx context.Context, sortSeries bool, hints *promstorage.SelectHints, ms ...*labels.Matcher) promstorage.SeriesSet {
	tr := q.timeRange(q.mint, q.maxt)
	if hints != nil {
		tr = q.timeRange(hints.Start, hints.End)
	}
	tfs, err := matchersToTagFilters(ms)
	if err != nil {
		return promstorage.ErrSeriesSet(err)
	}
	deadline := searchDeadline(ctx)

	sr := searchPool.Get().(*vmstorage.Search)
	found := sr.Init(nil, q.s.vm, []*vmstorage.TagFilters{tfs}, tr, q.s.opts.MaxSeriesPerQuery, deadline)
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		sr.MustClose()
		searchPool.Put(sr)
		return promstorage.ErrSeriesSet(errors.New("storage: Select on a closed querier"))
	}
	q.searches = append(q.searches, sr)
	q.mu.Unlock()

	ss := &seriesSet{tr: tr, cache: q.s.tail}
	q.mu.Lock()
	q.sets = append(q.sets, ss)
	q.mu.Unlock()
	if err := ss.collect(ctx, sr, found, q.s.labels); err != nil {
		return promstorage.ErrSeriesSet(q.s.searchError(err))
	}
	if sortSeries {
		sort.Sort(bySeriesLabels(ss.series))
	}
	if hints != nil && hints.Func == "series" {
		// Labels only: the blocks found tell which series have samples in
		// the range (the index alone knows only whole days).
		return ss
	}
	if p := newPrefetcher(ss.series, tr, ss.cache); p != nil {
		ss.prefetch = p
		q.mu.Lock()
		q.prefetchers = append(q.prefetchers, p)
		q.mu.Unlock()
	}
	return ss
}

// searchError turns VictoriaMetrics' search errors into ones a user can act on.
func (s *Storage) searchError(err error) error {
	msg := err.Error()
	switch {
	case containsAny(msg, "exceeds -search.maxUniqueTimeseries", "the number of matching timeseries exceeds", "the number of matching unique timeseries exceeds"):
		return fmt.Errorf("the query selects more than %d series (--query.max-series); narrow the selector or raise the limit: %w", s.opts.MaxSeriesPerQuery, ErrTooManySeries)
	case containsAny(msg, "deadline", "timeout exceeded"):
		return fmt.Errorf("storage search timed out: %w", context.DeadlineExceeded)
	}
	return err
}

// ErrTooManySeries is wrapped by errors of selectors that match more series
// than Options.MaxSeriesPerQuery.
var ErrTooManySeries = errors.New("too many series")

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func searchDeadline(ctx context.Context) uint64 {
	if d, ok := ctx.Deadline(); ok {
		return uint64(d.Unix()) + 1
	}
	return uint64(time.Now().Add(time.Hour).Unix())
}

// LabelValues returns the sorted values of label name among series that
// match ms.
func (q *querier) LabelValues(ctx context.Context, name string, hints *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	tfss, err := matchersToTagFilterss(ms)
	if err != nil {
		return nil, nil, err
	}
	if name == nanLabel {
		return nil, nil, nil
	}
	limit := labelLimit(hints)
	tr := q.timeRange(q.mint, q.maxt)
	vals, err := q.s.vm.SearchLabelValues(nil, name, tfss, tr, limit, q.s.opts.MaxSeriesPerQuery, searchDeadline(ctx))
	if err != nil {
		return nil, nil, q.s.searchError(err)
	}
	vals = slices.DeleteFunc(vals, func(v string) bool { return v == "" })
	slices.Sort(vals)
	return vals, nil, nil
}

// LabelNames returns the sorted label names of series that match ms.
func (q *querier) LabelNames(ctx context.Context, hints *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	tfss, err := matchersToTagFilterss(ms)
	if err != nil {
		return nil, nil, err
	}
	limit := labelLimit(hints)
	tr := q.timeRange(q.mint, q.maxt)
	names, err := q.s.vm.SearchLabelNames(nil, tfss, tr, limit, q.s.opts.MaxSeriesPerQuery, searchDeadline(ctx))
	if err != nil {
		return nil, nil, q.s.searchError(err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == nanLabel })
	slices.Sort(names)
	return names, nil, nil
}

func labelLimit(hints *promstorage.LabelHints) int {
	if hints != nil && hints.Limit > 0 {
		return hints.Limit
	}
	return 1 << 30
}

// selectedSeries is one series of a Select: its labels and the references
// to its compressed blocks, valid while the querier is open.
type selectedSeries struct {
	labels labels.Labels
	blocks []vmstorage.BlockRef

	// nanBlocks belong to the series' NaN shadow: every value in them
	// stands for a plain NaN.
	nanBlocks []vmstorage.BlockRef
}

type bySeriesLabels []selectedSeries

func (s bySeriesLabels) Len() int           { return len(s) }
func (s bySeriesLabels) Less(i, j int) bool { return labels.Compare(s[i].labels, s[j].labels) < 0 }
func (s bySeriesLabels) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }

type seriesSet struct {
	tr       vmstorage.TimeRange
	cache    *tailCache // nil: off
	series   []selectedSeries
	refs     []vmstorage.BlockRef // the array series' blocks are cut from
	prefetch *prefetcher          // nil: decode in the engine's goroutine
	views    []series             // what At returns, one allocation for all
	cur      int
	err      error
}

var nanLabelBytes = []byte(nanLabel)

// stripNaNLabel removes nanLabel from mn, whose marshaled form is name, and
// reports whether it was there.
func stripNaNLabel(mn *vmstorage.MetricName, name []byte) bool {
	if !bytes.Contains(name, nanLabelBytes) || mn.GetTagValue(nanLabel) == nil {
		return false
	}
	mn.RemoveTag(nanLabel)
	return true
}

func (ss *seriesSet) Next() bool {
	if ss.cur >= len(ss.series) {
		return false
	}
	ss.cur++
	return true
}

func (ss *seriesSet) At() promstorage.Series {
	if ss.views == nil {
		ss.views = make([]series, len(ss.series))
	}
	v := &ss.views[ss.cur-1]
	*v = series{ss: ss, i: ss.cur - 1}
	return v
}

func (ss *seriesSet) Err() error                        { return ss.err }
func (ss *seriesSet) Warnings() annotations.Annotations { return nil }

type series struct {
	ss *seriesSet
	i  int
}

func (s *series) Labels() labels.Labels { return s.ss.series[s.i].labels }

// Iterator returns an iterator over the series' samples, reusing it when it
// is one of ours. Decoding happens on the first Next or Seek.
func (s *series) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	si, ok := it.(*sampleIterator)
	if !ok {
		si = &sampleIterator{}
	}
	si.reset(&s.ss.series[s.i], s.ss.tr, s.ss.cache, s.ss.prefetch, s.i)
	return si
}

// sampleIterator decodes a series' blocks into its own buffers and walks
// them. The buffers are reused when the engine hands the iterator back.
type sampleIterator struct {
	series  *selectedSeries
	tr      vmstorage.TimeRange
	cache   *tailCache // nil: off
	decoded bool

	prefetch *prefetcher // may have decoded the series already
	idx      int         // the series' index in prefetch

	block   vmstorage.Block
	hdr     []byte    // a block's marshaled header
	tailTs  []int64   // a block's tail, for the tail cache
	tailVs  []float64 // ...
	ts      []int64
	vs      []float64
	tmpTs   []int64
	tmpVs   []float64
	mergeTs []int64
	mergeVs []float64
	i       int
	err     error
}

func (it *sampleIterator) reset(s *selectedSeries, tr vmstorage.TimeRange, c *tailCache, p *prefetcher, idx int) {
	it.series = s
	it.tr = tr
	it.cache = c
	it.prefetch = p
	it.idx = idx
	it.decoded = false
	it.ts = it.ts[:0]
	it.vs = it.vs[:0]
	it.i = -1
	it.err = nil
}

// decode reads every block and merges them into ts/vs sorted by time. The
// blocks come ordered by their first timestamp, but blocks of different
// parts may overlap until merges catch up: those are merged linearly, and
// of equal timestamps the later block's sample wins.
func (it *sampleIterator) decode() {
	it.decoded = true
	if it.prefetch != nil {
		if d, ok := it.prefetch.take(it.idx); ok {
			// Swap buffers: the iterator's old ones go back to the workers.
			it.ts, d.ts = d.ts, it.ts[:0]
			it.vs, d.vs = d.vs, it.vs[:0]
			it.err = d.err
			d.err = nil
			decodedPool.Put(d)
			return
		}
	}
	it.decodeBlocks(it.series.blocks, false)
	if it.err == nil && len(it.series.nanBlocks) > 0 {
		it.decodeBlocks(it.series.nanBlocks, true)
	}
	it.ts, it.vs = dedupTimestamps(it.ts, it.vs)
}

// dedupTimestamps keeps the last of samples with equal timestamps. A block
// holds such duplicates when a batch was stored twice, as the write-ahead
// log's replay does for rows that had reached disk before a crash; the
// store removes them in background merges.
func dedupTimestamps(ts []int64, vs []float64) ([]int64, []float64) {
	i := 1
	for i < len(ts) && ts[i] != ts[i-1] {
		i++
	}
	if i >= len(ts) {
		return ts, vs
	}
	j := i - 1
	for ; i < len(ts); i++ {
		if ts[i] != ts[j] {
			j++
		}
		ts[j], vs[j] = ts[i], vs[i]
	}
	return ts[:j+1], vs[:j+1]
}

func (it *sampleIterator) decodeBlocks(blocks []vmstorage.BlockRef, nan bool) {
	var err error
	for i := range blocks {
		br := &blocks[i]
		if len(it.ts) == 0 && !nan {
			if it.ts, it.vs, err = it.appendBlock(br, it.ts, it.vs); err != nil {
				it.err = fmt.Errorf("storage: cannot decode a block: %w", err)
				return
			}
			continue
		}
		if it.tmpTs, it.tmpVs, err = it.appendBlock(br, it.tmpTs[:0], it.tmpVs[:0]); err != nil {
			it.err = fmt.Errorf("storage: cannot decode a block: %w", err)
			return
		}
		if len(it.tmpTs) == 0 {
			continue
		}
		if nan {
			for k := range it.tmpVs {
				it.tmpVs[k] = math.NaN()
			}
		}
		if len(it.ts) == 0 || it.tmpTs[0] > it.ts[len(it.ts)-1] {
			it.ts = append(it.ts, it.tmpTs...)
			it.vs = append(it.vs, it.tmpVs...)
			continue
		}
		it.merge()
	}
}

func (it *sampleIterator) merge() {
	a, av, b, bv := it.ts, it.vs, it.tmpTs, it.tmpVs
	ts, vs := it.mergeTs[:0], it.mergeVs[:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			ts, vs = append(ts, a[i]), append(vs, av[i])
			i++
		case a[i] > b[j]:
			ts, vs = append(ts, b[j]), append(vs, bv[j])
			j++
		default:
			ts, vs = append(ts, b[j]), append(vs, bv[j])
			i++
			j++
		}
	}
	ts, vs = append(ts, a[i:]...), append(vs, av[i:]...)
	ts, vs = append(ts, b[j:]...), append(vs, bv[j:]...)
	it.mergeTs, it.mergeVs = it.ts, it.vs
	it.ts, it.vs = ts, vs
}

func (it *sampleIterator) Next() chunkenc.ValueType {
	if !it.decoded {
		it.decode()
	}
	if it.err != nil {
		return chunkenc.ValNone
	}
	if it.i+1 >= len(it.ts) {
		it.i = len(it.ts)
		return chunkenc.ValNone
	}
	it.i++
	return chunkenc.ValFloat
}

// Seek moves to the first sample at or after t, never backwards.
func (it *sampleIterator) Seek(t int64) chunkenc.ValueType {
	if !it.decoded {
		it.decode()
	}
	if it.err != nil {
		return chunkenc.ValNone
	}
	i := max(it.i, 0)
	if i >= len(it.ts) {
		return chunkenc.ValNone
	}
	if it.ts[i] < t {
		i += sort.Search(len(it.ts)-i, func(k int) bool { return it.ts[i+k] >= t })
	}
	it.i = i
	if i >= len(it.ts) {
		return chunkenc.ValNone
	}
	return chunkenc.ValFloat
}

func (it *sampleIterator) At() (int64, float64) { return it.ts[it.i], it.vs[it.i] }
func (it *sampleIterator) AtT() int64           { return it.ts[it.i] }
func (it *sampleIterator) AtST() int64          { return 0 }
func (it *sampleIterator) Err() error           { return it.err }

// The store holds floats only; the engine never asks for histograms of a
// float sample.
func (it *sampleIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return it.ts[it.i], nil
}

func (it *sampleIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return it.ts[it.i], nil
}

// metricNameLabels builds sorted Prometheus labels from a VictoriaMetrics
// metric name. The builder only borrows mn's bytes until Labels copies them.
func metricNameLabels(b *labels.ScratchBuilder, mn *vmstorage.MetricName) labels.Labels {
	b.Reset()
	if len(mn.MetricGroup) > 0 {
		b.Add(model.MetricNameLabel, bytesutil.ToUnsafeString(mn.MetricGroup))
	}
	for i := range mn.Tags {
		t := &mn.Tags[i]
		b.Add(bytesutil.ToUnsafeString(t.Key), bytesutil.ToUnsafeString(t.Value))
	}
	b.Sort()
	return b.Labels()
}

// matchersToTagFilters converts Prometheus matchers to VictoriaMetrics tag
// filters. The metric name is the empty key there.
func matchersToTagFilters(ms []*labels.Matcher) (*vmstorage.TagFilters, error) {
	tfs := vmstorage.NewTagFilters()
	for _, m := range ms {
		key := []byte(m.Name)
		if m.Name == model.MetricNameLabel {
			key = nil
		}
		var negative, regexp bool
		switch m.Type {
		case labels.MatchEqual:
		case labels.MatchNotEqual:
			negative = true
		case labels.MatchRegexp:
			regexp = true
		case labels.MatchNotRegexp:
			negative, regexp = true, true
		default:
			return nil, fmt.Errorf("unsupported matcher type %s", m.Type)
		}
		if err := tfs.Add(key, []byte(m.Value), negative, regexp); err != nil {
			return nil, fmt.Errorf("invalid matcher %s: %w", m, err)
		}
	}
	return tfs, nil
}

func matchersToTagFilterss(ms []*labels.Matcher) ([]*vmstorage.TagFilters, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	tfs, err := matchersToTagFilters(ms)
	if err != nil {
		return nil, err
	}
	return []*vmstorage.TagFilters{tfs}, nil
}
