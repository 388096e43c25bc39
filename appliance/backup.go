package appliance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/vigil-monitoring/vigil/web"
)

// A backup is a directory that holds everything a data directory needs:
//
//	tsdb/               a copy of a storage snapshot, in the layout of
//	                    <data-dir>/tsdb (storage.Storage.Backup)
//	state.db            a consistent copy of the bbolt state file
//	pushgateway.json    the pushed groups, when there are any
//	manifest.json       written last: what wrote the backup, when, and
//	                    every file with its size and SHA-256
//
// A directory without manifest.json is an interrupted backup; restore
// refuses it, and checks every file against the manifest before it
// touches a data directory.

// BackupManifestFile is the manifest's name in a backup directory.
const BackupManifestFile = "manifest.json"

// backupFormat is the version of the backup layout above. Restore refuses
// other versions.
const backupFormat = 1

// BackupManifest describes one backup.
type BackupManifest struct {
	Format  int       `json:"format"`
	Version string    `json:"vigil_version"`
	Created time.Time `json:"created"`
	// Dirs are the directories of the backup, parents first; empty ones
	// matter to the storage.
	Dirs  []string     `json:"dirs"`
	Files []BackupFile `json:"files"`
}

// BackupFile is one file of a backup. Path is slash-separated and
// relative to the backup directory.
type BackupFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Bytes is the total size of the backup's files.
func (m *BackupManifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// backupRunner makes the backups of one running appliance, one at a time,
// whether asked by the API or by the schedule.
type backupRunner struct {
	mu      sync.Mutex // held while a backup runs
	running atomic.Pointer[runningBackup]
	metrics *backupMetrics
}

type runningBackup struct {
	dir   string
	start time.Time
}

// Backup writes a consistent backup of the running appliance into dir,
// an absolute path that must not exist or be an empty directory. Ingestion
// and queries go on meanwhile. progress, if not nil, is called with the
// bytes written so far and the total expected. On error or cancellation,
// what was written is removed. A backup asked while another runs fails at
// once with an error that wraps web.ErrBackupRunning.
func (a *Appliance) Backup(ctx context.Context, dir string, progress func(done, total int64)) (*BackupManifest, error) {
	b := a.backups
	if b == nil {
		return nil, errors.New("vigil is not running")
	}
	if !b.mu.TryLock() {
		if r := b.running.Load(); r != nil {
			return nil, fmt.Errorf("%w: into %s since %s; wait for it to finish", web.ErrBackupRunning, r.dir, r.start.Format(time.RFC3339))
		}
		return nil, fmt.Errorf("%w; wait for it to finish", web.ErrBackupRunning)
	}
	defer b.mu.Unlock()
	return a.backupLocked(ctx, dir, progress)
}

// backupLocked is Backup for a caller that holds a.backups.mu.
func (a *Appliance) backupLocked(ctx context.Context, dir string, progress func(done, total int64)) (*BackupManifest, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("%w: %q is not an absolute path; the running Vigil writes it, so name it from the root", web.ErrBackupDir, dir)
	}
	dir = filepath.Clean(dir)
	b := a.backups
	start := time.Now()
	b.running.Store(&runningBackup{dir: dir, start: start})
	defer b.running.Store(nil)

	a.log.Info("backup started", "dir", dir)
	m, err := a.backup(ctx, dir, start, progress)
	took := time.Since(start)
	b.metrics.record(err == nil, time.Now(), took)
	if err != nil {
		a.log.Error("backup failed", "dir", dir, "took", took.Round(time.Millisecond), "err", err)
		return nil, err
	}
	a.log.Info("backup written", "dir", dir, "files", len(m.Files), "bytes", m.Bytes(), "took", took.Round(time.Millisecond))
	return m, nil
}

