package storage

import (
	"context"
	"runtime"
	"slices"
	"sync"

	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/prometheus/prometheus/model/labels"
)

// collectScratch holds what collect needs only while it runs, kept for
// the next Select.
type collectScratch struct {
	prev      []byte       // the name of the series being read
	starts    []int        // where each series' blocks start in the refs
	parsed    []parsedName // each series' labels
	missIdx   []int        // the series whose labels were not cached
	missOff   []int        // where their names start in missBuf
	missBuf   []byte       // their names
	missNames [][]byte
	missKeys  []nameKey
	missed    []parsedName
	byHash    map[uint64]int
	batches   [3]nameBatch
	keys      []nameKey           // lookUp's, of one batch
	hit       [nameBatchSize]bool // ...
}

var collectPool = sync.Pool{New: func() any { return &collectScratch{byHash: map[uint64]int{}} }}

// release clears what points to labels and gives sc back to the pool.
// A scratch grown by an unusually large Select is dropped instead.
func (sc *collectScratch) release() {
	if cap(sc.parsed) > 1<<16 || cap(sc.missBuf) > 8<<20 {
		return
	}
	clear(sc.parsed[:cap(sc.parsed)])
	clear(sc.missed[:cap(sc.missed)])
	clear(sc.missNames[:cap(sc.missNames)])
	clear(sc.byHash)
	collectPool.Put(sc)
}

// A nameBatch carries the names of consecutive series from the search to
// the label look-up.
type nameBatch struct {
	names []byte // back to back
	ends  []int  // where each name ends
}

// nameBatchSize is how many series' names a batch carries.
const nameBatchSize = 256

// pipelineMinSeries is the number of series from which collect walks the
// search on a goroutine of its own while the caller's looks the labels up.
// Below it a Select takes well under a millisecond, and starting the
// goroutine and handing batches over would weigh more.
const pipelineMinSeries = 1024

// collect walks the search and groups block references by series.
// VictoriaMetrics yields the blocks of one series ID contiguously. A series
// may rarely have several IDs, and its plain NaN samples live in a shadow
// series (see nanLabel), so series with equal labels are merged through a
// hash of their labels. found is the search's bound on the number of
// series; lc, if not nil, holds the labels of names seen before: only the
// names it lacks are parsed, after the search.
//
// With many series the search runs on a second goroutine: walking it (the
// store's block and name look-ups, 12% of the CPU of a 10,000-series
// count) and looking the labels up (7%) then overlap.
// The block references and the series a Select collects are the largest
// allocations of a query over many series (~100 bytes a series each, 0.6 MB
// for an instant query over 3,600 series), and what the garbage collector
// then has to sweep: their arrays go back to these pools when the querier
// closes, after the engine has read them for the last time.
var (
	refsPool   slicePool[vmstorage.BlockRef]
	seriesPool slicePool[selectedSeries]
)

// slicePool keeps emptied slices for reuse.
type slicePool[T any] struct{ p sync.Pool }

// get returns an empty slice, with the capacity of one put back if any.
func (sp *slicePool[T]) get() []T {
	if v, ok := sp.p.Get().(*[]T); ok {
		return *v
	}
	return nil
}

// put keeps s for reuse, cleared so that it holds nothing alive. Only
// s[:len(s)] can have been written: a slice from get is filled by append.
func (sp *slicePool[T]) put(s []T) {
	if cap(s) == 0 {
		return
	}
	clear(s)
	s = s[:0]
	sp.p.Put(&s)
}

// release returns the set's arrays to their pools. The set must not be
// read afterwards.
func (ss *seriesSet) release() {
	refsPool.put(ss.refs)
	seriesPool.put(ss.series)
	ss.refs, ss.series, ss.views = nil, nil, nil
}

