// Package storage is Vigil's embedded time-series store: VictoriaMetrics'
// lib/storage behind a small interface of Vigil's own. It appends rows,
// serves the PromQL engine through a Prometheus storage.Queryable, answers
// label and series look-ups, deletes series, takes snapshots and reports
// the cardinality of what it holds.
package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/fs"
	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

// Options configures a Storage.
type Options struct {
	// Retention is how long samples are kept. Zero means 30 days.
	Retention time.Duration

	// MemoryAllowedBytes caps VictoriaMetrics' caches. Zero means a quarter
	// of the machine's memory, at most DefaultMaxCacheMemory (1 GiB),
	// rather than VictoriaMetrics' default of 60%, because Vigil shares its
	// process with the query engine and the rules.
	MemoryAllowedBytes int64

	// MaxSeriesPerQuery bounds how many series one selector may match.
	// Zero means 1,000,000.
	MaxSeriesPerQuery int

	// MinFreeDiskBytes switches ingestion off (Append returns ErrReadOnly)
	// while the disk has less free space, so that the store never fails a
	// write half-way; it switches back on by itself. Zero means 64 MiB.
	MinFreeDiskBytes int64

	// MaxSeries bounds the distinct series written within the cardinality
	// limiter's rolling window (one to two SeriesLimitWindow): Append
	// refuses the rows of new series past it, while series already
	// written keep being stored. Zero means no limit. See limits.go.
	MaxSeries int

	// MaxSeriesPerMetric bounds the distinct series of one metric name
	// within the same window, in the same way. Zero means no limit.
	MaxSeriesPerMetric int

	// SeriesLimitWindow is the length of one generation of the
	// cardinality limiter. Zero means DefaultSeriesLimitWindow (1 h).
	SeriesLimitWindow time.Duration

	// NoWAL turns the write-ahead log off: a killed process then loses the
	// rows of its last seconds. For benchmarks and throw-away stores.
	NoWAL bool

	// WALSyncInterval is how often the write-ahead log is fsynced, which
	// bounds what a power loss can take. Zero means 1 s.
	WALSyncInterval time.Duration

	// Logger receives the store's warnings; nil means slog.Default().
	Logger *slog.Logger

	// TailCacheBytes bounds the cache of decoded newest samples of blocks
	// that serves repeated queries over the end of the data (see
	// tailcache.go). Zero means DefaultTailCacheBytes; negative turns it
	// off.
	TailCacheBytes int64

	// LabelCacheBytes bounds the cache of the labels built from series
	// names, which spares a repeated query rebuilding the labels of the
	// series it selects (see labelcache.go). Zero means
	// DefaultLabelCacheBytes; negative turns it off.
	LabelCacheBytes int64

	// Tap, if set, receives every batch Append stores (see Tap). Rows
	// replayed from the write-ahead log at Open are not passed again: the
	// tap saw them when they were first appended.
	Tap Tap
}

// DefaultRetention is how long samples are kept when Options.Retention is 0.
const DefaultRetention = 30 * 24 * time.Hour

// Storage is the embedded TSDB. It is safe for concurrent use.
type Storage struct {
	path string
	opts Options
	vm   *vmstorage.Storage

	wal    *wal           // nil with Options.NoWAL
	limits *seriesLimiter // nil without cardinality limits
	tail   *tailCache     // nil when off
	labels *labelCache    // nil when off

	// addSlots bounds concurrent AddRows calls to the number of cores, as
	// lib/storage asks: more only contend for its row shards and memory.
	addSlots chan struct{}
	metrics  *storeMetrics
	// mergeMu keeps checkpoints out of a forced merge: the flush of a
	// checkpoint would make VictoriaMetrics skip the merge.
	mergeMu   sync.Mutex
	closeOnce sync.Once
}

// Open opens or creates the store in dir.
func Open(dir string, opts Options) (*Storage, error) {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.MinFreeDiskBytes <= 0 {
		opts.MinFreeDiskBytes = 64 << 20
	}
	if opts.TailCacheBytes == 0 {
		opts.TailCacheBytes = DefaultTailCacheBytes
	}
	if opts.LabelCacheBytes == 0 {
		opts.LabelCacheBytes = DefaultLabelCacheBytes
	}
	if opts.MaxSeriesPerQuery <= 0 {
		opts.MaxSeriesPerQuery = 1_000_000
	}
	if err := configureVictoriaMetrics(opts); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "tsdb")
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the storage directory %s: %w (check the --data-dir permissions)", path, err)
	}
	if opts.WALSyncInterval <= 0 {
		opts.WALSyncInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	vm := vmstorage.MustOpenStorage(path, vmstorage.OpenOptions{Retention: opts.Retention})
	s := &Storage{path: path, opts: opts, vm: vm, addSlots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	s.tail = newTailCache(opts.TailCacheBytes)
	s.labels = newLabelCache(opts.LabelCacheBytes)
	s.limits = newSeriesLimiter(opts.MaxSeries, opts.MaxSeriesPerMetric, opts.SeriesLimitWindow)
	s.metrics = newStoreMetrics(s)
	if !opts.NoWAL {
		w, err := openWAL(filepath.Join(dir, "wal"), vm, opts.WALSyncInterval, s.checkpoint, opts.Logger.With("component", "wal"))
		if err != nil {
			s.metrics.unregister()
			vm.MustClose()
			return nil, err
		}
		s.wal = w
	}
	return s, nil
}

// Close flushes everything appended to disk and closes the store.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		s.metrics.unregister()
		if s.wal != nil {
			s.wal.stop()
		}
		s.vm.MustClose()
		if s.wal != nil {
			// Closing flushed every row to disk: the log has done its job.
			s.wal.removeAll()
		}
	})
	return nil
}

