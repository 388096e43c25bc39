package remotewrite

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/persistentqueue"

	"github.com/vigil-monitoring/vigil/storage"
)

// queue is one remote's queue on disk: what Vigil stored and has not yet
// delivered to the remote, in <data-dir>/remote-write/<key>/:
//
//	queue/      VictoriaMetrics lib/persistentqueue: the blocks, bounded
//	            by maxBytes; past it the oldest blocks are dropped, counted
//	journal-N   the blocks written since the last checkpoint (journal.go)
//	inflight    the blocks taken off queue/ and not yet delivered
//	            (inflight.go)
//
// Why the journal: persistentqueue keeps what was written in the last
// second in a buffer of the process, and records its read and write
// offsets in a metainfo file it rewrites at most once a second; a killed
// process loses both, and at the next start the queue ends where its
// metainfo says. So every block is also appended to the journal with one
// write call, which a kill does not undo. Once a second (checkpoint) the
// persistent queue is closed, which writes out and fsyncs its buffer and
// metainfo, and reopened, and the journal files it now holds are removed.
// At open, the journal's blocks are written into the queue again: those
// persistentqueue had saved itself are then there twice, and reading
// skips a block whose samples it has already passed (blocks carry
// sequence numbers).
//
// The storage's tap (write) only appends to the journal and to a list in
// memory; a goroutine of the queue (the mover) writes the list into the
// persistent queue and makes the checkpoints, so that ingestion never
// waits for their disk writes and fsyncs.
type queue struct {
	dir   string
	pqDir string
	log   *slog.Logger
	// st are the remote's metrics, replaced (under mu and rmu, which the
	// counting paths hold) when its settings change.
	st atomic.Pointer[stats]

	// The writing side, called by the storage's tap. hmu guards it.
	hmu        sync.Mutex
	hroom      *sync.Cond // signalled when the mover takes the list
	journal    *journal
	moving     [][]byte // blocks in the journal not yet in the persistent queue, in order
	movingSize int64
	next       uint64 // the sequence number of the next sample written
	dirty      bool   // written since the last checkpoint
	closed     bool

	// The moving side: mu serializes writes to the persistent queue,
	// checkpoints and close.
	mu       sync.Mutex
	maxBytes int64
	// broken is set when persistentqueue failed (a full or failing disk):
	// blocks are dropped, counted, until a checkpoint reopens it.
	broken error

	// swap guards fq: readers of it hold it shared, a checkpoint holds it
	// exclusively while it closes and reopens the queue.
	swap   sync.RWMutex
	fq     *persistentqueue.FastQueue
	pqOpen atomic.Bool

	// rmu serializes reading: the sender's reads and the dropping of the
	// oldest blocks; readNext is the sequence number after the last block
	// read, readKnown false until one was read on a new queue.
	rmu       sync.Mutex
	readNext  uint64
	readKnown bool
	inflight  *inflightLog

	warnMu  sync.Mutex
	lastLog time.Time

	move   chan struct{} // blocks wait in moving; capacity 1
	notify chan struct{} // a block reached the persistent queue; capacity 1
	stopCh chan struct{}
	done   sync.WaitGroup
}

// checkpointEvery is how often the persistent queue is made durable and
// the journal emptied; what a power loss can take from the queue.
const checkpointEvery = time.Second

// maxMovingBytes bounds the blocks waiting in memory for the mover: past
// it the tap waits, which happens only when the disk is slower than
// ingestion.
const maxMovingBytes = 64 << 20

