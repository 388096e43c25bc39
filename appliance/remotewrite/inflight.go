package remotewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
)

// inflightLog is the file of what the sender has taken from the queue and
// not yet delivered: the blocks of the current round, and which of the
// round's requests the remote has already answered. The persistent queue
// forgets a block once it is read, and a round's requests can take as
// long as the remote is down; this file carries them over a restart of
// the sender (a reload) or of Vigil (a kill included), which resends them
// first. Blocks are appended as they are read, each with one write call.
type inflightLog struct {
	path string

	mu    sync.Mutex
	f     *os.File
	dirty bool  // written since the last fsync
	bytes int64 // bytes of the blocks held, for the pending figure
	buf   []byte
}

// inflightState is what the file held when it was opened.
type inflightState struct {
	// next is the sequence number after the last block taken from the
	// queue; nextKnown is false for a new queue.
	next      uint64
	nextKnown bool
	blocks    [][]byte
	// done are the requests of the round of blocks already delivered,
	// valid for the round built with fingerprint fp only.
	done map[uint32]bool
	fp   uint64
}

// newInflightLog returns the log of the file at path; load opens it.
func newInflightLog(path string) *inflightLog { return &inflightLog{path: path} }

// load reads the file and opens it for appending what follows. A sender
// calls it when it starts, to resend what a previous one left in flight.
func (l *inflightLog) load() (inflightState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	st := inflightState{done: map[uint32]bool{}}
	_, err := readRecords(l.path, func(kind byte, body []byte) error {
		switch kind {
		case kindNext:
			if len(body) != 8 {
				return fmt.Errorf("next record of %d bytes", len(body))
			}
			st.next, st.nextKnown = max(st.next, binary.BigEndian.Uint64(body)), true
		case kindBlock:
			h, _, err := parseBlock(body)
			if err != nil {
				return err
			}
			st.blocks = append(st.blocks, append([]byte(nil), body...))
			st.next, st.nextKnown = max(st.next, h.end()), true
		case kindDone:
			if len(body) != 12 {
				return fmt.Errorf("done record of %d bytes", len(body))
			}
			fp := binary.BigEndian.Uint64(body[4:])
			if fp != st.fp {
				clear(st.done)
				st.fp = fp
			}
			st.done[binary.BigEndian.Uint32(body)] = true
		default:
			return fmt.Errorf("unknown record kind %q", kind)
		}
		return nil
	})
	// A torn last record, which only a power loss leaves, ends the reading:
	// what precedes it is whole.
	if err != nil {
		return inflightState{}, fmt.Errorf("cannot read %s: %w (remove the file to start the remote's sending afresh)", l.path, err)
	}
	// Rewrite what was read, so that appends follow whole records.
	var data []byte
	if st.nextKnown {
		data = appendRecord(data, kindNext, binary.BigEndian.AppendUint64(nil, st.next))
	}
	l.bytes = 0
	for _, b := range st.blocks {
		data = appendRecord(data, kindBlock, b)
		l.bytes += int64(len(b))
	}
	for i := range st.done {
		data = appendRecord(data, kindDone, doneBody(i, st.fp))
	}
	if err := l.replace(data); err != nil {
		return inflightState{}, err
	}
	return st, nil
}

func doneBody(i uint32, fp uint64) []byte {
	b := binary.BigEndian.AppendUint32(nil, i)
	return binary.BigEndian.AppendUint64(b, fp)
}

// replace makes data the whole file, atomically, and opens it for
// appending.
func (l *inflightLog) replace(data []byte) error {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	if err := writeFileAtomic(l.path, data, true); err != nil {
		return fmt.Errorf("cannot write %s: %w", l.path, err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", l.path, err)
	}
	l.f, l.dirty = f, false
	return nil
}

// appendBlock records a block taken from the queue.
func (l *inflightLog) appendBlock(block []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.appendLocked(kindBlock, block); err != nil {
		return err
	}
	l.bytes += int64(len(block))
	return nil
}

// appendNext records that the blocks up to sequence number next were
// passed without being taken in flight (dropped for room).
func (l *inflightLog) appendNext(next uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(kindNext, binary.BigEndian.AppendUint64(nil, next))
}

// markDone records that request i of the round with fingerprint fp was
// delivered (or dropped for good).
func (l *inflightLog) markDone(i uint32, fp uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(kindDone, doneBody(i, fp))
}

func (l *inflightLog) appendLocked(kind byte, body []byte) error {
	if l.f == nil {
		return errors.New("the in-flight file is closed")
	}
	l.buf = appendRecord(l.buf[:0], kind, body)
	if _, err := l.f.Write(l.buf); err != nil {
		// A partial record would hide the ones after it: start over
		// with what the file held before.
		if info, serr := l.f.Stat(); serr == nil {
			_ = l.f.Truncate(info.Size() - int64(len(l.buf)))
		}
		return fmt.Errorf("cannot write %s: %w", l.path, err)
	}
	l.dirty = true
	return nil
}

// reset empties the file once a round is delivered: next is the
// sequence number after its last block.
func (l *inflightLog) reset(next uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bytes = 0
	return l.replace(appendRecord(nil, kindNext, binary.BigEndian.AppendUint64(nil, next)))
}

// heldBytes is the size of the blocks held.
func (l *inflightLog) heldBytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes
}

// sync fsyncs what was appended since the last call, which bounds what a
// power loss can take; a killed process loses nothing written.
func (l *inflightLog) sync() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil && l.dirty {
		_ = l.f.Sync()
		l.dirty = false
	}
}

func (l *inflightLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_ = l.f.Sync()
		l.f.Close()
		l.f = nil
	}
}