// Path returns the directory that holds the store's files.
func (s *Storage) Path() string { return s.path }

// Retention returns how long samples are kept.
func (s *Storage) Retention() time.Duration { return s.opts.Retention }

// Append stores rows. Once it returns nil the rows survive a crash of the
// process: they are in the write-ahead log, and Options.Tap has seen them.
//
// Rows older than the retention or more than FutureWindow ahead of the
// clock are refused, and so are the rows of new series past the
// cardinality limits (Options.MaxSeries, MaxSeriesPerMetric). When some
// rows are refused, Append stores every other row — as durably as above —
// and returns a *LimitError that counts and names what was refused; the
// caller must not append the batch again. ErrReadOnly, ErrDiskFull and
// other errors mean that nothing of the batch was stored. Append does not
// change rows, but records the batch in the SeriesMemo rows use, if any
// (Rows.UseMemo).
func (s *Storage) Append(rows *Rows) (err error) {
	if m := rows.memo; m != nil {
		// Until the batch is stored, the memo must not vouch for it.
		defer func() {
			if err != nil {
				m.forget()
			}
		}()
	}
	if len(rows.mrs) == 0 {
		if rows.memo != nil {
			rows.memo.commit(nil, 0)
		}
		return nil
	}
	if s.vm.IsReadOnly() {
		return ErrReadOnly
	}
	mrs := rows.mrs
	// The store would drop rows outside the time range it keeps without a
	// word; they are refused here, so that the client hears of them.
	var limitErr *LimitError
	if minTs, maxTs := s.acceptedRange(); !inTimeRange(mrs, minTs, maxTs) {
		sp := admittedPool.Get().(*[]vmstorage.MetricRow)
		defer putAdmitted(sp)
		mrs, limitErr = filterTimeRange(mrs, *sp, minTs, maxTs)
		*sp = mrs
		if len(mrs) == 0 {
			return limitErr
		}
	}
	var genEnd int64
	if s.limits != nil {
		sp := admittedPool.Get().(*[]vmstorage.MetricRow)
		defer putAdmitted(sp)
		var known []bool
		var knownGen int64
		if rows.memo != nil && limitErr == nil {
			// known is indexed like rows.mrs, so it holds only while the
			// time filter above kept every row.
			known, knownGen = rows.known, rows.memo.limiterGen(s.limits)
		}
		var seriesErr *LimitError
		mrs, seriesErr, genEnd = s.limits.filterKnown(mrs, *sp, known, knownGen)
		if seriesErr != nil {
			*sp = mrs
			if limitErr == nil {
				limitErr = seriesErr
			} else {
				limitErr.merge(seriesErr)
			}
		}
		if len(mrs) == 0 {
			return limitErr
		}
	}
	// The rows are encoded once, for the write-ahead log and the tap.
	var record []byte
	if s.wal != nil || s.opts.Tap != nil {
		bp := walBufPool.Get().(*[]byte)
		record = encodeWALRecord((*bp)[:0], mrs)
		*bp = record
		defer walBufPool.Put(bp)
	}
	if s.wal != nil {
		// Until the store has the rows, no checkpoint may seal the
		// segment that holds them.
		s.wal.inflight.RLock()
		defer s.wal.inflight.RUnlock()
		if err := s.wal.appendRecord(record); err != nil {
			return err
		}
	}
	// 64 precision bits keep every float64 exactly.
	s.addSlots <- struct{}{}
	s.vm.AddRows(mrs, 64)
	<-s.addSlots
	if s.opts.Tap != nil {
		s.opts.Tap.Stored(Batch{data: record[walHeaderSize:], n: len(mrs)})
	}
	if limitErr != nil {
		return limitErr
	}
	if rows.memo != nil {
		rows.memo.commit(s.limits, genEnd)
	}
	return nil
}

// admittedPool holds the buffers that Append copies the admitted rows of
// a batch into when the limits refused some. The rows point into the
// caller's Rows, so a buffer is cleared before it goes back.
var admittedPool = sync.Pool{New: func() any { return new([]vmstorage.MetricRow) }}

func putAdmitted(sp *[]vmstorage.MetricRow) {
	clear(*sp)
	*sp = (*sp)[:0]
	admittedPool.Put(sp)
}

