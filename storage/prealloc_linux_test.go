package storage

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A segment's blocks are reserved ahead of its writes, and its size stays
// what was written, which is where replay stops.
func TestWALSegmentIsPreallocated(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	defer s.Close()
	var rows Rows
	if err := rows.Add(lbls("__name__", "walpre"), 1_700_000_000_000, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}
	s.wal.mu.Lock()
	path, size := s.wal.f.Name(), s.wal.size
	s.wal.mu.Unlock()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size {
		t.Fatalf("segment %s is %d bytes, %d written", filepath.Base(path), fi.Size(), size)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := preallocate(s.wal.f, 0, 1); err != nil {
		t.Skipf("the file system cannot preallocate: %v", err)
	}
	if allocated := st.Blocks * 512; allocated < walPreallocate {
		t.Fatalf("segment has %d bytes of blocks, want at least %d reserved", allocated, walPreallocate)
	}
}
