package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// preallocate reserves the disk blocks of f from off to off+n without
// changing its size, so that writes there do not have the file system
// allocate them one page at a time.
func preallocate(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		ferr = unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, off, n)
	}); err != nil {
		return err
	}
	return ferr
}
