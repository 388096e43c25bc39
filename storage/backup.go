package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/fs"
)

// A backup of the store is a plain copy of one of its snapshots. A
// snapshot (MustCreateSnapshot) is a directory of hard links to the
// immutable parts of the store as they were at one instant, after every
// row accepted before it was flushed to disk; the parts keep their
// content while the store goes on merging and deleting, because the links
// hold them. The snapshot directory itself holds symlinks (data/small,
// data/big, data/indexdb) to per-partition snapshot directories and a copy
// of the store's metadata. Backup follows those symlinks, as
// VictoriaMetrics' vmbackup does, so that the copy has the layout of a
// store directory: data/{small,big,indexdb}/<partition>/<part>/..., and
// metadata/. Put in place of a store's directory, it opens as the store
// did at the instant of the snapshot.

// BackupTree is what Backup copied: the directories (empty ones matter to
// the store) and the files, with the size and SHA-256 of what was written.
// Paths are slash-separated and relative to the backup's root.
type BackupTree struct {
	Dirs  []string
	Files []BackupFile
}

// BackupFile is one file of a backup.
type BackupFile struct {
	Path   string
	Size   int64
	SHA256 string // hex
}

// Bytes is the total size of the files.
func (t *BackupTree) Bytes() int64 {
	var n int64
	for _, f := range t.Files {
		n += f.Size
	}
	return n
}

// backupFreeMargin is the free space Backup leaves on the backup's file
// system beyond the backup itself, so that a backup on the store's own
// disk does not push the store into read-only mode (MinFreeDiskBytes).
const backupFreeMargin = 256 << 20

// Backup copies a consistent snapshot of the store into dst, a directory
// that must not exist yet (its parent is created if needed). progress, if
// not nil, is called from Backup's goroutine as bytes are copied, with
// the bytes copied so far and the total. The snapshot is deleted before
// Backup returns, whatever the outcome; on error, dst is removed.
//
// Ingestion and queries go on during a backup; it holds the store's files
// in the snapshot only, so the disk space of parts merged away meanwhile
// is freed when the snapshot is deleted.
func (s *Storage) Backup(ctx context.Context, dst string, progress func(done, total int64)) (tree *BackupTree, err error) {
	if progress == nil {
		progress = func(int64, int64) {}
	}
	if _, err := os.Lstat(dst); err == nil {
		return nil, fmt.Errorf("cannot back up the storage into %s: it exists already", dst)
	}
	name, snapDir, err := s.safeSnapshot()
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := s.safeDeleteSnapshot(name); derr != nil && err == nil {
			err = derr
		}
	}()

	tree, srcs, err := listSnapshot(snapDir)
	if err != nil {
		return nil, err
	}
	total := tree.Bytes()

	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the backup directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dst)
		}
	}()
	if free, ok := freeSpace(dst); ok && free < uint64(total)+backupFreeMargin {
		return nil, fmt.Errorf("not enough free space for the backup in %s: the storage snapshot holds %d bytes and %d are free (Vigil keeps %d spare); free some space or back up to another disk", dst, total, free, backupFreeMargin)
	}
	for _, d := range tree.Dirs {
		if err := os.MkdirAll(filepath.Join(dst, filepath.FromSlash(d)), 0o755); err != nil {
			return nil, fmt.Errorf("cannot create a directory of the backup: %w", err)
		}
	}
	var done int64
	progress(0, total)
	buf := make([]byte, 1<<20)
	for i := range tree.Files {
		f := &tree.Files[i]
		n, sum, err := copyFileSynced(ctx, srcs[i], filepath.Join(dst, filepath.FromSlash(f.Path)), buf, func(n int64) {
			progress(done+n, total)
		})
		if err != nil {
			return nil, err
		}
		if n != f.Size {
			// Parts are immutable while the snapshot holds them.
			return nil, fmt.Errorf("the snapshot file %s changed while it was copied (%d bytes, then %d)", srcs[i], f.Size, n)
		}
		f.SHA256 = sum
		done += n
	}
	for i := len(tree.Dirs) - 1; i >= 0; i-- {
		syncDir(filepath.Join(dst, filepath.FromSlash(tree.Dirs[i])))
	}
	syncDir(dst)
	syncDir(filepath.Dir(dst))
	progress(total, total)
	return tree, nil
}

// safeSnapshot is Snapshot with VictoriaMetrics' panics (a full disk, a
// permission problem) turned into an error.
func (s *Storage) safeSnapshot() (name, dir string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot create a storage snapshot in %s: %v", filepath.Join(s.path, "snapshots"), r)
		}
	}()
	return s.Snapshot()
}

func (s *Storage) safeDeleteSnapshot(name string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot delete the storage snapshot %s: %v; remove %s by hand", name, r, filepath.Join(s.path, "snapshots", name))
		}
	}()
	return s.DeleteSnapshot(name)
}

// listSnapshot lists the directories and files under the snapshot
// directory root, following symlinks; srcs[i] is where tree.Files[i] is
// read from. Directories come before their contents.
func listSnapshot(root string) (tree *BackupTree, srcs []string, err error) {
	tree = &BackupTree{}
	var walk func(dir, rel string, depth int) error
	walk = func(dir, rel string, depth int) error {
		if depth > 16 {
			return fmt.Errorf("the storage snapshot nests too deep at %s (a symlink loop?)", dir)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("cannot read the storage snapshot: %w", err)
		}
		for _, e := range entries {
			src := filepath.Join(dir, e.Name())
			relPath := path.Join(rel, e.Name())
			info, err := os.Stat(src) // follows the snapshot's symlinks
			if err != nil {
				return fmt.Errorf("cannot read the storage snapshot: %w", err)
			}
			switch {
			case info.IsDir():
				tree.Dirs = append(tree.Dirs, relPath)
				if err := walk(src, relPath, depth+1); err != nil {
					return err
				}
			case info.Mode().IsRegular():
				if e.Name() == "flock.lock" {
					continue // the store's lock, which a snapshot should not hold
				}
				tree.Files = append(tree.Files, BackupFile{Path: relPath, Size: info.Size()})
				srcs = append(srcs, src)
			}
		}
		return nil
	}
	if err := walk(root, "", 0); err != nil {
		return nil, nil, err
	}
	return tree, srcs, nil
}

// copyFileSynced copies src to a new file dst, fsyncs it and returns its
// size and hex SHA-256. progress is called with the bytes copied so far.
func copyFileSynced(ctx context.Context, src, dst string, buf []byte, progress func(int64)) (n int64, sum string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, "", fmt.Errorf("cannot read the storage snapshot: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, "", fmt.Errorf("cannot write the backup: %w", err)
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("cannot write the backup: %w", cerr)
		}
	}()
	h := sha256.New()
	for {
		if err := ctx.Err(); err != nil {
			return n, "", fmt.Errorf("backup cancelled: %w", err)
		}
		m, rerr := in.Read(buf)
		if m > 0 {
			if _, err := out.Write(buf[:m]); err != nil {
				return n, "", fmt.Errorf("cannot write the backup: %w", err)
			}
			h.Write(buf[:m])
			n += int64(m)
			progress(n)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return n, "", fmt.Errorf("cannot read the storage snapshot: %w", rerr)
		}
	}
	if err := out.Sync(); err != nil {
		return n, "", fmt.Errorf("cannot write the backup: %w", err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// freeSpace returns the free bytes of the file system of path, if it can
// tell.
func freeSpace(path string) (free uint64, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return fs.MustGetFreeSpace(path), true
}
