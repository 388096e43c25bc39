package storage

import (
	"runtime"
	"sync"

	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

// The engine iterates the series of a selector one after another, and most
// of a series' cost outside the engine is reading and decoding its blocks.
// A prefetcher decodes the next series on the other cores while the engine
// evaluates the current one. Measured on 2 cores, a window of 64 series and
// waking a waiter only when one waits gave the best results; waking on every
// series cost ~6% CPU.
const (
	prefetchWindow    = 64
	prefetchMinSeries = 16
)

// decoded holds one series' samples, sorted by time.
type decoded struct {
	ts  []int64
	vs  []float64
	err error
}

var decodedPool = sync.Pool{New: func() any { return &decoded{} }}

type prefetchState uint8

const (
	notStarted prefetchState = iota
	decoding
	ready
	taken
)

// prefetcher decodes series of one seriesSet ahead of the engine. Its
// workers read blocks, so the querier must stop it before closing the
// search the blocks belong to.
type prefetcher struct {
	series []selectedSeries
	tr     vmstorage.TimeRange
	cache  *tailCache

	mu       sync.Mutex
	cond     sync.Cond
	state    []prefetchState
	results  []*decoded
	next     int // the lowest series a worker may still claim
	limit    int // workers decode series below limit only
	waiters  int // iterators waiting for a result
	idle     int // workers waiting for the window to move
	started  bool
	stopped  bool
	workers  sync.WaitGroup
	nWorkers int
}

func newPrefetcher(series []selectedSeries, tr vmstorage.TimeRange, c *tailCache) *prefetcher {
	n := runtime.GOMAXPROCS(0) - 1
	if n < 1 || len(series) < prefetchMinSeries {
		return nil
	}
	p := &prefetcher{
		series:   series,
		tr:       tr,
		cache:    c,
		state:    make([]prefetchState, len(series)),
		results:  make([]*decoded, len(series)),
		nWorkers: min(n, 2),
	}
	p.cond.L = &p.mu
	return p
}

// take returns the decoded samples of series i, decoding them in the
// caller's goroutine when no worker has claimed them. ok is false when the
// caller should decode itself.
func (p *prefetcher) take(i int) (d *decoded, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started && !p.stopped {
		p.started = true
		p.workers.Add(p.nWorkers)
		for range p.nWorkers {
			go p.work()
		}
	}
	if i+1+prefetchWindow > p.limit {
		p.limit = min(i+1+prefetchWindow, len(p.series))
		if p.idle > 0 {
			p.cond.Broadcast()
		}
	}
	for p.state[i] == decoding {
		p.waiters++
		p.cond.Wait()
		p.waiters--
	}
	switch p.state[i] {
	case ready:
		d = p.results[i]
		p.results[i] = nil
		p.state[i] = taken
		return d, true
	case notStarted:
		p.state[i] = taken
	}
	return nil, false
}

func (p *prefetcher) work() {
	defer p.workers.Done()
	it := &sampleIterator{}
	p.mu.Lock()
	for {
		for p.next < len(p.series) && p.state[p.next] != notStarted {
			p.next++
		}
		if p.stopped || p.next >= len(p.series) {
			p.mu.Unlock()
			return
		}
		if p.next >= p.limit {
			p.idle++
			p.cond.Wait()
			p.idle--
			continue
		}
		i := p.next
		p.state[i] = decoding
		p.mu.Unlock()

		d := decodedPool.Get().(*decoded)
		it.reset(&p.series[i], p.tr, p.cache, nil, 0)
		it.ts, it.vs = d.ts[:0], d.vs[:0]
		it.decode()
		d.ts, d.vs, d.err = it.ts, it.vs, it.err
		// The merge buffers now belong to d; don't let the next series
		// write into them.
		it.ts, it.vs = nil, nil

		p.mu.Lock()
		p.results[i] = d
		p.state[i] = ready
		if p.waiters > 0 {
			p.cond.Broadcast()
		}
	}
}

// stop waits for the workers to finish the series they are decoding.
func (p *prefetcher) stop() {
	p.mu.Lock()
	p.stopped = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.workers.Wait()
	for i, d := range p.results {
		if d != nil {
			decodedPool.Put(d)
			p.results[i] = nil
		}
	}
}
