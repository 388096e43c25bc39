package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// A backup taken while rows keep arriving holds every row appended before
// it started, exactly, and opens as a store of its own.
func TestBackupWhileIngesting(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	base := time.Now().Add(-time.Hour).UnixMilli()
	const series, samples = 50, 40
	var rows Rows
	for i := range series {
		for j := range samples {
			if err := rows.Add(lbls("__name__", "backup_test", "s", fmt.Sprint(i)), base+int64(j)*15000, float64(i*1000+j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}

	// Another writer goes on during the backup.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var more Rows
		for k := 0; ctx.Err() == nil; k++ {
			more.Reset()
			_ = more.Add(lbls("__name__", "backup_test_during", "k", fmt.Sprint(k%100)), base+int64(k), 1)
			if err := s.Append(&more); err != nil {
				t.Error(err)
				return
			}
		}
	}()

	dst := filepath.Join(t.TempDir(), "backup", "tsdb")
	var calls, lastDone, lastTotal int64
	tree, err := s.Backup(context.Background(), dst, func(done, total int64) {
		calls++
		if done < lastDone || done > total {
			t.Errorf("progress went from %d to %d of %d", lastDone, done, total)
		}
		lastDone, lastTotal = done, total
	})
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if calls < 2 || lastDone != lastTotal || lastTotal != tree.Bytes() {
		t.Errorf("progress: %d calls, last %d of %d; the backup holds %d bytes", calls, lastDone, lastTotal, tree.Bytes())
	}
	if len(tree.Files) == 0 {
		t.Fatal("the backup holds no files")
	}
	for _, f := range tree.Files {
		b, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if int64(len(b)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: %d bytes, sha256 %x; the tree says %d, %s", f.Path, len(b), sum, f.Size, f.SHA256)
		}
	}
	for _, d := range []string{"data/small", "data/big", "data/indexdb", "metadata"} {
		if info, err := os.Stat(filepath.Join(dst, d)); err != nil || !info.IsDir() || info.Mode()&os.ModeSymlink != 0 {
			t.Errorf("the backup has no directory %s: %v", d, err)
		}
	}
	if snaps, _ := os.ReadDir(filepath.Join(dir, "tsdb", "snapshots")); len(snaps) != 0 {
		t.Errorf("the snapshot was left behind: %v", snaps)
	}
	s.Close()

	// The backup, put in place of a data directory's store, holds every
	// row appended before the backup.
	restored := t.TempDir()
	if err := os.Rename(dst, filepath.Join(restored, "tsdb")); err != nil {
		t.Fatal(err)
	}
	r := openTest(t, restored)
	defer r.Close()
	got := readAll(t, r, base, base+samples*15000, labels.MustNewMatcher(labels.MatchEqual, "__name__", "backup_test"))
	if len(got) != series {
		t.Fatalf("the restored store has %d series, want %d", len(got), series)
	}
	for i := range series {
		pts := got[fmt.Sprintf(`{__name__="backup_test", s="%d"}`, i)]
		if len(pts) != samples {
			t.Errorf("series %d has %d samples, want %d", i, len(pts), samples)
			continue
		}
		for j, p := range pts {
			if p.T != base+int64(j)*15000 || p.V != float64(i*1000+j) {
				t.Errorf("series %d sample %d = %v", i, j, p)
			}
		}
	}
}

func TestBackupRefusesAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	defer s.Close()
	var rows Rows
	_ = rows.Add(lbls("__name__", "x"), time.Now().UnixMilli(), 1)
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}

	existing := t.TempDir()
	if _, err := s.Backup(context.Background(), existing, nil); err == nil {
		t.Error("a backup into an existing directory succeeded")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := filepath.Join(t.TempDir(), "tsdb")
	if _, err := s.Backup(ctx, dst, nil); err == nil {
		t.Error("a cancelled backup succeeded")
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("a failed backup left %s behind: %v", dst, err)
	}
	if snaps, _ := os.ReadDir(filepath.Join(dir, "tsdb", "snapshots")); len(snaps) != 0 {
		t.Errorf("a failed backup left its snapshot behind: %v", snaps)
	}
}
