package storage

import (
	"encoding/binary"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/encoding"
	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

// A tailCache keeps the decoded newest samples of recently read blocks.
//
// A VictoriaMetrics block holds up to 8,192 samples of one series, and its
// timestamps and values are compressed as a whole (zstd, then delta
// encoding): reading the last five minutes of a series that has a 6-hour
// block decodes all of its ~1,440 samples. Instant queries, alerting rules
// and dashboards ask for the end of the same blocks again and again, so the
// samples a query needed from the end of a block are kept here, and a later
// query whose time range starts no earlier is served without decoding.
//
// An entry is keyed by where the block is stored: its series ID, the part
// that holds it and its offset in the part's timestamps file. A part's
// files never change once written, so the key needs nothing of the block
// but its header, and a hit reads nothing from the part: reading the
// compressed block to hash its content took 11% of the CPU of an instant
// query over 3,600 series. A merge writes new parts, whose blocks get new
// keys; a deleted series' blocks are no longer found by searches, so their
// entries are never asked for again and age out. Entries are immutable.
//
// Parts are told apart by partIDs, which numbers each part the first time
// it is seen and holds the part's reference while it does, so that a later
// part cannot be allocated where a numbered one was.
//
// Only a tail of at most an eighth of the block's time span is kept, where
// the memory it takes buys the most decoding: the last 5 minutes of a
// 6-hour block are 1/72 of its samples.
//
// The cache holds two generations, each up to half of maxBytes: when the
// current one is full it becomes the previous one and the old previous one
// is dropped. A hit in the previous generation moves the entry forward.
type tailCache struct {
	maxBytes int64
	parts    partIDs

	mu        sync.Mutex
	cur, prev map[tailKey]*tailEntry
	curBytes  int64
	prevBytes int64

	hits, misses atomic.Uint64
}

// tailKey identifies a block by where it is stored.
type tailKey struct {
	metricID uint64
	part     uint64 // from partIDs
	offset   uint64 // in the part's timestamps file
}

// partIDs numbers the parts that blocks were read from. It holds two
// generations of at most maxPartIDs parts each, as the caches do: a part
// not read from for two generations is forgotten, so that the parts that
// merges replaced can be freed, and gets a new number if it is read again
// (its blocks then miss once). Numbers are never reused.
type partIDs struct {
	mu        sync.Mutex
	next      uint64
	cur, prev map[vmstorage.PartRef]uint64
}

// maxPartIDs bounds one generation of partIDs: a store has tens of parts
// at a time, and merges replace the small ones every few seconds.
const maxPartIDs = 256

// id returns the number of the part p.
func (ids *partIDs) id(p vmstorage.PartRef) uint64 {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if id, ok := ids.cur[p]; ok {
		return id
	}
	id, ok := ids.prev[p]
	if !ok {
		ids.next++
		id = ids.next
	}
	if len(ids.cur) >= maxPartIDs || ids.cur == nil {
		ids.prev, ids.cur = ids.cur, make(map[vmstorage.PartRef]uint64, maxPartIDs)
	}
	ids.cur[p] = id
	return id
}

// tailEntry holds a block's samples with timestamps at or after from.
// The timestamps take 4 bytes each or none: as offsets from the first one,
// or, when they are evenly spaced (a backfill, recorded rules, aligned
// scrapes), as the first one and the step.
type tailEntry struct {
	from  int64
	first int64    // the first sample's timestamp
	step  int64    // > 0: timestamp i is first + i*step, and offs is nil
	offs  []uint32 // else timestamp i is first + offs[i]
	vs    []float64
}

// newTailEntry returns the entry for the samples ts/vs (ts ascending) of
// a block read from from on, or nil when their timestamps span more than
// 4 bytes of milliseconds (~49 days).
func newTailEntry(from int64, ts []int64, vs []float64) *tailEntry {
	e := &tailEntry{from: from, vs: slices.Clone(vs)}
	if len(ts) == 0 {
		return e
	}
	e.first = ts[0]
	if ts[len(ts)-1]-ts[0] > math.MaxUint32 {
		return nil
	}
	if len(ts) > 1 {
		e.step = ts[1] - ts[0]
		for i := 2; i < len(ts) && e.step > 0; i++ {
			if ts[i]-ts[i-1] != e.step {
				e.step = 0
			}
		}
	}
	if e.step == 0 && len(ts) > 1 {
		e.offs = make([]uint32, len(ts))
		for i, t := range ts {
			e.offs[i] = uint32(t - e.first)
		}
	}
	return e
}

// ts returns the timestamp of sample i.
func (e *tailEntry) ts(i int) int64 {
	if e.offs != nil {
		return e.first + int64(e.offs[i])
	}
	return e.first + int64(i)*e.step
}

// size approximates the bytes an entry takes: its samples, the entry, and
// its key and slot in the map.
func (e *tailEntry) size() int64 { return int64(len(e.vs))*8 + int64(len(e.offs))*4 + 128 }

const (
	// DefaultTailCacheBytes is the tail cache's size when
	// Options.TailCacheBytes is 0. An entry for the last 5 minutes of a
	// series sampled every 15 s takes ~290 bytes (evenly spaced) to ~370
	// (jittered), and a query's working set must fit in one generation
	// (half of it) to stay cached from one run to the next: 32 MiB,
	// ~90,000–115,000 series. A query over more series than a generation
	// holds evicts its own entries before its next run reads them: at
	// 16 MiB, `count({job="panic-api"})` over 50,000 series hit none of
	// them and took 444 ms instead of 118 ms.
	DefaultTailCacheBytes = 64 << 20

	// tailMinRows: smaller blocks decode in a few microseconds, and the
	// newest ones are rewritten by merges every few seconds.
	tailMinRows = 256
)

func newTailCache(maxBytes int64) *tailCache {
	if maxBytes <= 0 {
		return nil
	}
	return &tailCache{
		maxBytes: maxBytes,
		cur:      map[tailKey]*tailEntry{},
		prev:     map[tailKey]*tailEntry{},
	}
}

func (c *tailCache) get(key tailKey) *tailEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.cur[key]; e != nil {
		return e
	}
	e := c.prev[key]
	if e != nil {
		delete(c.prev, key)
		c.prevBytes -= e.size()
		c.putLocked(key, e)
	}
	return e
}

