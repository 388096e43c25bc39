package appliance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// ErrBackupInvalid is wrapped by the errors of Restore and
// ReadBackupManifest for a backup that cannot be restored: no manifest, a
// missing, truncated or changed file.
var ErrBackupInvalid = errors.New("the backup cannot be restored")

// The entries of a data directory that a restore replaces. The previous
// ones are moved aside, never deleted. wal goes too, though no backup
// holds one: replaying the previous store's log into the restored one
// would mix the two.
var restoredEntries = []string{"tsdb", StateFileName, pushgatewayFile, "wal"}

// RestoreOptions says what Restore does.
type RestoreOptions struct {
	// From is the backup directory, DataDir the data directory of the
	// stopped Vigil to restore into (created if needed).
	From, DataDir string
	// Progress, if not nil, is told how far each step is: "verifying" the
	// backup, then "copying" it, in bytes.
	Progress func(step string, done, total int64)
	// Now is the clock, for the names of what is moved aside; nil means
	// time.Now.
	Now func() time.Time
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Manifest *BackupManifest
	// MovedAside are the previous data's new paths.
	MovedAside []string
}

// Restore replaces the data of a stopped Vigil's data directory with a
// backup. It checks every file of the backup against its manifest before
// it changes anything, and fails with ErrDataDirInUse while a Vigil runs
// on the directory. The previous data is moved aside, next to it, as
// <name>.before-restore-<time>.
func Restore(opts RestoreOptions) (*RestoreResult, error) {
	progress := opts.Progress
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	m, err := ReadBackupManifest(opts.From)
	if err != nil {
		return nil, err
	}
	dir := opts.DataDir

	// Fail early while Vigil runs, before reading the whole backup.
	var unlock func()
	if _, err := os.Stat(dir); err == nil {
		if unlock, err = lockForRestore(dir); err != nil {
			return nil, err
		}
		defer func() { unlock() }()
	}
	if err := VerifyBackup(opts.From, m, func(done, total int64) { progress("verifying", done, total) }); err != nil {
		return nil, err
	}
	if unlock == nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create the data directory %s: %v", dir, unwrapPathError(err))
		}
		if unlock, err = lockForRestore(dir); err != nil {
			return nil, err
		}
		defer func() { unlock() }()
	}

	stamp := now().UTC().Format(scheduledBackupLayout)
	staging := filepath.Join(dir, ".restore-"+stamp)
	if err := os.Mkdir(staging, 0o755); err != nil {
		return nil, fmt.Errorf("cannot prepare the restore in %s: %w", dir, err)
	}
	defer os.RemoveAll(staging)
	if err := copyBackup(opts.From, staging, m, func(done, total int64) { progress("copying", done, total) }); err != nil {
		return nil, err
	}

	res := &RestoreResult{Manifest: m}
	var moved [][2]string // from, to: to undo on failure
	undo := func() {
		for i := len(moved) - 1; i >= 0; i-- {
			os.Rename(moved[i][1], moved[i][0])
		}
	}
	for _, name := range restoredEntries {
		cur := filepath.Join(dir, name)
		if _, err := os.Lstat(cur); err != nil {
			continue
		}
		if name == "wal" && os.Remove(cur) == nil {
			continue // empty after a clean stop: nothing to keep
		}
		aside := cur + ".before-restore-" + stamp
		if err := os.Rename(cur, aside); err != nil {
			undo()
			return nil, fmt.Errorf("cannot move %s aside: %w; the data directory is unchanged", cur, err)
		}
		moved = append(moved, [2]string{cur, aside})
		res.MovedAside = append(res.MovedAside, aside)
	}
	var placed []string
	for _, name := range restoredEntries {
		src := filepath.Join(staging, name)
		if _, err := os.Lstat(src); err != nil {
			continue
		}
		dst := filepath.Join(dir, name)
		if err := os.Rename(src, dst); err != nil {
			for _, p := range placed {
				os.RemoveAll(p)
			}
			undo()
			return nil, fmt.Errorf("cannot move the restored %s into place: %w; the data directory is unchanged", name, err)
		}
		placed = append(placed, dst)
	}
	syncDir(dir)
	return res, nil
}

// lockForRestore takes the data directory lock of dir, as a running Vigil
// holds it.
func lockForRestore(dir string) (unlock func(), err error) {
	lockPath := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the lock file %s: %w", lockPath, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, &stateError{ErrDataDirInUse, fmt.Sprintf("Vigil is running with the data directory %s (it holds %s); stop it before restoring, or restore into another --data-dir. Nothing was changed.", dir, lockPath)}
		}
		return nil, fmt.Errorf("cannot lock %s: %w", lockPath, err)
	}
	return func() { f.Close() }, nil
}

