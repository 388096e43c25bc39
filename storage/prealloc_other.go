//go:build !linux

package storage

import "os"

// preallocate does nothing where fallocate(2) is not available.
func preallocate(*os.File, int64, int64) error { return nil }
