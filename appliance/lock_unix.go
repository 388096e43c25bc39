//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package appliance

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive, advisory lock on f that the kernel releases
// when the process exits, however it exits.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}
