package remotewrite

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/persistentqueue"
	"github.com/VictoriaMetrics/metrics"
)

// The queue's use of VictoriaMetrics lib/persistentqueue, and the reading
// of blocks off it. persistentqueue panics on the errors of its files
// (logger.Panicf); each call here turns them into errors.

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

// dropOldestLocked makes room for a block of size bytes by dropping the
// oldest blocks, counting their samples. If the sender is reading, it
// tries again at the next block (persistentqueue's own bound, a little
// higher, is the hard limit). q.mu is held.
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
		// A restart must not read them again (see rewindReader).
		if err := q.inflight.appendNext(q.readNext); err != nil {
			q.warn("cannot record the dropped blocks", err)
		}
		q.st.Load().drop(reasonQueueFull, samples)
		q.warn("the remote write queue is full; dropped its oldest samples", fmt.Errorf("vigil_max_disk_usage %d bytes reached: dropped %d samples (%d bytes) of the oldest %d blocks", q.maxBytes, samples, bytes, blocks))
	}
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

// pendingBytes is what waits to be delivered: the blocks on their way to
// the persistent queue, in it, and in flight.
func (q *queue) pendingBytes() int64 {
	q.hmu.Lock()
	moving := q.movingSize
	q.hmu.Unlock()
	return moving + q.pendingQueueBytes() + q.inflight.heldBytes()
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

// rewindReader moves the persistent queue's saved read position back to
// the first block not yet passed (readNext), before the queue opens.
//
// persistentqueue saves the read position by itself, during a read, so a
// process killed between taking a block and recording it in the
// in-flight file would lose that block. The block is still in the reader's
// chunk file (persistentqueue removes a chunk only once every block of it
// has been read, and each of those was recorded), so the position is
// found again there from the blocks' sequence numbers. This reads
// persistentqueue's files directly: metainfo.json, chunk files named by
// their offset, each block an 8-byte big-endian length and the block, no
// block starting where a largest one would not fit. It returns whether it
// moved the position.
func rewindReader(pqDir string, readNext uint64) (bool, error) {
	metaPath := filepath.Join(pqDir, "metainfo.json")
	data, err := os.ReadFile(metaPath)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var mi struct {
		Name         string
		ReaderOffset uint64
		WriterOffset uint64
	}
	if err := json.Unmarshal(data, &mi); err != nil {
		return false, nil // persistentqueue recreates a queue it cannot read
	}
	const chunkSize = persistentqueue.DefaultChunkFileSize
	chunk := mi.ReaderOffset - mi.ReaderOffset%chunkSize
	f, err := os.Open(filepath.Join(pqDir, fmt.Sprintf("%016X", chunk)))
	if err != nil {
		return false, nil
	}
	defer f.Close()
	var hdr [8 + blockHeaderSize]byte
	for pos := uint64(0); chunk+pos < mi.ReaderOffset && pos+persistentqueue.MaxBlockSize+8 <= chunkSize; {
		if _, err := f.ReadAt(hdr[:], int64(pos)); err != nil {
			return false, nil
		}
		size := binary.BigEndian.Uint64(hdr[:8])
		h, _, err := parseBlock(hdr[8:])
		if err != nil || size < blockHeaderSize {
			return false, nil
		}
		if h.end() > readNext {
			mi.ReaderOffset = chunk + pos
			out, err := json.Marshal(mi)
			if err != nil {
				return false, err
			}
			return true, writeFileAtomic(metaPath, out, true)
		}
		pos += 8 + size
	}
	return false, nil
}

// backlog is the number of samples queued and not yet taken by the
// sender.
func (q *queue) backlog() int64 {
	q.hmu.Lock()
	next := q.next
	q.hmu.Unlock()
	q.rmu.Lock()
	read := q.readNext
	q.rmu.Unlock()
	return int64(next - min(read, next))
}