// openQueue opens (or creates) the queue in dir and writes what the
// journal holds into it. A checkpoint runs every checkpointEvery.
func openQueue(dir string, maxBytes int64, checkpointEvery time.Duration, st *stats, log *slog.Logger) (*queue, error) {
	q := &queue{
		dir:      dir,
		pqDir:    filepath.Join(dir, "queue"),
		maxBytes: maxBytes,
		log:      log,
		move:     make(chan struct{}, 1),
		notify:   make(chan struct{}, 1),
		stopCh:   make(chan struct{}),
	}
	q.hroom = sync.NewCond(&q.hmu)
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
	if held.nextKnown {
		rewound, err := rewindReader(q.pqDir, held.next)
		if err != nil {
			inflight.close()
			return nil, fmt.Errorf("cannot read the remote write queue's position in %s: %w", q.pqDir, err)
		}
		if rewound {
			log.Info("the remote write queue reads again from the first block not recorded as taken", "next_sample", held.next)
		}
	}
	if err := q.openPQ(); err != nil {
		inflight.close()
		return nil, err
	}

	// The journal's blocks go into the queue again; once it holds them on
	// disk, the journal starts afresh where the sequence numbers were.
	var replayed, samples int
	next, last, torn, err := replayJournals(dir, func(block []byte) error {
		h, _, _ := parseBlock(block)
		replayed++
		samples += int(h.n)
		return q.pqWrite(block)
	})
	if err == nil {
		err = q.reopenPQ()
	}
	if err == nil {
		q.journal, err = createJournal(dir, last+1, max(next, held.next))
	}
	if err == nil {
		err = removeJournalsUpTo(dir, last)
	}
	if err != nil {
		q.closePQ()
		inflight.close()
		return nil, fmt.Errorf("cannot replay the remote write journal in %s: %w", dir, err)
	}
	q.next = max(next, held.next)
	if torn != nil {
		log.Warn("the remote write journal ends early, probably cut by a power loss; replayed what was whole", "err", torn)
	}
	if replayed > 0 {
		log.Info("replayed the remote write journal", "blocks", replayed, "samples", samples)
	}
	q.done.Add(1)
	go q.mover(checkpointEvery)
	return q, nil
}

// write queues a stored batch: it is in the journal when write returns.
// It never waits for the remote and never fails: what cannot be queued is
// dropped, counted and logged.
func (q *queue) write(b storage.Batch) {
	if b.Len() == 0 {
		return
	}
	q.hmu.Lock()
	defer q.hmu.Unlock()
	for q.movingSize > maxMovingBytes && !q.closed {
		q.hroom.Wait()
	}
	if q.closed {
		return
	}
	if err := b.Split(maxBlockBytes-blockHeaderSize, q.writeBlockLocked); err != nil {
		q.st.Load().drop(reasonWriteError, b.Len())
		q.warn("cannot queue stored samples for the remote; dropped them", err)
	}
	select {
	case q.move <- struct{}{}:
	default:
	}
}

// writeBlockLocked appends the block of b to the journal and the list
// for the mover. q.hmu is held.
func (q *queue) writeBlockLocked(b storage.Batch) {
	// One allocation and one copy of the batch: the journal record, whose
	// body is the block the mover then writes to the persistent queue.
	rec := make([]byte, 0, recordHeaderSize+1+blockHeaderSize+len(b.Encoded()))
	rec = appendRecord(rec, kindBlock, appendBlockHeader(make([]byte, 0, blockHeaderSize), q.next, b.Len()), b.Encoded())
	block := rec[recordHeaderSize+1:]
	if err := q.journal.write(rec); err != nil {
		q.st.Load().drop(reasonWriteError, b.Len())
		q.warn("cannot write the remote write journal; dropped samples", err)
		return
	}
	q.moving = append(q.moving, block)
	q.movingSize += int64(len(block))
	q.next += uint64(b.Len())
	q.dirty = true
}

// mover writes the blocks of the journal into the persistent queue as
// they come and makes a checkpoint every interval.
func (q *queue) mover(every time.Duration) {
	defer q.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-q.stopCh:
			return
		case <-q.move:
			// Taken and written under mu: a checkpoint in between would
			// remove the journal of blocks not yet in the queue.
			q.mu.Lock()
			q.moveLocked(q.takeMoving())
			q.mu.Unlock()
		case <-t.C:
			q.checkpoint(false)
		}
	}
}

