package remotewrite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/persistentqueue"
	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-monitoring/vigil/storage"
)

// queue is one remote's queue on disk: what Vigil stored and has not yet
// delivered to the remote, in <data-dir>/remote-write/<key>/:
//
//	queue/    VictoriaMetrics lib/persistentqueue: the blocks, bounded by
//	          maxBytes; past it the oldest blocks are dropped and counted
//	journal   the blocks written since the last checkpoint
//	inflight  the blocks taken off queue/ and not yet delivered (inflight.go)
//
// Why the journal: persistentqueue keeps what was written in the last
// second in a buffer of the process, and records its read and write
// offsets in a metainfo file it rewrites at most once a second; a killed
// process loses both, and at the next start the queue ends where its
// metainfo says. So every block is also appended to the journal with one
// write call, which a kill does not undo. Once a second (checkpoint) the
// persistent queue is closed, which writes out and fsyncs its buffer and
// metainfo, reopened, and the journal emptied. At open, the journal's
// blocks are written into the queue again: those persistentqueue had
// saved itself are then there twice, and reading skips a block whose
// samples it has already passed (blocks carry sequence numbers).
type queue struct {
	dir      string
	pqDir    string
	maxBytes int64
	log      *slog.Logger
	// st are the remote's metrics, replaced (under mu and rmu, which the
	// counting paths hold) when its settings change.
	st atomic.Pointer[stats]

	mu         sync.Mutex // serializes writes, checkpoints and close
	journal    *os.File
	journalLen int64 // bytes of the journal
	dirty      bool  // blocks written since the last checkpoint
	next       uint64
	closed     bool
	// broken is set when persistentqueue failed a write (a full or
	// failing disk): blocks are dropped, counted, until a checkpoint
	// manages to reopen the queue.
	broken  error
	block   []byte // scratch for the block being written
	record  []byte // scratch for its journal record
	lastLog time.Time

	// swap guards fq: readers of it hold it shared, a checkpoint holds it
	// exclusively while it closes and reopens the queue.
	swap sync.RWMutex
	fq   *persistentqueue.FastQueue

	// rmu serializes reading: the sender's reads and the dropping of the
	// oldest blocks; readNext is the sequence number after the last block
	// read, readKnown false until one was read on a new queue.
	rmu       sync.Mutex
	readNext  uint64
	readKnown bool

	inflight *inflightLog

	notify chan struct{} // a block was written; capacity 1
	stopCh chan struct{}
	done   sync.WaitGroup
	pqOpen atomic.Bool
}

// checkpointEvery is how often the journal is emptied into the
// persistent queue; what a power loss can take from the queue.
const checkpointEvery = time.Second

// openQueue opens (or creates) the queue in dir and writes what the
// journal holds into it. A checkpoint runs every checkpointEvery.
func openQueue(dir string, maxBytes int64, checkpointEvery time.Duration, st *stats, log *slog.Logger) (*queue, error) {
	q := &queue{
		dir:      dir,
		pqDir:    filepath.Join(dir, "queue"),
		maxBytes: maxBytes,
		log:      log,
		notify:   make(chan struct{}, 1),
		stopCh:   make(chan struct{}),
	}
	q.st.Store(st)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the queue directory %s: %w (check the --data-dir permissions)", dir, err)
	}
	inflight := newInflightLog(filepath.Join(dir, "inflight"))
	held, err := inflight.load()
	if err != nil {
		return nil, err
	}
	q.inflight = inflight
	q.readNext, q.readKnown = held.next, held.nextKnown
	if err := q.openPQ(); err != nil {
		inflight.close()
		return nil, err
	}

	// The journal: its blocks go into the queue again; its header says
	// where the sequence numbers go on.
	journalPath := filepath.Join(dir, "journal")
	var replayed, replayedSamples int
	q.next = held.next
	torn, err := readRecords(journalPath, func(kind byte, body []byte) error {
		switch kind {
		case kindNext:
			if len(body) == 8 {
				q.next = max(q.next, binary.BigEndian.Uint64(body))
			}
		case kindBlock:
			h, _, err := parseBlock(body)
			if err != nil {
				return nil // a block this Vigil cannot read is dropped
			}
			if err := q.pqWrite(body); err != nil {
				return err
			}
			q.next = max(q.next, h.end())
			replayed++
			replayedSamples += int(h.n)
		}
		return nil
	})
	if err == nil && torn != nil {
		log.Warn("the remote write journal ends early, probably cut by a power loss; replayed what was whole", "file", journalPath, "err", torn)
	}
	if err != nil {
		q.closePQ()
		inflight.close()
		return nil, fmt.Errorf("cannot replay the remote write journal %s: %w", journalPath, err)
	}
	if replayed > 0 {
		log.Info("replayed the remote write journal", "blocks", replayed, "samples", replayedSamples)
	}
	// Make the replayed blocks durable before the journal is emptied.
	if err := q.reopenPQ(); err != nil {
		inflight.close()
		return nil, err
	}
	if err := q.resetJournal(); err != nil {
		q.closePQ()
		inflight.close()
		return nil, err
	}
	q.done.Add(1)
	go q.checkpoints(checkpointEvery)
	return q, nil
}

