//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package appliance

import "os"

// lockFile does nothing where flock(2) is not available; the storage's own
// lock still keeps a second process out.
func lockFile(*os.File) error { return nil }