// ErrReadOnly is returned by Append when the disk is nearly full and the
// store has switched to read-only mode. Free disk space to resume.
var ErrReadOnly = errors.New("storage is read-only because the disk is almost full; free some space to resume ingestion")

// ForceFlush makes every appended sample searchable at once, instead of
// within the next second or so. (Durability comes from the write-ahead
// log, not from this.)
func (s *Storage) ForceFlush() {
	s.vm.DebugFlush()
}

// checkpoint writes every row and index item the store holds in memory to
// file parts, so that a killed process finds them on disk, and returns
// once they are there. VictoriaMetrics does that only for a snapshot (or
// on close), so a checkpoint is a snapshot deleted at once: hard links,
// a few directories and fsyncs. A process killed between the two leaves
// the snapshot behind, which the appliance's snapshot clean-up removes.
// It does nothing and says so while the store is read-only (then the disk
// is nearly full and the store itself holds back) or a forced merge runs.
func (s *Storage) checkpoint() error {
	if s.vm.IsReadOnly() {
		return fmt.Errorf("%w: the store is read-only", errCheckpointSkipped)
	}
	// A forced merge holds mergeMu for a while; the log's fsyncs, which
	// run on the same goroutine, must not wait for it.
	if !s.mergeMu.TryLock() {
		return errCheckpointSkipped
	}
	defer s.mergeMu.Unlock()
	start := time.Now()
	name, _, err := s.safeSnapshot()
	if err != nil {
		return err
	}
	err = s.safeDeleteSnapshot(name)
	s.metrics.checkpointed(time.Since(start))
	return err
}

// errCheckpointSkipped: a checkpoint did not run, for a reason that the
// store reports elsewhere (read-only) or that passes (a forced merge).
var errCheckpointSkipped = errors.New("checkpoint skipped")

// ForceMerge merges the store's parts into as few as possible, which
// shrinks the data on disk at once instead of over the next hours. It takes
// a while and much I/O; tools and benchmarks call it, Vigil itself does not.
//
// VictoriaMetrics' forced merge silently does nothing while any merge of
// the partition runs (a background merge, the flush of in-memory parts,
// a checkpoint), which after a backfill is often. So no checkpoint starts
// meanwhile, and ForceMerge waits for the running merges to end and asks
// again while a call merged fewer rows than the store held, for up to
// forceMergeWait.
func (s *Storage) ForceMerge() error {
	s.mergeMu.Lock()
	defer s.mergeMu.Unlock()
	deadline := time.Now().Add(forceMergeWait)
	for attempt := 1; ; attempt++ {
		var m vmstorage.Metrics
		for {
			s.vm.UpdateMetrics(&m)
			tm := &m.TableMetrics
			if tm.ActiveInmemoryMerges+tm.ActiveSmallMerges+tm.ActiveBigMerges == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
			m = vmstorage.Metrics{}
		}
		rows, merged := partRows(&m.TableMetrics)
		if err := s.vm.ForceMergePartitions(""); err != nil {
			return err
		}
		m = vmstorage.Metrics{}
		s.vm.UpdateMetrics(&m)
		_, mergedAfter := partRows(&m.TableMetrics)
		// A forced merge rewrites every row; one that was skipped
		// rewrites none (a background merge beside it, some).
		if mergedAfter-merged >= rows-rows/10 || attempt >= forceMergeAttempts || time.Now().After(deadline) {
			return nil
		}
	}
}

// partRows returns the rows in the store's parts and the rows its merges
// have written so far.
func partRows(tm *vmstorage.TableMetrics) (rows, merged uint64) {
	return tm.InmemoryRowsCount + tm.SmallRowsCount + tm.BigRowsCount,
		tm.InmemoryRowsMerged + tm.SmallRowsMerged + tm.BigRowsMerged
}

const (
	forceMergeWait     = time.Minute
	forceMergeAttempts = 5
)

// Snapshot creates a consistent, hard-linked snapshot of the store and
// returns its name and directory.
func (s *Storage) Snapshot() (name, dir string, err error) {
	name = s.vm.MustCreateSnapshot()
	return name, filepath.Join(s.path, "snapshots", name), nil
}

// DeleteSnapshot removes a snapshot created by Snapshot.
func (s *Storage) DeleteSnapshot(name string) error {
	return s.vm.DeleteSnapshot(name)
}

// DiskUsage returns the bytes the store's files occupy, snapshots aside.
func (s *Storage) DiskUsage() int64 {
	var n int64
	snapshots := filepath.Join(s.path, "snapshots")
	_ = filepath.WalkDir(s.path, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // files come and go under merges
		}
		if d.IsDir() && path == snapshots {
			return filepath.SkipDir
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// FreeDiskSpace returns the free bytes on the store's file system.
func (s *Storage) FreeDiskSpace() uint64 {
	return fs.MustGetFreeSpace(s.path)
}
