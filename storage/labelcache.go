package storage

import (
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"

	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
)

// A labelCache keeps the Prometheus labels built from series names.
//
// Every Select turns the VictoriaMetrics names of the series it found into
// Prometheus labels: unmarshal the name, unescape its tags, sort them,
// build the labels and hash them. For a warm instant query that was about
// a third of the series look-up's CPU, and the same series are looked up
// again by every run of a query, rule or dashboard panel.
//
// An entry is keyed by the name's content (two independent 64-bit hashes
// of the marshaled name), never by which series a query should see: the
// store's index search decides that on every Select, so a new series
// appears and a deleted one vanishes at once, whatever the cache holds.
// The labels are a function of the name alone, so an entry never goes
// stale; entries of deleted series are no longer asked for and age out.
//
// The cache holds two generations, each up to half of maxBytes, as the
// tail cache does: when the current one is full it becomes the previous
// one and the old previous one is dropped; a hit in the previous
// generation moves the entry forward.
type labelCache struct {
	maxBytes int64
	seed     maphash.Seed

	mu        sync.Mutex
	cur, prev map[uint64]nameEntry // by nameKey.h1
	curBytes  int64
	prevBytes int64

	hits, misses atomic.Uint64
}

// nameKey identifies a marshaled series name by content. The chance that
// two names share both hashes is about 2^-128. The maps are keyed by h1
// alone (the runtime hashes a uint64 fastest), and an entry holds h2: two
// names that share h1 take turns in the slot.
type nameKey struct{ h1, h2 uint64 }

type nameEntry struct {
	h2 uint64
	parsedName
}

// parsedName is a series name turned into Prometheus labels.
type parsedName struct {
	labels labels.Labels
	hash   uint64 // labels.Hash()
	nan    bool   // the name was a NaN shadow's (see nanLabel)
}

// nameEntryOverhead approximates what an entry takes besides its labels'
// bytes: the key, the value and their slot in the map.
const nameEntryOverhead = 80

func (p *parsedName) size() int64 { return int64(p.labels.ByteSize()) + nameEntryOverhead }

// DefaultLabelCacheBytes is the label cache's size when
// Options.LabelCacheBytes is 0. An entry of a series with 6 labels takes
// ~200 bytes (210 measured over 50,000 series of the benchmark), and a
// query's series must fit in one generation (half of it) to stay cached
// from one run to the next: ~80,000 series.
const DefaultLabelCacheBytes = 32 << 20

func newLabelCache(maxBytes int64) *labelCache {
	if maxBytes <= 0 {
		return nil
	}
	return &labelCache{
		maxBytes: maxBytes,
		seed:     maphash.MakeSeed(),
		cur:      map[uint64]nameEntry{},
		prev:     map[uint64]nameEntry{},
	}
}

func (c *labelCache) key(name []byte) nameKey {
	return nameKey{h1: xxhash.Sum64(name), h2: maphash.Bytes(c.seed, name)}
}

// getAll sets out[i] and ok[i] to the labels of the name whose key is
// keys[i] and whether the cache had them, under one hold of the lock.
func (c *labelCache) getAll(keys []nameKey, out []parsedName, ok []bool) {
	hits := 0
	c.mu.Lock()
	for i, k := range keys {
		out[i], ok[i] = c.getLocked(k)
		if ok[i] {
			hits++
		}
	}
	c.mu.Unlock()
	c.hits.Add(uint64(hits))
	c.misses.Add(uint64(len(keys) - hits))
}

// putBatch is how many entries putAll adds under one hold of the lock, so
// that a large Select does not hold up the others for long. (getAll is
// given nameBatchSize keys at a time.)
const putBatch = 1024

// putAll adds ps[i] under keys[i].
func (c *labelCache) putAll(keys []nameKey, ps []parsedName) {
	for lo := 0; lo < len(keys); lo += putBatch {
		hi := min(lo+putBatch, len(keys))
		c.mu.Lock()
		for i := lo; i < hi; i++ {
			c.putLocked(keys[i], ps[i])
		}
		c.mu.Unlock()
	}
}

func (c *labelCache) getLocked(k nameKey) (parsedName, bool) {
	if e, ok := c.cur[k.h1]; ok && e.h2 == k.h2 {
		return e.parsedName, true
	}
	e, ok := c.prev[k.h1]
	if !ok || e.h2 != k.h2 {
		return parsedName{}, false
	}
	delete(c.prev, k.h1)
	c.prevBytes -= e.size()
	c.putLocked(k, e.parsedName)
	return e.parsedName, true
}

func (c *labelCache) putLocked(k nameKey, p parsedName) {
	if old, ok := c.cur[k.h1]; ok {
		delete(c.cur, k.h1)
		c.curBytes -= old.size()
	}
	if c.curBytes+p.size() > c.maxBytes/2 {
		c.prev, c.prevBytes = c.cur, c.curBytes
		c.cur, c.curBytes = make(map[uint64]nameEntry, len(c.prev)), 0
	}
	c.cur[k.h1] = nameEntry{h2: k.h2, parsedName: p}
	c.curBytes += p.size()
}

// sizeBytes returns the bytes the cache takes.
func (c *labelCache) sizeBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.curBytes + c.prevBytes
}

// parseSeriesNames builds the labels of every name, on two cores when
// there are many.
func parseSeriesNames(names [][]byte) ([]parsedName, error) {
	out := make([]parsedName, len(names))
	return out, parseNames(names, out)
}

// parallelParseMin is the number of names from which building their
// labels is split between two goroutines: below it the goroutine costs
// more than it saves.
const parallelParseMin = 4096

// parseNames builds the labels of names[i] into out[i].
func parseNames(names [][]byte, out []parsedName) error {
	parse := func(lo, hi int) error {
		var mn vmstorage.MetricName
		var b labels.ScratchBuilder
		for i := lo; i < hi; i++ {
			if err := mn.Unmarshal(names[i]); err != nil {
				return fmt.Errorf("storage: corrupted series name: %w", err)
			}
			p := &out[i]
			p.nan = stripNaNLabel(&mn, names[i])
			p.labels = metricNameLabels(&b, &mn)
			p.hash = p.labels.Hash()
		}
		return nil
	}
	n := len(names)
	if n < parallelParseMin || runtime.GOMAXPROCS(0) < 2 {
		return parse(0, n)
	}
	mid := n / 2
	var wg sync.WaitGroup
	var errHigh error
	wg.Go(func() { errHigh = parse(mid, n) })
	errLow := parse(0, mid)
	wg.Wait()
	return errors.Join(errLow, errHigh)
}
