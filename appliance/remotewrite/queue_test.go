package remotewrite

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func openTestQueue(t *testing.T, dir string, maxBytes int64) (*queue, *stats) {
	t.Helper()
	// The store first: it sets VictoriaMetrics' process-wide options
	// (memory limits) before the queue's files read them.
	openStore(t, nil)
	st := newStats("test", "http://127.0.0.1:1/api/v1/write")
	// No checkpoint runs by itself: the tests decide when one happens.
	q, err := openQueue(dir, maxBytes, time.Hour, st, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.close)
	return q, st
}

// testStart is the first timestamp of the tests' samples: a recent one,
// which the store keeps.
var testStart = time.Now().Add(-2 * time.Hour).Truncate(time.Hour).UnixMilli()

func value(s, i int) float64 { return float64(s*1000+i) + 0.5 }

// wantSamples lists what fillQueue stores for batches first..first+batches-1,
// in the order stored.
func wantSamples(first, batches, series, n int) []sample {
	var out []sample
	for b := first; b < first+batches; b++ {
		for s := range series {
			for i := range n {
				out = append(out, sample{
					series: `{__name__="test_metric",series="` + itoa(s) + `"}`,
					t:      testStart + int64(b*n+i)*1000,
					v:      value(s, b*n+i),
				})
			}
		}
	}
	return out
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// fillQueue stores batches first..first+batches-1 through a real store
// tapped by q, each with n samples of series series.
func fillQueue(t *testing.T, q *queue, first, batches, series, n int) {
	t.Helper()
	st := openStore(t, tapFunc(q.write))
	for b := first; b < first+batches; b++ {
		appendSeries(t, st, series, n, testStart+int64(b*n)*1000, 1000, func(s, i int) float64 { return value(s, b*n+i) })
	}
}

func checkSamples(t *testing.T, got, want []sample) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d samples, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sample %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// What a kill -9 leaves on disk holds every block queued, once, in order:
// the journal makes up for what persistentqueue kept in memory.
func TestQueueKeepsWhatAKillLeaves(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "remote")
	q, _ := openTestQueue(t, dir, 64<<20)
	const batches, series, n = 30, 20, 5
	fillQueue(t, q, 0, batches, series, n)

	killed := filepath.Join(t.TempDir(), "killed")
	copyDir(t, dir, killed)
	// The same files without the journal: persistentqueue alone.
	noJournal := filepath.Join(t.TempDir(), "no-journal")
	copyDir(t, dir, noJournal)
	journals, _ := filepath.Glob(filepath.Join(noJournal, journalPrefix+"*"))
	if len(journals) == 0 {
		t.Fatal("no journal file")
	}
	for _, j := range journals {
		if err := os.Remove(j); err != nil {
			t.Fatal(err)
		}
	}

	q2, _ := openTestQueue(t, killed, 64<<20)
	checkSamples(t, readQueue(t, q2), wantSamples(0, batches, series, n))

	q3, _ := openTestQueue(t, noJournal, 64<<20)
	if got := len(readQueue(t, q3)); got >= batches*series*n {
		t.Errorf("without the journal a kill kept all %d samples; the test no longer shows what the journal is for", got)
	} else {
		t.Logf("without the journal a kill kept %d of %d samples", got, batches*series*n)
	}
}