// pqOptions are the persistent queue's: every block goes to its files
// (no in-memory part, which a kill would lose), and a bound a little
// above maxBytes as a safety net under Vigil's own, exactly counted
// dropping of the oldest blocks (dropOldestLocked).
func (q *queue) pqOptions() persistentqueue.OpenFastQueueOpts {
	return persistentqueue.OpenFastQueueOpts{MaxInmemoryBlocks: 0, MaxPendingBytes: q.maxBytes + 2*maxBlockBytes}
}

// openPQ opens the persistent queue, turning its panics (a directory
// that cannot be used) into an error.
func (q *queue) openPQ() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot open the remote write queue in %s: %v", q.pqDir, r)
		}
	}()
	q.fq = persistentqueue.MustOpenFastQueueWithOpts(q.pqDir, q.pqDir, q.pqOptions())
	q.pqOpen.Store(true)
	return nil
}

// closePQ closes the persistent queue, which flushes and fsyncs it.
// Its gauges, which VictoriaMetrics registers with a reference to the
// queue, are unregistered: the next open registers them anew.
func (q *queue) closePQ() (err error) {
	if !q.pqOpen.Load() {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot close the remote write queue in %s: %v", q.pqDir, r)
		}
		q.pqOpen.Store(false)
		for _, name := range []string{"vm_persistentqueue_bytes_pending", "vm_persistentqueue_free_disk_space_bytes"} {
			metrics.UnregisterMetric(fmt.Sprintf(`%s{path=%q, name=%q}`, name, q.pqDir, q.pqDir))
		}
	}()
	q.fq.UnblockAllReaders()
	q.fq.MustClose()
	return nil
}

// reopenPQ closes and opens the persistent queue: everything written
// before is then on disk, fsynced. Readers are woken and wait.
func (q *queue) reopenPQ() error {
	if q.pqOpen.Load() {
		q.fq.UnblockAllReaders()
	}
	q.swap.Lock()
	defer q.swap.Unlock()
	if err := q.closePQ(); err != nil {
		return err
	}
	return q.openPQ()
}

// pqWrite writes a block to the persistent queue, turning its panics (a
// failed disk write) into an error.
func (q *queue) pqWrite(block []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot write to the remote write queue in %s: %v", q.pqDir, r)
		}
	}()
	if !q.pqOpen.Load() {
		return errors.New("the remote write queue is not open")
	}
	q.fq.MustWriteBlockIgnoreDisabledPQ(block)
	return nil
}

// resetJournal empties the journal, keeping where sequence numbers go on.
// The persistent queue must hold every block written before, on disk.
func (q *queue) resetJournal() error {
	path := filepath.Join(q.dir, "journal")
	if q.journal != nil {
		q.journal.Close()
		q.journal = nil
	}
	data := appendRecord(nil, kindNext, binary.BigEndian.AppendUint64(nil, q.next))
	if err := writeFileAtomic(path, data, true); err != nil {
		return fmt.Errorf("cannot write the remote write journal %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open the remote write journal %s: %w", path, err)
	}
	q.journal, q.journalLen, q.dirty = f, int64(len(data)), false
	return nil
}

