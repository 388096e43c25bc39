package remotewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// journal is the record of the blocks written to a queue and not yet made
// durable in its persistent queue by a checkpoint: files journal-<n>,
// each beginning with the sequence number its blocks go on from. Blocks
// are appended to the newest file, each with one write call, which a kill
// of the process does not undo. A checkpoint starts a new file and, once
// the persistent queue holds every block of the older ones on disk,
// removes them. It is not safe for concurrent use.
type journal struct {
	dir  string
	n    uint64 // the number of the file being written
	f    *os.File
	size int64
}

const journalPrefix = "journal-"

func journalPath(dir string, n uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%020d", journalPrefix, n))
}

// journalFiles returns the numbers of the journal files in dir, in order.
func journalFiles(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range entries {
		s, ok := strings.CutPrefix(e.Name(), journalPrefix)
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// replayJournals calls f with every block of the journal files in dir, in
// the order written, and returns where sequence numbers go on and the
// number of the last file (0 for none). A file cut short by a power loss
// is read up to its last whole record; torn reports it.
func replayJournals(dir string, f func(block []byte) error) (next, last uint64, torn error, err error) {
	files, err := journalFiles(dir)
	if err != nil {
		return 0, 0, nil, err
	}
	for _, n := range files {
		t, err := readRecords(journalPath(dir, n), func(kind byte, body []byte) error {
			switch kind {
			case kindNext:
				if len(body) == 8 {
					next = max(next, binary.BigEndian.Uint64(body))
				}
			case kindBlock:
				h, _, err := parseBlock(body)
				if err != nil {
					return nil // a block this Vigil cannot read is left out
				}
				next = max(next, h.end())
				return f(body)
			}
			return nil
		})
		if err != nil {
			return next, n, nil, fmt.Errorf("%s: %w", journalPath(dir, n), err)
		}
		if t != nil && torn == nil {
			torn = fmt.Errorf("%s: %w", journalPath(dir, n), t)
		}
		last = n
	}
	return next, last, torn, nil
}

// createJournal starts journal file n, whose blocks go on from sequence
// number next. The header is fsynced: without it the sequence numbers
// would start again.
func createJournal(dir string, n, next uint64) (*journal, error) {
	path := journalPath(dir, n)
	data := appendRecord(nil, kindNext, binary.BigEndian.AppendUint64(nil, next))
	if err := writeFileAtomic(path, data, true); err != nil {
		return nil, fmt.Errorf("cannot create the remote write journal %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the remote write journal %s: %w", path, err)
	}
	return &journal{dir: dir, n: n, f: f, size: int64(len(data))}, nil
}

// write appends rec, a whole record (appendRecord), with one write call.
// On error the file is cut back to what it held, so that a torn record
// hides no later one.
func (j *journal) write(rec []byte) error {
	if _, err := j.f.Write(rec); err != nil {
		_ = j.f.Truncate(j.size)
		return fmt.Errorf("cannot write the remote write journal %s: %w", j.f.Name(), err)
	}
	j.size += int64(len(rec))
	return nil
}

// rotate starts the next file, whose blocks go on from next, and returns
// the number of the one it closed.
func (j *journal) rotate(next uint64) (closed uint64, err error) {
	nj, err := createJournal(j.dir, j.n+1, next)
	if err != nil {
		return 0, err
	}
	closed = j.n
	j.f.Close()
	j.n, j.f, j.size = nj.n, nj.f, nj.size
	return closed, nil
}

// removeUpTo removes the journal files numbered up to n, whose blocks the
// persistent queue holds on disk.
func removeJournalsUpTo(dir string, n uint64) error {
	files, err := journalFiles(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		if f <= n {
			if err := os.Remove(journalPath(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	syncDir(journalPath(dir, 0))
	return errors.Join(errs...)
}

func (j *journal) close() {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}