// ReadBackupManifest reads and checks the manifest of the backup in dir.
func ReadBackupManifest(dir string) (*BackupManifest, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBackupInvalid, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory; pass the directory vigil backup --to wrote", ErrBackupInvalid, dir)
	}
	data, err := os.ReadFile(filepath.Join(dir, BackupManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s holds no %s, so it is not a complete Vigil backup (a backup that was interrupted has none); pass the directory vigil backup --to wrote", ErrBackupInvalid, dir, BackupManifestFile)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBackupInvalid, err)
	}
	var m BackupManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s does not parse: %v", ErrBackupInvalid, filepath.Join(dir, BackupManifestFile), err)
	}
	if m.Format != backupFormat {
		return nil, fmt.Errorf("%w: the backup has format %d and this Vigil (%s) restores format %d; restore it with the Vigil version that wrote it (%s)", ErrBackupInvalid, m.Format, Build().Version, backupFormat, m.Version)
	}
	hasState, hasTSDB := false, false
	for _, p := range m.Dirs {
		if err := checkBackupPath(p); err != nil {
			return nil, err
		}
	}
	for _, f := range m.Files {
		if err := checkBackupPath(f.Path); err != nil {
			return nil, err
		}
		if f.Size < 0 || len(f.SHA256) != sha256.Size*2 {
			return nil, fmt.Errorf("%w: the manifest's entry of %s is damaged (size %d, sha256 %q)", ErrBackupInvalid, f.Path, f.Size, f.SHA256)
		}
		hasState = hasState || f.Path == StateFileName
		hasTSDB = hasTSDB || strings.HasPrefix(f.Path, "tsdb/")
	}
	if !hasState || !hasTSDB {
		return nil, fmt.Errorf("%w: the manifest lists no %s or no tsdb/ files; it is not a backup of a whole Vigil", ErrBackupInvalid, StateFileName)
	}
	return &m, nil
}

// checkBackupPath accepts the relative, clean paths under the entries a
// backup may hold, so that a crafted manifest cannot write elsewhere.
func checkBackupPath(p string) error {
	top, _, _ := strings.Cut(p, "/")
	ok := p != "" && !path.IsAbs(p) && path.Clean(p) == p && !strings.HasPrefix(p, "../") && p != ".." &&
		!strings.Contains(p, `\`) && (top == "tsdb" || p == StateFileName || p == pushgatewayFile)
	if !ok {
		return fmt.Errorf("%w: the manifest names %q, which is not a path of a Vigil backup", ErrBackupInvalid, p)
	}
	return nil
}

// VerifyBackup checks every file of the backup in dir against m: its size
// first, for all files, then its SHA-256.
func VerifyBackup(dir string, m *BackupManifest, progress func(done, total int64)) error {
	if progress == nil {
		progress = func(int64, int64) {}
	}
	for _, f := range m.Files {
		info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.Path)))
		switch {
		case err != nil:
			return fmt.Errorf("%w: %s: %v; the backup is incomplete", ErrBackupInvalid, f.Path, unwrapPathError(err))
		case !info.Mode().IsRegular():
			return fmt.Errorf("%w: %s is not a regular file", ErrBackupInvalid, f.Path)
		case info.Size() != f.Size:
			return fmt.Errorf("%w: %s has %d bytes, the manifest says %d; the backup was changed or cut short", ErrBackupInvalid, f.Path, info.Size(), f.Size)
		}
	}
	total := m.Bytes()
	var done int64
	buf := make([]byte, 1<<20)
	for _, f := range m.Files {
		sum, n, err := hashFile(filepath.Join(dir, filepath.FromSlash(f.Path)), buf, func(n int64) { progress(done+n, total) })
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBackupInvalid, err)
		}
		if sum != f.SHA256 || n != f.Size {
			return fmt.Errorf("%w: %s has SHA-256 %s, the manifest says %s; the backup was changed or damaged since it was written", ErrBackupInvalid, f.Path, sum, f.SHA256)
		}
		done += n
	}
	progress(total, total)
	return nil
}

func hashFile(path string, buf []byte, progress func(int64)) (sum string, n int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	for {
		m, rerr := f.Read(buf)
		if m > 0 {
			h.Write(buf[:m])
			n += int64(m)
			progress(n)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return "", n, fmt.Errorf("cannot read %s: %w", path, rerr)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// copyBackup copies the backup's directories and files into dst, checking
// each file's SHA-256 again as it goes (the backup could change between
// the verification and the copy), and syncs them.
func copyBackup(from, dst string, m *BackupManifest, progress func(done, total int64)) error {
	for _, d := range m.Dirs {
		if err := os.MkdirAll(filepath.Join(dst, filepath.FromSlash(d)), 0o755); err != nil {
			return fmt.Errorf("cannot restore: %w", err)
		}
	}
	total := m.Bytes()
	var done int64
	buf := make([]byte, 1<<20)
	for _, f := range m.Files {
		src := filepath.Join(from, filepath.FromSlash(f.Path))
		out := filepath.Join(dst, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return fmt.Errorf("cannot restore: %w", err)
		}
		mode := os.FileMode(0o644)
		if f.Path == StateFileName {
			mode = 0o600 // it holds password hashes
		}
		sum, n, err := copyHashed(src, out, mode, buf, func(n int64) { progress(done+n, total) })
		if err != nil {
			return fmt.Errorf("cannot restore %s: %w", f.Path, err)
		}
		if sum != f.SHA256 || n != f.Size {
			return fmt.Errorf("%w: %s changed while it was restored; nothing was changed in the data directory", ErrBackupInvalid, f.Path)
		}
		done += n
	}
	for i := len(m.Dirs) - 1; i >= 0; i-- {
		syncDir(filepath.Join(dst, filepath.FromSlash(m.Dirs[i])))
	}
	syncDir(dst)
	progress(total, total)
	return nil
}

func copyHashed(src, dst string, mode os.FileMode, buf []byte, progress func(int64)) (sum string, n int64, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	h := sha256.New()
	for {
		m, rerr := in.Read(buf)
		if m > 0 {
			if _, err := out.Write(buf[:m]); err != nil {
				return "", n, err
			}
			h.Write(buf[:m])
			n += int64(m)
			progress(n)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return "", n, rerr
		}
	}
	if err := out.Sync(); err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