// write queues a stored batch. It never blocks on the remote and never
// fails: what cannot be queued is dropped, counted and logged.
func (q *queue) write(b storage.Batch) {
	if b.Len() == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if err := b.Split(maxBlockBytes-blockHeaderSize, q.writeBlockLocked); err != nil {
		q.st.Load().drop(reasonWriteError, b.Len())
		q.warnLocked("cannot queue stored samples for the remote; dropped them", err)
	}
}

func (q *queue) writeBlockLocked(b storage.Batch) {
	n := b.Len()
	if q.broken != nil {
		q.st.Load().drop(reasonWriteError, n)
		q.warnLocked("the remote write queue cannot be written; dropping samples until it can", q.broken)
		return
	}
	q.block = appendBlock(q.block[:0], q.next, b)
	q.dropOldestLocked(int64(len(q.block)))
	q.record = appendRecord(q.record[:0], kindBlock, q.block)
	if _, err := q.journal.Write(q.record); err != nil {
		// Keep the journal whole: a torn record would hide later ones.
		_ = q.journal.Truncate(q.journalLen)
		q.st.Load().drop(reasonWriteError, n)
		q.warnLocked("cannot write the remote write journal; dropped samples", err)
		return
	}
	if err := q.pqWrite(q.block); err != nil {
		_ = q.journal.Truncate(q.journalLen)
		q.broken = err
		q.st.Load().drop(reasonWriteError, n)
		q.warnLocked("the remote write queue failed a write; dropping samples until it is reopened", err)
		return
	}
	q.journalLen += int64(len(q.record))
	q.next += uint64(n)
	q.dirty = true
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// dropOldestLocked makes room for a block of size bytes by dropping the
// oldest blocks, counting their samples. If the sender is reading, it
// tries again at the next write (persistentqueue's own bound, a little
// higher, is the hard limit).
func (q *queue) dropOldestLocked(size int64) {
	if q.pendingQueueBytes()+size+8 <= q.maxBytes {
		return
	}
	if !q.rmu.TryLock() {
		return
	}
	defer q.rmu.Unlock()
	var blocks, samples int
	var bytes int64
	for q.pendingQueueBytes()+size+8 > q.maxBytes {
		block, ok := q.readLocked(nil)
		if !ok {
			break
		}
		h, _, _ := parseBlock(block)
		blocks++
		samples += int(h.n)
		bytes += int64(len(block))
	}
	if blocks > 0 {
		q.st.Load().drop(reasonQueueFull, samples)
		q.warnLocked("the remote write queue is full; dropped its oldest samples", fmt.Errorf("vigil_max_disk_usage %d bytes reached: dropped %d samples (%d bytes) of the oldest %d blocks", q.maxBytes, samples, bytes, blocks))
	}
}

// warnLocked logs at most one warning every 10 seconds: a remote that is
// down fails every write the same way.
func (q *queue) warnLocked(msg string, err error) {
	if time.Since(q.lastLog) < 10*time.Second {
		return
	}
	q.lastLog = time.Now()
	q.log.Warn(msg, "err", err)
}

// pendingQueueBytes is what persistentqueue holds.
func (q *queue) pendingQueueBytes() int64 {
	q.swap.RLock()
	defer q.swap.RUnlock()
	if !q.pqOpen.Load() {
		return 0
	}
	return int64(q.fq.GetPendingBytes())
}

// pendingBytes is what waits to be delivered: the queue and the blocks in
// flight.
func (q *queue) pendingBytes() int64 {
	return q.pendingQueueBytes() + q.inflight.heldBytes()
}

// read returns the next block, recorded as in flight, waiting up to wait
// for one (until ctx is done with wait < 0). The block is valid until the
// next read; false means none came.
func (q *queue) read(ctx context.Context, dst []byte, wait time.Duration) ([]byte, bool) {
	var timeout <-chan time.Time
	if wait >= 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		q.rmu.Lock()
		block, ok := q.readLocked(dst)
		if ok {
			if err := q.inflight.appendBlock(block); err != nil {
				// The block is read and cannot be recorded: a kill now
				// would lose it, but it is sent all the same.
				q.log.Warn("cannot record a block in flight", "err", err)
			}
			q.rmu.Unlock()
			return block, true
		}
		q.rmu.Unlock()
		select {
		case <-q.notify:
		case <-ctx.Done():
			return nil, false
		case <-timeout:
			return nil, false
		case <-time.After(time.Second):
			// A checkpoint may have interrupted a read.
		}
	}
}

