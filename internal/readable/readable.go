// Package readable checks, for configuration errors a user can act on,
// that a file a setting names can be read.
package readable

import (
	"errors"
	"os"
)

// File checks that path is a regular file Vigil can open for reading, and
// says what to do when it is not.
func File(path string) error {
	f, err := os.Open(path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return errors.New("no such file; check the path")
		case errors.Is(err, os.ErrPermission):
			return errors.New("the file is not readable by this user; fix its permissions")
		}
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.IsDir() {
		return errors.New("is a directory; pass a file")
	}
	return nil
}
