package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

// The write-ahead log closes the window in which VictoriaMetrics keeps
// accepted rows only in process memory: rows wait up to 2 s as pending
// rows and up to 5 s more as in-memory parts before they reach disk. Every
// batch is written to the log (to the OS, not necessarily to the disk)
// before Append returns, so a killed process loses nothing it
// acknowledged; the log is fsynced on an interval, which bounds what a
// power loss can take. On start the log is replayed.
//
// A segment is removed once every row in it is in the store's files. Every
// walRotateEvery the current segment is sealed (after the appends writing
// to it have handed their rows to the store) and the store is checkpointed:
// its in-memory rows and index items are written to file parts, listed in
// the store's part lists, and then the sealed segments go. So the log holds
// the rows of the last walRotateEvery or so, not of the store's whole
// flush delay. When a checkpoint cannot run (the store is read-only, the
// disk is full), a sealed segment is removed walKeep after it was sealed,
// several times the store's own flush intervals.
const (
	walRotateEvery = 10 * time.Second
	walKeep        = 30 * time.Second
	walMaxSegment  = 64 << 20
	walMagic       = "VIGILWAL1\n"

	// walPreallocate is how far ahead of the writes a segment's disk
	// blocks are reserved. Writing into reserved blocks took the kernel
	// about a fifth less time than growing the file (ext4, writes of
	// 160 KiB, a remote-write request's record), and a segment that ends
	// early keeps at most this much unused until it is removed.
	walPreallocate = 4 << 20
)

var walCRC = crc32.MakeTable(crc32.Castagnoli)

// ErrDiskFull is returned by Append when the rows cannot be written to disk
// for lack of space. Nothing of the batch is stored; free space to resume.
var ErrDiskFull = errors.New("the disk is full: free some space to resume ingestion (queries keep working)")

type wal struct {
	dir      string
	syncWait time.Duration
	log      *slog.Logger
	// checkpoint writes every row the store holds in memory to its files;
	// nil or an error means that segments wait out walKeep instead.
	checkpoint func() error

	// inflight is read-locked by each append from its log write until the
	// store has its rows, and locked to seal a segment for a checkpoint, so
	// that a checkpoint covers every row of the segments it seals.
	inflight sync.RWMutex

	mu       sync.Mutex
	f        *os.File
	seq      uint64
	opened   time.Time
	size     int64
	reserved int64 // the bytes of the segment preallocate has reserved
	dirty    bool
	retired  []retiredSegment
	stopCh   chan struct{}
	stopped  sync.WaitGroup
	writeErr error // the last write error, for the health report
}

type retiredSegment struct {
	seq     uint64
	path    string
	retired time.Time
}

var walBufPool = sync.Pool{New: func() any { return new([]byte) }}

func segmentName(seq uint64) string { return fmt.Sprintf("%020d.wal", seq) }

// openWAL replays the segments in dir into vm and starts a new segment.
// checkpoint (may be nil) makes every row vm holds durable in its files.
func openWAL(dir string, vm *vmstorage.Storage, syncEvery time.Duration, checkpoint func() error, log *slog.Logger) (*wal, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the write-ahead log directory %s: %w", dir, err)
	}
	w := &wal{dir: dir, syncWait: syncEvery, checkpoint: checkpoint, log: log, stopCh: make(chan struct{})}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, seq := range segs {
		path := filepath.Join(dir, segmentName(seq))
		rows, err := replaySegment(path, vm)
		if err != nil {
			log.Warn("write-ahead log segment ends early, probably cut by a crash; replayed what was whole", "file", path, "rows", rows, "err", err)
		} else if rows > 0 {
			log.Info("replayed the write-ahead log", "file", path, "rows", rows)
		}
		// Replayed rows are in the store's memory again: keep the segment
		// until they reach disk.
		w.retired = append(w.retired, retiredSegment{seq: seq, path: path, retired: now})
		w.seq = max(w.seq, seq)
	}
	if err := w.rotateLocked(now); err != nil {
		return nil, err
	}
	w.stopped.Add(1)
	go w.background()
	return w, nil
}

func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read the write-ahead log directory %s: %w", dir, err)
	}
	var seqs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wal")
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	return seqs, nil
}