func (ss *seriesSet) collect(ctx context.Context, sr *vmstorage.Search, found int, lc *labelCache) error {
	found = min(found, 1<<20) // only a capacity hint
	sc := collectPool.Get().(*collectScratch)
	defer sc.release()
	sc.starts = slices.Grow(sc.starts[:0], found+1)
	sc.parsed = slices.Grow(sc.parsed[:0], found)
	sc.missIdx, sc.missOff, sc.missBuf, sc.missKeys = sc.missIdx[:0], sc.missOff[:0], sc.missBuf[:0], sc.missKeys[:0]
	allRefs := slices.Grow(refsPool.get(), found)

	var err error
	if found < pipelineMinSeries || runtime.GOMAXPROCS(0) < 2 {
		b := &sc.batches[0]
		b.reset()
		err = sc.scan(ctx, sr, &allRefs, func() *nameBatch { return b }, func(b *nameBatch) {
			sc.lookUp(b, lc)
			b.reset()
		})
	} else {
		free := make(chan *nameBatch, len(sc.batches))
		for i := range sc.batches {
			free <- &sc.batches[i]
		}
		full := make(chan *nameBatch, len(sc.batches))
		var panicked any
		go func() {
			defer close(full)
			// The store panics on a corrupted part. On the caller's
			// goroutine that fails the request, as before; on this one it
			// would end the process.
			defer func() { panicked = recover() }()
			err = sc.scan(ctx, sr, &allRefs, func() *nameBatch {
				b := <-free
				b.reset()
				return b
			}, func(b *nameBatch) { full <- b })
		}()
		for b := range full {
			sc.lookUp(b, lc)
			free <- b
		}
		if panicked != nil {
			panic(panicked)
		}
	}
	if err != nil {
		return err
	}
	sc.starts = append(sc.starts, len(allRefs))
	if err := sc.parseMissing(lc); err != nil {
		return err
	}

	ss.refs = allRefs
	ss.series = slices.Grow(seriesPool.get(), len(sc.parsed))
	for i := range sc.parsed {
		p := &sc.parsed[i]
		refs := allRefs[sc.starts[i]:sc.starts[i+1]:sc.starts[i+1]]
		if j, ok := sc.byHash[p.hash]; ok && labels.Equal(ss.series[j].labels, p.labels) {
			dst := &ss.series[j]
			if p.nan {
				dst.nanBlocks = append(slices.Clip(dst.nanBlocks), refs...)
			} else {
				dst.blocks = append(slices.Clip(dst.blocks), refs...)
			}
			continue
		}
		sc.byHash[p.hash] = len(ss.series)
		if p.nan {
			ss.series = append(ss.series, selectedSeries{labels: p.labels, nanBlocks: refs})
		} else {
			ss.series = append(ss.series, selectedSeries{labels: p.labels, blocks: refs})
		}
	}
	return nil
}

func (b *nameBatch) reset() {
	b.names = b.names[:0]
	b.ends = b.ends[:0]
}

// scan walks the search: it appends every block's reference to refs and
// where each series' blocks start to sc.starts, and hands the series'
// names to emit in batches taken from next. It touches no other field of
// sc, so that it may run beside lookUp.
func (sc *collectScratch) scan(ctx context.Context, sr *vmstorage.Search, refs *[]vmstorage.BlockRef, next func() *nameBatch, emit func(*nameBatch)) error {
	b := next()
	for sr.NextMetricBlock() {
		mbr := &sr.MetricBlockRef
		if len(sc.starts) == 0 || string(mbr.MetricName) != string(sc.prev) {
			if len(sc.starts)&1023 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			sc.prev = append(sc.prev[:0], mbr.MetricName...)
			sc.starts = append(sc.starts, len(*refs))
			b.names = append(b.names, mbr.MetricName...)
			b.ends = append(b.ends, len(b.names))
			if len(b.ends) == nameBatchSize {
				emit(b)
				b = next()
			}
		}
		*refs = append(*refs, *mbr.BlockRef)
	}
	if len(b.ends) > 0 {
		emit(b)
	}
	return sr.Error()
}

// lookUp appends the labels of the batch's series to sc.parsed, from lc
// where it has them; the others are left for parseMissing.
func (sc *collectScratch) lookUp(b *nameBatch, lc *labelCache) {
	first := len(sc.parsed)
	sc.parsed = slices.Grow(sc.parsed, len(b.ends))[:first+len(b.ends)]
	got := sc.parsed[first:]
	clear(got)
	clear(sc.hit[:])
	sc.keys = sc.keys[:0]
	if lc != nil {
		start := 0
		for _, end := range b.ends {
			sc.keys = append(sc.keys, lc.key(b.names[start:end]))
			start = end
		}
		lc.getAll(sc.keys, got, sc.hit[:len(got)])
	}
	start := 0
	for i, end := range b.ends {
		name := b.names[start:end]
		start = end
		if sc.hit[i] {
			continue
		}
		if lc != nil {
			sc.missKeys = append(sc.missKeys, sc.keys[i])
		}
		sc.missIdx = append(sc.missIdx, first+i)
		sc.missOff = append(sc.missOff, len(sc.missBuf))
		sc.missBuf = append(sc.missBuf, name...)
	}
}

// parseMissing builds the labels of the series the cache lacked and adds
// them to it.
func (sc *collectScratch) parseMissing(lc *labelCache) error {
	if len(sc.missIdx) == 0 {
		return nil
	}
	sc.missNames = sc.missNames[:0]
	for k, off := range sc.missOff {
		end := len(sc.missBuf)
		if k+1 < len(sc.missOff) {
			end = sc.missOff[k+1]
		}
		sc.missNames = append(sc.missNames, sc.missBuf[off:end:end])
	}
	sc.missed = slices.Grow(sc.missed[:0], len(sc.missNames))[:len(sc.missNames)]
	if err := parseNames(sc.missNames, sc.missed); err != nil {
		return err
	}
	for k, i := range sc.missIdx {
		sc.parsed[i] = sc.missed[k]
	}
	if lc != nil {
		lc.putAll(sc.missKeys, sc.missed)
	}
	return nil
}