func (c *tailCache) put(key tailKey, e *tailEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.cur[key]; old != nil {
		delete(c.cur, key)
		c.curBytes -= old.size()
	}
	c.putLocked(key, e)
}

func (c *tailCache) putLocked(key tailKey, e *tailEntry) {
	if c.curBytes+e.size() > c.maxBytes/2 {
		c.prev, c.prevBytes = c.cur, c.curBytes
		c.cur, c.curBytes = make(map[tailKey]*tailEntry, len(c.prev)), 0
	}
	c.cur[key] = e
	c.curBytes += e.size()
}

// sizeBytes returns the bytes the cache takes.
func (c *tailCache) sizeBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.curBytes + c.prevBytes
}

// blockTimeRange returns a block's first and last timestamps from its
// marshaled header: the series ID (24 bytes, the metric ID last), then
// both timestamps.
func blockTimeRange(hdr []byte) (minTs, maxTs int64) {
	return encoding.UnmarshalInt64(hdr[24:32]), encoding.UnmarshalInt64(hdr[32:40])
}

// blockKey returns the key of the block br, whose marshaled header is hdr.
func (c *tailCache) blockKey(br *vmstorage.BlockRef, hdr []byte) tailKey {
	return tailKey{
		metricID: binary.BigEndian.Uint64(hdr[16:24]),
		part:     c.parts.id(br.PartRef()),
		offset:   binary.BigEndian.Uint64(hdr[48:56]),
	}
}

// appendBlock appends the samples of br within tr to ts/vs. It serves them
// from the tail cache when the cache has the block from tr's start on, and
// caches what it decodes when tr covers only the end of a large block.
func (it *sampleIterator) appendBlock(br *vmstorage.BlockRef, ts []int64, vs []float64) ([]int64, []float64, error) {
	c := it.cache
	useCache := false
	if c != nil && br.RowsCount() >= tailMinRows {
		it.hdr = br.Marshal(it.hdr[:0])
		minTs, maxTs := blockTimeRange(it.hdr)
		useCache = it.tr.MinTimestamp > minTs && it.tr.MinTimestamp <= maxTs &&
			(maxTs-it.tr.MinTimestamp) <= (maxTs-minTs)/8
	}
	var key tailKey
	if useCache {
		key = c.blockKey(br, it.hdr)
		if e := c.get(key); e != nil && e.from <= it.tr.MinTimestamp {
			c.hits.Add(1)
			ts, vs = e.appendRange(ts, vs, it.tr)
			return ts, vs, nil
		}
		c.misses.Add(1)
	}
	br.MustReadBlock(&it.block)
	if err := it.block.UnmarshalData(); err != nil {
		return ts, vs, err
	}
	if !useCache {
		ts, vs = it.block.AppendRowsWithTimeRangeFilter(ts, vs, it.tr)
		return ts, vs, nil
	}
	// Keep the block's samples from tr's start on, those after tr's end
	// included: a later query may end later.
	it.tailTs, it.tailVs = it.block.AppendRowsWithTimeRangeFilter(it.tailTs[:0], it.tailVs[:0],
		vmstorage.TimeRange{MinTimestamp: it.tr.MinTimestamp, MaxTimestamp: 1<<63 - 1})
	e := newTailEntry(it.tr.MinTimestamp, it.tailTs, it.tailVs)
	if e == nil {
		ts, vs = it.block.AppendRowsWithTimeRangeFilter(ts, vs, it.tr)
		return ts, vs, nil
	}
	c.put(key, e)
	ts, vs = e.appendRange(ts, vs, it.tr)
	return ts, vs, nil
}

// appendRange appends the entry's samples within tr.
func (e *tailEntry) appendRange(ts []int64, vs []float64, tr vmstorage.TimeRange) ([]int64, []float64) {
	n := len(e.vs)
	lo := sort.Search(n, func(i int) bool { return e.ts(i) >= tr.MinTimestamp })
	hi := lo + sort.Search(n-lo, func(i int) bool { return e.ts(lo+i) > tr.MaxTimestamp })
	for i := lo; i < hi; i++ {
		ts = append(ts, e.ts(i))
	}
	return ts, append(vs, e.vs[lo:hi]...)
}
