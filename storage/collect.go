package storage

import (
	"context"
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

// collect walks the search and groups block references by series.
// VictoriaMetrics yields the blocks of one series ID contiguously. A series
// may rarely have several IDs, and its plain NaN samples live in a shadow
// series (see nanLabel), so series with equal labels are merged through a
// hash of their labels. found is the search's bound on the number of
// series; lc, if not nil, holds the labels of names seen before: only the
// names it lacks are parsed, after the search.
func (ss *seriesSet) collect(ctx context.Context, sr *vmstorage.Search, found int, lc *labelCache) error {
	found = min(found, 1<<20) // only a capacity hint
	sc := collectPool.Get().(*collectScratch)
	defer sc.release()
	sc.starts = sc.starts[:0]
	sc.parsed = slices.Grow(sc.parsed[:0], found)
	sc.missIdx, sc.missOff, sc.missBuf, sc.missKeys = sc.missIdx[:0], sc.missOff[:0], sc.missBuf[:0], sc.missKeys[:0]
	allRefs := make([]vmstorage.BlockRef, 0, found)
	for sr.NextMetricBlock() {
		mbr := &sr.MetricBlockRef
		if len(sc.starts) == 0 || string(mbr.MetricName) != string(sc.prev) {
			if len(sc.starts)&1023 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			sc.prev = append(sc.prev[:0], mbr.MetricName...)
			sc.starts = append(sc.starts, len(allRefs))
			var p parsedName
			hit := false
			if lc != nil {
				k := lc.key(sc.prev)
				if p, hit = lc.get(k); !hit {
					sc.missKeys = append(sc.missKeys, k)
				}
			}
			if !hit {
				sc.missIdx = append(sc.missIdx, len(sc.parsed))
				sc.missOff = append(sc.missOff, len(sc.missBuf))
				sc.missBuf = append(sc.missBuf, sc.prev...)
			}
			sc.parsed = append(sc.parsed, p)
		}
		allRefs = append(allRefs, *mbr.BlockRef)
	}
	if err := sr.Error(); err != nil {
		return err
	}
	sc.starts = append(sc.starts, len(allRefs))
	if err := sc.parseMissing(lc); err != nil {
		return err
	}

	ss.series = make([]selectedSeries, 0, len(sc.parsed))
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