func (a *Appliance) backup(ctx context.Context, dir string, start time.Time, progress func(done, total int64)) (m *BackupManifest, err error) {
	if progress == nil {
		progress = func(int64, int64) {}
	}
	cleanup, err := prepareBackupDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()

	// The state file is copied after the storage, so its size is only
	// estimated in the total meanwhile.
	var stateSize int64
	_ = a.stateDB.View(func(tx *bbolt.Tx) error { stateSize = tx.Size(); return nil })
	tree, err := a.storage.Backup(ctx, filepath.Join(dir, "tsdb"), func(done, total int64) {
		progress(done, total+stateSize)
	})
	if err != nil {
		return nil, err
	}
	m = &BackupManifest{Format: backupFormat, Version: a.build.Version, Created: start.UTC(), Dirs: []string{"tsdb"}}
	for _, d := range tree.Dirs {
		m.Dirs = append(m.Dirs, "tsdb/"+d)
	}
	for _, f := range tree.Files {
		m.Files = append(m.Files, BackupFile{Path: "tsdb/" + f.Path, Size: f.Size, SHA256: f.SHA256})
	}
	done := tree.Bytes()
	progress(done, done+stateSize)

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("backup cancelled: %w", err)
	}
	state, err := copyStateFile(a.stateDB, filepath.Join(dir, StateFileName))
	if err != nil {
		return nil, err
	}
	m.Files = append(m.Files, state)
	done += state.Size
	progress(done, done)

	if a.pushed != nil {
		path := filepath.Join(dir, pushgatewayFile)
		if err := a.pushed.groups.Save(path); err != nil {
			return nil, fmt.Errorf("cannot write the pushed groups into the backup: %w", err)
		}
		f, err := describeFile(dir, pushgatewayFile)
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, f)
	}

	if err := writeManifest(dir, m); err != nil {
		return nil, err
	}
	progress(m.Bytes(), m.Bytes())
	return m, nil
}

// prepareBackupDir creates dir, or checks that it is an empty directory,
// and returns what removes the backup again.
func prepareBackupDir(dir string) (cleanup func(), err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		return nil, fmt.Errorf("%w: %s is not empty; name a new directory (a backup never overwrites another)", web.ErrBackupDir, dir)
	case err == nil:
		// An empty directory made for the backup: keep it on failure.
		return func() {
			for _, name := range []string{"tsdb", StateFileName, pushgatewayFile, BackupManifestFile} {
				os.RemoveAll(filepath.Join(dir, name))
			}
		}, nil
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("%w: cannot create %s: %v; the Vigil process writes it, so its user needs write access there", web.ErrBackupDir, dir, unwrapPathError(err))
		}
		return func() { os.RemoveAll(dir) }, nil
	}
	return nil, fmt.Errorf("%w: %s: %v", web.ErrBackupDir, dir, err)
}

// copyStateFile writes a consistent copy of db to the new file dst, as
// bbolt's Tx.CopyFile does, hashing and syncing it on the way. Writers of
// the state wait meanwhile only for their commit, not for the copy: a
// read transaction sees one version of the file.
func copyStateFile(db *bbolt.DB, dst string) (BackupFile, error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return BackupFile{}, fmt.Errorf("cannot write the state file into the backup: %w", err)
	}
	h := sha256.New()
	var n int64
	err = db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(io.MultiWriter(f, h))
		return err
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return BackupFile{}, fmt.Errorf("cannot write the state file into the backup: %w", err)
	}
	return BackupFile{Path: StateFileName, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// describeFile returns the size and SHA-256 of dir/name.
func describeFile(dir, name string) (BackupFile, error) {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return BackupFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return BackupFile{}, fmt.Errorf("cannot read %s: %w", f.Name(), err)
	}
	return BackupFile{Path: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// writeManifest writes m as dir's manifest, atomically and durably: the
// manifest's presence means the backup is whole.
func writeManifest(dir string, m *BackupManifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, BackupManifestFile+".tmp")
	err = writeFileSynced(tmp, append(data, '\n'))
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, BackupManifestFile))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot write the backup's manifest: %w", err)
	}
	syncDir(dir)
	syncDir(filepath.Dir(dir))
	return nil
}

func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// backupAPI is what web's backup endpoint calls.
type backupAPI struct{ a *Appliance }

func (b backupAPI) Backup(ctx context.Context, dir string, progress func(done, total int64)) (web.BackupSummary, error) {
	start := time.Now()
	m, err := b.a.Backup(ctx, dir, progress)
	if err != nil {
		return web.BackupSummary{}, err
	}
	return web.BackupSummary{Dir: dir, Files: len(m.Files), Bytes: m.Bytes(), Took: time.Since(start)}, nil
}
