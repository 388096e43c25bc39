package appliance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// lockFileName is the file in the data directory that a running Vigil
// holds locked, so that a second one on the same directory fails clearly.
const lockFileName = "vigil.lock"

// prepareDataDir creates dir if needed, checks that Vigil can write there
// and locks it against a second Vigil. The returned function releases the
// lock.
func prepareDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the data directory %s: %v; pass --data-dir=DIR with a directory this user can write to, or fix the permissions", dir, unwrapPathError(err))
	}
	probe, err := os.CreateTemp(dir, ".vigil-write-check-*")
	if err != nil {
		return nil, fmt.Errorf("the data directory %s is not writable: %v; pass --data-dir=DIR with a directory this user can write to, or fix the permissions", dir, unwrapPathError(err))
	}
	probe.Close()
	os.Remove(probe.Name())

	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot create the lock file %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("the data directory %s is in use by another Vigil process (it holds %s); stop that process, or pass --data-dir=DIR to use another directory", dir, path)
		}
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

var errLocked = errors.New("locked by another process")

// unwrapPathError drops the operation and path an *os.PathError repeats,
// since the message names the directory already.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
