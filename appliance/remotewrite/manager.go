// Package remotewrite sends every sample Vigil stores to remote storage
// over Prometheus remote write 1.0 (VictoriaMetrics, Mimir, Thanos
// receive, Prometheus), through a queue on disk per remote that survives
// outages of the remote and restarts of Vigil.
//
// The Manager is a storage.Tap: storage.Append hands it every stored
// batch, which it writes to each remote's queue (queue.go) and returns;
// a sender per remote (sender.go) takes the queue's blocks, cuts them into
// requests (round.go) and delivers them in order per series, retrying
// while the remote is unavailable.
package remotewrite

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vigil-monitoring/vigil/storage"
)

// DirName is the directory under the data directory that holds the
// queues, one subdirectory per remote, named after it.
const DirName = "remote-write"

// Options configure a Manager.
type Options struct {
	// DataDir is Vigil's data directory; the queues go in DirName in it.
	DataDir string
	// Version is Vigil's, sent in User-Agent as Vigil/<version>.
	Version string
	Logger  *slog.Logger
}

// Manager runs the configured remotes. Create it with NewManager, Apply a
// configuration (again on every reload) and Close it after the storage
// that taps into it.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex // serializes Apply and Close
	remotes map[string]*remote
	closed  bool
	warned  bool // the leftover queues were reported

	// list is what Stored writes to, replaced whole by Apply.
	list atomic.Pointer[[]*remote]
}

// remote is one configured remote: its queue, its sender and its metrics.
type remote struct {
	s  *settings
	q  *queue
	st *stats
	sd *sender
}

var _ storage.Tap = (*Manager)(nil)

// NewManager returns a Manager with no remotes.
func NewManager(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &Manager{opts: opts, log: opts.Logger.With("component", "remote write"), remotes: map[string]*remote{}}
	m.list.Store(&[]*remote{})
	return m
}

// Stored queues a stored batch for every remote. It is storage's Tap.
func (m *Manager) Stored(b storage.Batch) {
	for _, r := range *m.list.Load() {
		r.q.write(b)
	}
}

// Apply makes the entries of sources the running remotes, each with the
// external labels added to what it sends: new ones start (their queue
// opens and what it held is sent), removed ones stop (their queue stays on
// disk), changed ones go on with their queue under the new settings. A
// configuration that does not check, or a queue that cannot open,
// changes nothing and is returned.
func (m *Manager) Apply(sources []Source, externalLabels map[string]string) error {
	all, err := checkAll(sources, externalLabels)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("remote write has been stopped")
	}
	next := map[string]*settings{}
	for _, s := range all {
		next[s.key] = s
	}

	// Open the new queues first: if one fails, nothing has changed.
	opened := map[string]*remote{}
	for key, s := range next {
		if _, ok := m.remotes[key]; ok {
			continue
		}
		r, err := m.open(s)
		if err != nil {
			for _, o := range opened {
				o.q.close()
				o.st.unregister()
			}
			return err
		}
		opened[key] = r
	}

	var removed []*remote
	for key, r := range m.remotes {
		s, ok := next[key]
		switch {
		case !ok:
			removed = append(removed, r)
			delete(m.remotes, key)
		case !r.s.sameSending(s):
			r.sd.stop()
			old := r.st
			r.st = newStats(s.name, s.url)
			r.q.setStats(r.st)
			old.unregister()
			r.st.register(r.q.pendingBytes, r.q.maxBytesNow)
			r.s = s
			r.q.setMaxBytes(s.maxDiskBytes)
			r.sd = startSender(s, r.q, r.st, m.opts.Version, m.log.With("remote", s.name))
			m.log.Info("remote reconfigured", "remote", s.describe())
		case r.s.maxDiskBytes != s.maxDiskBytes:
			r.s = s
			r.q.setMaxBytes(s.maxDiskBytes)
			m.log.Info("remote's queue bound changed", "remote", s.describe(), "max_bytes", s.maxDiskBytes)
		}
	}
	for key, r := range opened {
		r.sd = startSender(r.s, r.q, r.st, m.opts.Version, m.log.With("remote", r.s.name))
		m.remotes[key] = r
		m.log.Info("remote write started", "remote", r.s.describe(), "queue", r.q.dir, "pending_bytes", r.q.pendingBytes(), "max_bytes", r.s.maxDiskBytes)
	}
	list := slices.Collect(maps.Values(m.remotes))
	slices.SortFunc(list, func(a, b *remote) int { return cmp.Compare(a.s.key, b.s.key) })
	m.list.Store(&list)
	for _, r := range removed {
		m.log.Info("remote removed; its queue stays on disk", "remote", r.s.describe(), "dir", r.q.dir, "pending_bytes", r.q.pendingBytes())
		m.stopRemote(r)
	}
	if !m.warned {
		m.warned = true
		m.reportLeftovers()
	}
	return nil
}

// open opens the queue and the metrics of a new remote.
func (m *Manager) open(s *settings) (*remote, error) {
	dir := filepath.Join(m.opts.DataDir, DirName, s.key)
	st := newStats(s.name, s.url)
	q, err := openQueue(dir, s.maxDiskBytes, checkpointEvery, st, m.log.With("remote", s.name))
	if err != nil {
		return nil, fmt.Errorf("remote_write %s: %w", s.describe(), err)
	}
	st.register(q.pendingBytes, q.maxBytesNow)
	return &remote{s: s, q: q, st: st}, nil
}

// stopRemote stops a remote's sender and closes its queue; writes to it
// after that are ignored.
func (m *Manager) stopRemote(r *remote) {
	r.sd.stop()
	r.q.close()
	r.st.unregister()
}

// reportLeftovers warns about queues on disk that no remote uses: their
// samples are not sent, and they take space.
func (m *Manager) reportLeftovers() {
	entries, err := os.ReadDir(filepath.Join(m.opts.DataDir, DirName))
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || m.remotes[e.Name()] != nil {
			continue
		}
		m.log.Warn("a remote write queue belongs to no configured remote; its samples are not sent. Configure the remote again (same name or url) or delete the directory",
			"dir", filepath.Join(m.opts.DataDir, DirName, e.Name()))
	}
}

// Close stops every sender and closes the queues, which keeps what is not
// delivered on disk for the next start. Call it after the storage has
// closed: writes after Close are ignored.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	m.list.Store(&[]*remote{})
	var wg sync.WaitGroup
	for _, r := range m.remotes {
		wg.Go(func() { m.stopRemote(r) })
	}
	wg.Wait()
	m.remotes = nil
}

// Status returns the state of every remote, sorted by name.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := *m.list.Load()
	out := make([]Status, 0, len(list))
	for _, r := range list {
		st := r.st.status()
		st.Name = r.s.name
		st.URL = redactURL(r.s.url)
		st.QueueDir = filepath.Join(DirName, r.s.key)
		st.PendingBytes = r.q.pendingBytes()
		st.MaxPendingBytes = r.q.maxBytesNow()
		out = append(out, st)
	}
	return out
}