// readLocked takes the next block off the persistent queue, skipping
// blocks already passed and counting the samples of blocks missing before
// it (dropped by the persistent queue's own bound). q.rmu is held.
func (q *queue) readLocked(dst []byte) ([]byte, bool) {
	for {
		block, ok := q.pqRead(dst[:0])
		if !ok {
			return nil, false
		}
		h, _, err := parseBlock(block)
		if err != nil {
			// Its samples are counted with the next block's gap.
			q.log.Warn("skipped a block of the remote write queue that cannot be read", "err", err)
			continue
		}
		if q.readKnown && h.end() <= q.readNext {
			continue // written again from the journal after a crash
		}
		if q.readKnown && h.seq > q.readNext {
			lost := h.seq - q.readNext
			q.st.Load().drop(reasonQueueFull, int(lost))
			q.log.Warn("samples of the remote write queue were dropped before they could be sent", "samples", lost)
		}
		q.readNext, q.readKnown = h.end(), true
		return block, true
	}
}

// pqRead reads a block without waiting: false when the queue is empty.
func (q *queue) pqRead(dst []byte) (block []byte, ok bool) {
	q.swap.RLock()
	defer q.swap.RUnlock()
	if !q.pqOpen.Load() || q.fq.GetPendingBytes() == 0 {
		return nil, false
	}
	defer func() {
		if r := recover(); r != nil {
			q.log.Warn("cannot read the remote write queue", "err", r)
			block, ok = nil, false
		}
	}()
	return q.fq.MustReadBlock(dst)
}

// resume returns what a previous sender, or run of Vigil, left in flight:
// the blocks to send before any other.
func (q *queue) resume() (inflightState, error) {
	q.rmu.Lock()
	defer q.rmu.Unlock()
	return q.inflight.load()
}

// delivered records that the round of blocks taken so far is delivered.
func (q *queue) delivered() error {
	q.rmu.Lock()
	next := q.readNext
	q.rmu.Unlock()
	return q.inflight.reset(next)
}

// checkpoints empties the journal into the persistent queue every second.
func (q *queue) checkpoints(every time.Duration) {
	defer q.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-q.stopCh:
			return
		case <-t.C:
			q.checkpoint(false)
		}
	}
}

// checkpoint makes every block written so far durable in the persistent
// queue and empties the journal. With force it reopens the queue even if
// nothing was written, which also applies a changed bound.
func (q *queue) checkpoint(force bool) {
	q.inflight.sync()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || (!q.dirty && !force && q.broken == nil) {
		return
	}
	if err := q.reopenPQ(); err != nil {
		q.broken = err
		q.warnLocked("cannot reopen the remote write queue; the journal keeps the samples", err)
		return
	}
	if q.broken != nil {
		q.log.Info("the remote write queue works again", "dir", q.pqDir)
		q.broken = nil
	}
	if err := q.resetJournal(); err != nil {
		q.warnLocked("cannot empty the remote write journal", err)
	}
}

// maxBytesNow is the queue's bound.
func (q *queue) maxBytesNow() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.maxBytes
}

// setStats replaces the remote's metrics, carrying the counts over.
func (q *queue) setStats(st *stats) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.rmu.Lock()
	defer q.rmu.Unlock()
	st.carryFrom(q.st.Swap(st))
}

// setMaxBytes changes the bound; it applies from the next checkpoint.
func (q *queue) setMaxBytes(n int64) {
	q.mu.Lock()
	changed := q.maxBytes != n
	q.maxBytes = n
	q.mu.Unlock()
	if changed {
		q.checkpoint(true)
	}
}

// close makes everything durable and closes the files. Writes after it
// are ignored.
func (q *queue) close() {
	close(q.stopCh)
	q.done.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.swap.Lock()
	err := q.closePQ()
	q.swap.Unlock()
	if err == nil && q.broken == nil {
		if err := q.resetJournal(); err != nil {
			q.log.Warn("cannot empty the remote write journal", "err", err)
		}
	}
	if q.journal != nil {
		q.journal.Close()
	}
	q.inflight.close()
}