// A checkpoint makes the queue durable by itself: after it the journal is
// empty and a kill loses nothing either. Blocks written both to the queue
// and, after a crash, again from the journal are read once.
func TestQueueCheckpointAndReplayDuplicates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "remote")
	q, _ := openTestQueue(t, dir, 64<<20)
	fillQueue(t, q, 0, 10, 10, 5)
	q.checkpoint(false)
	journals, _ := filepath.Glob(filepath.Join(dir, journalPrefix+"*"))
	if len(journals) != 1 {
		t.Fatalf("%d journal files after a checkpoint, want the new one: %v", len(journals), journals)
	}
	if info, err := os.Stat(journals[0]); err != nil || info.Size() > 64 {
		t.Errorf("the journal after a checkpoint: %v, %v", info, err)
	}
	// A crash right after persistentqueue saved blocks that the journal
	// still holds: both copies on disk.
	fillQueue(t, q, 10, 5, 10, 5)
	saved := map[string][]byte{}
	journals, _ = filepath.Glob(filepath.Join(dir, journalPrefix+"*"))
	for _, j := range journals {
		data, err := os.ReadFile(j)
		if err != nil {
			t.Fatal(err)
		}
		saved[filepath.Base(j)] = data
	}
	q.checkpoint(false)
	killed := filepath.Join(t.TempDir(), "killed")
	copyDir(t, dir, killed)
	for name, data := range saved {
		if err := os.WriteFile(filepath.Join(killed, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	q2, _ := openTestQueue(t, killed, 64<<20)
	checkSamples(t, readQueue(t, q2), wantSamples(0, 15, 10, 5))
}

// Blocks taken off the queue and not yet delivered survive a kill in the
// in-flight file, and come back first.
func TestQueueInflightSurvivesAKill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "remote")
	q, _ := openTestQueue(t, dir, 64<<20)
	const batches, series, n = 8, 5, 4
	fillQueue(t, q, 0, batches, series, n)
	q.checkpoint(false)
	for range 3 {
		if _, ok := q.read(t.Context(), nil, 0); !ok {
			t.Fatal("the queue is empty")
		}
	}
	killed := filepath.Join(t.TempDir(), "killed")
	copyDir(t, dir, killed)

	q2, _ := openTestQueue(t, killed, 64<<20)
	held, err := q2.resume()
	if err != nil {
		t.Fatal(err)
	}
	if len(held.blocks) != 3 {
		t.Fatalf("%d blocks in flight after the kill, want 3", len(held.blocks))
	}
	var got []sample
	for _, b := range held.blocks {
		got = append(got, blockSamples(t, b)...)
	}
	got = append(got, readQueue(t, q2)...)
	checkSamples(t, got, wantSamples(0, batches, series, n))

	// Delivered: the next start has nothing in flight.
	if err := q2.delivered(); err != nil {
		t.Fatal(err)
	}
	held, err = q2.resume()
	if err != nil || len(held.blocks) != 0 {
		t.Fatalf("after delivery: %d blocks in flight, err %v", len(held.blocks), err)
	}
}

// Past its bound the queue drops its oldest samples, counts exactly how
// many, and keeps the newest, in order.
func TestQueueDropsOldestWhenFull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "remote")
	const bound = 1 << 20
	q, st := openTestQueue(t, dir, bound)
	const batches, series, n = 200, 50, 20
	fillQueue(t, q, 0, batches, series, n)
	q.checkpoint(false) // the mover has written every block
	if p := q.pendingBytes(); p > bound {
		t.Errorf("%d bytes pending, over the bound of %d", p, bound)
	}
	dropped := int(st.dropped[reasonQueueFull].Get())
	if dropped == 0 {
		t.Fatalf("nothing dropped: the test wrote less than the bound")
	}
	want := wantSamples(0, batches, series, n)
	got := readQueue(t, q)
	if len(got)+dropped != len(want) {
		t.Fatalf("%d samples read + %d counted as dropped = %d, want %d", len(got), dropped, len(got)+dropped, len(want))
	}
	checkSamples(t, got, want[dropped:])
	t.Logf("bound %d bytes: kept %d samples, dropped the oldest %d", bound, len(got), dropped)
}

// A block taken off the persistent queue by a process killed before it
// recorded the block in flight is read again after the restart:
// persistentqueue had saved a read position past it.
func TestQueueRereadsABlockTakenButNotRecorded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "remote")
	q, _ := openTestQueue(t, dir, 64<<20)
	const batches, series, n = 8, 5, 4
	fillQueue(t, q, 0, batches, series, n)
	q.checkpoint(false)
	if _, ok := q.read(t.Context(), nil, 0); !ok { // taken and recorded
		t.Fatal("the queue is empty")
	}
	for range 2 { // taken, and the kill comes before the record
		q.rmu.Lock()
		if _, ok := q.readLocked(nil); !ok {
			t.Fatal("the queue is empty")
		}
		q.rmu.Unlock()
	}
	q.mu.Lock()
	if err := q.reopenPQ(); err != nil { // persistentqueue saves its position
		t.Fatal(err)
	}
	q.mu.Unlock()
	killed := filepath.Join(t.TempDir(), "killed")
	copyDir(t, dir, killed)

	q2, _ := openTestQueue(t, killed, 64<<20)
	held, err := q2.resume()
	if err != nil || len(held.blocks) != 1 {
		t.Fatalf("in flight after the kill: %d blocks, %v; want the one recorded", len(held.blocks), err)
	}
	got := blockSamples(t, held.blocks[0])
	got = append(got, readQueue(t, q2)...)
	checkSamples(t, got, wantSamples(0, batches, series, n))
}