// takeMoving takes the list of blocks waiting for the mover.
func (q *queue) takeMoving() [][]byte {
	q.hmu.Lock()
	defer q.hmu.Unlock()
	blocks := q.moving
	q.moving, q.movingSize = nil, 0
	q.hroom.Broadcast()
	return blocks
}

// moveLocked writes blocks to the persistent queue, dropping its oldest
// blocks to stay within the bound. q.mu is held.
func (q *queue) moveLocked(blocks [][]byte) {
	for _, block := range blocks {
		if q.broken != nil {
			h, _, _ := parseBlock(block)
			q.st.Load().drop(reasonWriteError, int(h.n))
			q.warn("the remote write queue cannot be written; dropping samples until it can", q.broken)
			continue
		}
		q.dropOldestLocked(int64(len(block)))
		if err := q.pqWrite(block); err != nil {
			q.broken = err
			h, _, _ := parseBlock(block)
			q.st.Load().drop(reasonWriteError, int(h.n))
			q.warn("the remote write queue failed a write; dropping samples until it is reopened", err)
		}
	}
	if len(blocks) > 0 {
		select {
		case q.notify <- struct{}{}:
		default:
		}
	}
}

// checkpoint makes every block written so far durable in the persistent
// queue and removes the journal files that held them. With force it
// reopens the queue even if nothing was written, which also applies a
// changed bound.
func (q *queue) checkpoint(force bool) {
	q.inflight.sync()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.hmu.Lock()
	if q.closed || (!q.dirty && !force) {
		q.hmu.Unlock()
		return
	}
	next := q.next
	closed, err := q.journal.rotate(next)
	blocks := q.moving
	q.moving, q.movingSize, q.dirty = nil, 0, false
	q.hroom.Broadcast()
	q.hmu.Unlock()
	if err != nil {
		q.warn("cannot start a new remote write journal file; the current one goes on", err)
		closed = 0
	}
	q.moveLocked(blocks)
	if err := q.reopenPQ(); err != nil {
		q.broken = err
		q.warn("cannot reopen the remote write queue; the journal keeps the samples", err)
		return
	}
	if q.broken != nil {
		q.log.Info("the remote write queue works again", "dir", q.pqDir)
		q.broken = nil
	}
	if closed > 0 {
		if err := removeJournalsUpTo(q.dir, closed); err != nil {
			q.warn("cannot remove an old remote write journal file", err)
		}
	}
}

// warn logs at most one warning every 10 seconds: a full disk or a
// remote that is down fails every block the same way.
func (q *queue) warn(msg string, err error) {
	q.warnMu.Lock()
	defer q.warnMu.Unlock()
	if time.Since(q.lastLog) < 10*time.Second {
		return
	}
	q.lastLog = time.Now()
	q.log.Warn(msg, "err", err)
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
	q.hmu.Lock()
	defer q.hmu.Unlock()
	st.carryFrom(q.st.Swap(st))
}

// setMaxBytes changes the bound, at once.
func (q *queue) setMaxBytes(n int64) {
	q.mu.Lock()
	changed := q.maxBytes != n
	q.maxBytes = n
	q.mu.Unlock()
	if changed {
		q.checkpoint(true)
	}
}

// close makes everything written durable and closes the files; writes
// after it are ignored.
func (q *queue) close() {
	close(q.stopCh)
	q.done.Wait()
	q.hmu.Lock()
	q.closed = true
	blocks, next := q.moving, q.next
	q.moving, q.movingSize = nil, 0
	q.hroom.Broadcast()
	q.hmu.Unlock()

	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveLocked(blocks)
	q.swap.Lock()
	err := q.closePQ()
	q.swap.Unlock()
	if err == nil && q.broken == nil {
		// Everything is in the persistent queue, on disk: the journal
		// starts afresh.
		if closed, err := q.journal.rotate(next); err == nil {
			_ = removeJournalsUpTo(q.dir, closed)
		}
	}
	q.journal.close()
	q.inflight.close()
}