// appendRecord writes one record made by encodeWALRecord to the log. It
// returns ErrDiskFull when the disk has no room, and then nothing of the
// record's rows may be stored.
func (w *wal) appendRecord(buf []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("the write-ahead log is closed")
	}
	if end := w.size + int64(len(buf)); end > w.reserved {
		// An error (a file system without fallocate, a full disk) only
		// costs the speed-up; the write below reports a full disk.
		n := max(walPreallocate, end-w.reserved)
		_ = preallocate(w.f, w.reserved, n)
		w.reserved += n
	}
	n, err := w.f.Write(buf)
	w.size += int64(n)
	w.dirty = true
	if err != nil {
		// Drop the torn record: replay stops at the first bad record, so
		// later records would be lost behind it.
		_ = w.f.Truncate(w.size - int64(n))
		w.size -= int64(n)
		_, _ = w.f.Seek(w.size, io.SeekStart)
		w.writeErr = err
		if errors.Is(err, syscall.ENOSPC) {
			return ErrDiskFull
		}
		return fmt.Errorf("cannot write to the write-ahead log %s: %w", w.f.Name(), err)
	}
	w.writeErr = nil
	if w.size >= walMaxSegment {
		if err := w.rotateLocked(time.Now()); err != nil {
			w.log.Warn("cannot start a new write-ahead log segment", "err", err)
		}
	}
	return nil
}

// walHeaderSize is the length and CRC-32C in front of a record's payload.
const walHeaderSize = 8

// encodeWALRecord appends one record: length, CRC-32C and the rows'
// payload (appendRowsPayload).
func encodeWALRecord(dst []byte, mrs []vmstorage.MetricRow) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, walHeaderSize)...)
	dst = appendRowsPayload(dst, mrs)
	payload := dst[start+walHeaderSize:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, walCRC))
	return dst
}

// Each row of a payload starts with a flag byte. The first encoding had
// only rowNewName, the timestamp as a delta from the previous row's and
// the value's 8 bytes. Rows with rowV2 store the timestamp as the change
// of that delta (1 byte for a regular interval) and the value in one of
// three kinds: an integer change from the previous row's value (1-2
// bytes for a counter), the same value again (none), or its 8 bytes. That
// halves the log of a remote-write load. Both encodings are read, so
// that segments and remote-write queues written before stay readable.
const (
	rowNewName    = 1 << 0 // the series name follows
	rowValueMask  = 3 << 1
	rowValueBits  = 0 << 1 // the value's 8 bytes follow
	rowValueDelta = 1 << 1 // a varint follows: the value minus the previous, both integers
	rowValueSame  = 2 << 1 // the previous row's value
	rowV2         = 1 << 3
)

// maxExactInt bounds the integers that rowValueDelta encodes: a float64
// holds them exactly, and their difference takes at most 8 varint bytes,
// so a row stays within the 1+10+8 bytes (plus its name) that
// Batch.Split counts on.
const maxExactInt = 1 << 53

// appendRowsPayload appends the compact encoding of rows that the
// write-ahead log and Batch share: per row a flag, the series name unless
// it is the previous row's (Rows shares one name among a series'
// samples), the timestamp and the value, each relative to the previous
// row.
func appendRowsPayload(dst []byte, mrs []vmstorage.MetricRow) []byte {
	var prevName []byte
	var prevTs, prevDelta int64
	var prevV float64
	for i := range mrs {
		mr := &mrs[i]
		flag := byte(rowV2)
		newName := !sameBytes(mr.MetricNameRaw, prevName)
		if newName {
			flag |= rowNewName
		}
		kind, d := valueKind(prevV, mr.Value)
		dst = append(dst, flag|kind)
		if newName {
			dst = binary.AppendUvarint(dst, uint64(len(mr.MetricNameRaw)))
			dst = append(dst, mr.MetricNameRaw...)
			prevName = mr.MetricNameRaw
		}
		delta := mr.Timestamp - prevTs
		dst = binary.AppendVarint(dst, delta-prevDelta)
		prevTs, prevDelta = mr.Timestamp, delta
		switch kind {
		case rowValueDelta:
			dst = binary.AppendVarint(dst, d)
		case rowValueBits:
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(mr.Value))
		}
		prevV = mr.Value
	}
	return dst
}

// valueKind returns how v is encoded after prev, and for rowValueDelta
// the difference.
func valueKind(prev, v float64) (byte, int64) {
	if math.Float64bits(v) == math.Float64bits(prev) {
		return rowValueSame, 0
	}
	// The range checks are false for NaN; -0 would come back as +0.
	if math.Abs(v) <= maxExactInt && math.Abs(prev) <= maxExactInt && (v != 0 || !math.Signbit(v)) {
		iv, ip := int64(v), int64(prev)
		if float64(iv) == v && float64(ip) == prev {
			return rowValueDelta, iv - ip
		}
	}
	return rowValueBits, 0
}

// sameBytes reports whether a and b are the same slice (not merely equal
// bytes): rows of one series share their name's bytes.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && unsafe.SliceData(a) == unsafe.SliceData(b)
}

// decodeWALRecord decodes the rows of one record's payload. The rows'
// names point into payload.
func decodeWALRecord(payload []byte, mrs []vmstorage.MetricRow) ([]vmstorage.MetricRow, error) {
	d := rowDecoder{data: payload}
	for len(d.data) > 0 {
		if _, err := d.next(); err != nil {
			return mrs, err
		}
		mrs = append(mrs, vmstorage.MetricRow{MetricNameRaw: d.name, Timestamp: d.ts, Value: d.v})
	}
	return mrs, nil
}

// rowDecoder reads the rows of a payload in either encoding, one at a
// time; name, ts and v are the last row's. name points into data.
type rowDecoder struct {
	data      []byte
	name      []byte
	ts, delta int64
	v         float64
}

// next decodes the next row and reports whether it names its series
// (rather than sharing the previous row's name).
func (d *rowDecoder) next() (bool, error) {
	flag := d.data[0]
	p := d.data[1:]
	if flag&^(rowNewName|rowValueMask|rowV2) != 0 || flag&rowV2 == 0 && flag&rowValueMask != rowValueBits {
		return false, fmt.Errorf("unknown row flag %d", flag)
	}
	newName := flag&rowNewName != 0
	if newName {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return false, errors.New("truncated series name")
		}
		d.name = p[k : k+int(n) : k+int(n)]
		p = p[k+int(n):]
	} else if d.name == nil {
		return false, errors.New("a row refers to a previous name in the first row")
	}
	t, k := binary.Varint(p)
	if k <= 0 {
		return false, errors.New("truncated timestamp")
	}
	p = p[k:]
	if flag&rowV2 != 0 {
		d.delta += t
	} else {
		d.delta = t
	}
	d.ts += d.delta
	switch flag & rowValueMask {
	case rowValueBits:
		if len(p) < 8 {
			return false, errors.New("truncated value")
		}
		d.v = math.Float64frombits(binary.LittleEndian.Uint64(p))
		p = p[8:]
	case rowValueDelta:
		dv, k := binary.Varint(p)
		if k <= 0 {
			return false, errors.New("truncated value")
		}
		p = p[k:]
		d.v = float64(int64(d.v) + dv)
	case rowValueSame:
	default:
		return false, fmt.Errorf("unknown row flag %d", flag)
	}
	d.data = p
	return newName, nil
}

// replaySegment adds the rows of a segment to vm. It stops at the first
// record that is cut short or fails its checksum: a crash tears at most
// the record being written.
func replaySegment(path string, vm *vmstorage.Storage) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(walMagic))
	if _, err := io.ReadFull(r, magic); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil // created, never written
		}
		return 0, fmt.Errorf("cannot read the header: %w", err)
	}
	if string(magic) != walMagic {
		return 0, fmt.Errorf("not a Vigil write-ahead log segment")
	}
	var (
		hdr     [8]byte
		payload []byte
		mrs     []vmstorage.MetricRow
		total   int
	)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return total, nil
			}
			return total, fmt.Errorf("record header: %w", err)
		}
		n := binary.LittleEndian.Uint32(hdr[:])
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if n > walMaxSegment*2 {
			return total, fmt.Errorf("record of %d bytes is larger than a segment", n)
		}
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return total, fmt.Errorf("record: %w", err)
		}
		if crc32.Checksum(payload, walCRC) != sum {
			return total, errors.New("record checksum mismatch")
		}
		mrs, err = decodeWALRecord(payload, mrs[:0])
		if err != nil {
			return total, err
		}
		vm.AddRows(mrs, 64)
		total += len(mrs)
	}
}

// rotateLocked closes the current segment (it becomes removable after the
// next checkpoint, or walKeep later) and starts the next one.
func (w *wal) rotateLocked(now time.Time) error {
	if w.f != nil {
		if w.dirty {
			_ = w.f.Sync()
		}
		_ = w.f.Close()
		w.retired = append(w.retired, retiredSegment{seq: w.seq, path: w.f.Name(), retired: now})
		w.f = nil
	}
	w.seq++
	path := filepath.Join(w.dir, segmentName(w.seq))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("cannot create the write-ahead log segment %s: %w", path, err)
	}
	if _, err := f.WriteString(walMagic); err != nil {
		f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("cannot write the write-ahead log segment %s: %w", path, err)
	}
	w.f, w.opened, w.size, w.reserved, w.dirty = f, now, int64(len(walMagic)), 0, false
	syncDir(w.dir)
	return nil
}

// background fsyncs the current segment every syncWait, rotates segments
// and removes those whose rows have reached disk in the store.
func (w *wal) background() {
	defer w.stopped.Done()
	t := time.NewTicker(w.syncWait)
	defer t.Stop()
	for {
		select {
		case <-w.stopCh:
			return
		case now := <-t.C:
			w.tick(now)
		}
	}
}

func (w *wal) tick(now time.Time) {
	w.mu.Lock()
	if w.f != nil && w.dirty {
		if err := w.f.Sync(); err != nil {
			w.log.Warn("cannot fsync the write-ahead log", "file", w.f.Name(), "err", err)
		}
		w.dirty = false
	}
	rotate := w.f != nil && now.Sub(w.opened) >= walRotateEvery && w.size > int64(len(walMagic))
	w.mu.Unlock()
	var sealed uint64 // the last segment a checkpoint covers; 0: none
	if rotate {
		sealed = w.seal(now)
	}
	if sealed > 0 && w.checkpoint != nil {
		if err := w.checkpoint(); err != nil {
			// A skipped checkpoint (the store read-only, which it warns
			// about once, or a forced merge running) is not worth a
			// warning every 10 s.
			if !errors.Is(err, errCheckpointSkipped) {
				w.log.Warn("cannot write the store's in-memory rows to disk; the write-ahead log keeps them longer", "err", err)
			}
			sealed = 0
		}
	}
	w.removeSegments(now, sealed)
}

// seal closes the current segment once no append is between its log
// write and the store, starts the next one and returns the sequence
// number of the sealed segment (0 if none was sealed).
func (w *wal) seal(now time.Time) uint64 {
	w.inflight.Lock()
	defer w.inflight.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0
	}
	sealed := w.seq
	if err := w.rotateLocked(now); err != nil {
		w.log.Warn("cannot start a new write-ahead log segment", "err", err)
		return 0
	}
	return sealed
}

// removeSegments deletes the retired segments up to checkpointed (their
// rows are in the store's files) and those retired walKeep ago.
func (w *wal) removeSegments(now time.Time, checkpointed uint64) {
	w.mu.Lock()
	var remove []string
	keep := w.retired[:0]
	for _, s := range w.retired {
		if s.seq <= checkpointed || now.Sub(s.retired) >= walKeep {
			remove = append(remove, s.path)
		} else {
			keep = append(keep, s)
		}
	}
	w.retired = keep
	w.mu.Unlock()
	for _, p := range remove {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			w.log.Warn("cannot remove an old write-ahead log segment", "file", p, "err", err)
		}
	}
}

// stop ends the background work and closes the current segment.
func (w *wal) stop() {
	close(w.stopCh)
	w.stopped.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		_ = w.f.Sync()
		_ = w.f.Close()
		w.f = nil
	}
}

// removeAll deletes every segment: the store has flushed all rows.
func (w *wal) removeAll() {
	seqs, err := listSegments(w.dir)
	if err != nil {
		return
	}
	for _, seq := range seqs {
		_ = os.Remove(filepath.Join(w.dir, segmentName(seq)))
	}
	syncDir(w.dir)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
