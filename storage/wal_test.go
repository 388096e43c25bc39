package storage

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
)

// copyDir copies the files of src into dst, as a crash leaves them.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWALReplay takes the write-ahead log of a running store, as kill -9
// would leave it, into a data dir without the store's files and checks
// that opening it brings back every acknowledged row, NaN and staleness
// markers included, and that a torn last record costs only that record.
func TestWALReplay(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	base := time.Now().Add(-time.Hour).UnixMilli()
	var rows Rows
	for i := 0; i < 50; i++ {
		ls := lbls("__name__", "walm", "i", strconv.Itoa(i))
		var samples []Sample
		for k := 0; k < 40; k++ {
			samples = append(samples, Sample{Timestamp: base + int64(k)*15000, Value: float64(i*100 + k)})
		}
		samples[5].Value = math.NaN()
		samples[6].Value = math.Float64frombits(value.StaleNaN)
		if err := rows.AddSeries(ls, samples); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}
	rows.Reset()
	_ = rows.Add(lbls("__name__", "walm_last"), base, 1)
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}

	crashed := filepath.Join(t.TempDir(), "crashed")
	copyDir(t, filepath.Join(dir, "wal"), filepath.Join(crashed, "wal"))
	s.Close()
	if segs, _ := listSegments(filepath.Join(dir, "wal")); len(segs) != 0 {
		t.Fatalf("a clean close left %d segments", len(segs))
	}

	torn := filepath.Join(t.TempDir(), "torn")
	copyDir(t, filepath.Join(crashed, "wal"), filepath.Join(torn, "wal"))

	r := openTest(t, crashed)
	r.ForceFlush()
	got := readAll(t, r, base, base+3600_000, labels.MustNewMatcher(labels.MatchRegexp, "__name__", "walm.*"))
	if len(got) != 51 {
		t.Fatalf("replayed %d series, want 51", len(got))
	}
	pts := got[`{__name__="walm", i="7"}`]
	if len(pts) != 40 || pts[39].V != 739 || !math.IsNaN(pts[5].V) || value.IsStaleNaN(pts[5].V) || !value.IsStaleNaN(pts[6].V) {
		t.Fatalf("series 7: %d points %v", len(pts), pts)
	}
	r.Close()

	// A torn last record: cut the segment inside it.
	segs, _ := listSegments(filepath.Join(torn, "wal"))
	var last string
	for _, seq := range segs {
		p := filepath.Join(torn, "wal", segmentName(seq))
		if fi, _ := os.Stat(p); fi.Size() > int64(len(walMagic)) {
			last = p
		}
	}
	fi, _ := os.Stat(last)
	if err := os.Truncate(last, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	r = openTest(t, torn)
	defer r.Close()
	r.ForceFlush()
	got = readAll(t, r, base, base+3600_000, labels.MustNewMatcher(labels.MatchRegexp, "__name__", "walm.*"))
	if len(got) != 50 || got[`{__name__="walm_last"}`] != nil {
		t.Fatalf("torn log: %d series", len(got))
	}
}

func TestDedupTimestamps(t *testing.T) {
	for _, tc := range []struct{ ts, want []int64 }{
		{nil, nil},
		{[]int64{1}, []int64{1}},
		{[]int64{1, 2, 3}, []int64{1, 2, 3}},
		{[]int64{1, 1, 2, 2, 2, 3}, []int64{1, 2, 3}},
		{[]int64{1, 2, 2}, []int64{1, 2}},
	} {
		vs := make([]float64, len(tc.ts))
		for i := range vs {
			vs[i] = float64(i)
		}
		ts, vs := dedupTimestamps(append([]int64(nil), tc.ts...), vs)
		if len(ts) != len(tc.want) {
			t.Fatalf("%v: %v", tc.ts, ts)
		}
		for i := range ts {
			if ts[i] != tc.want[i] {
				t.Fatalf("%v: %v", tc.ts, ts)
			}
			// the last duplicate wins
			if i == len(ts)-1 && len(tc.ts) > 0 && vs[i] != float64(len(tc.ts)-1) {
				t.Fatalf("%v: values %v", tc.ts, vs)
			}
		}
	}
}

// TestWALRotatesAndRemovesFlushedSegments: a rotation seals the segment
// and checkpoints the store, after which the sealed segment goes at once;
// when the checkpoint fails, the segment waits out walKeep instead.
func TestWALRotatesAndRemovesFlushedSegments(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	defer s.Close()
	walDir := filepath.Join(dir, "wal")
	appendOne := func(v float64) {
		t.Helper()
		var rows Rows
		_ = rows.Add(lbls("__name__", "m"), time.Now().UnixMilli(), v)
		if err := s.Append(&rows); err != nil {
			t.Fatal(err)
		}
	}
	appendOne(1)
	now := time.Now()
	s.wal.tick(now.Add(walRotateEvery))
	if segs, _ := listSegments(walDir); len(segs) != 1 {
		t.Fatalf("after a rotation and its checkpoint: %d segments, want 1", len(segs))
	}
	if got := s.metrics.checkpoints.Get(); got != 1 {
		t.Fatalf("%d checkpoints counted, want 1", got)
	}

	failed := errors.New("checkpoint refused by the test")
	s.wal.checkpoint = func() error { return failed }
	appendOne(2)
	now = now.Add(walRotateEvery) // the last rotation
	s.wal.tick(now.Add(walRotateEvery))
	if segs, _ := listSegments(walDir); len(segs) != 2 {
		t.Fatalf("after a rotation whose checkpoint failed: %d segments, want 2", len(segs))
	}
	s.wal.tick(now.Add(walRotateEvery + walKeep/2))
	if segs, _ := listSegments(walDir); len(segs) != 2 {
		t.Fatalf("removed a segment before its rows reached disk: %d left", len(segs))
	}
	s.wal.tick(now.Add(walRotateEvery + walKeep))
	if segs, _ := listSegments(walDir); len(segs) != 1 {
		t.Fatalf("after walKeep: %d segments, want 1", len(segs))
	}
}

// killChildEnv makes the test binary the child of TestKillAfterCheckpoint.
const killChildEnv = "VIGIL_STORAGE_KILL_CHILD_DIR"

// TestKillAfterCheckpoint runs a store in a child process that appends
// rows, checkpoints (which removes their log segment), appends more, says
// so and is then killed with SIGKILL by the test. Opening its data dir
// must bring back every acknowledged row: the first from the store's
// files alone, the others from the log.
func TestKillAfterCheckpoint(t *testing.T) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillAfterCheckpoint$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var ready string
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
			ready = line
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if ready == "" {
		t.Fatal("the child store did not get ready")
	}
	// ready: the number of segments left after the checkpoint and the
	// base timestamp.
	var segsLeft int
	var base int64
	if _, err := fmt.Sscan(ready, &segsLeft, &base); err != nil {
		t.Fatalf("child said %q: %v", ready, err)
	}
	if segsLeft != 1 {
		t.Fatalf("the checkpoint left %d segments, want 1 (the current one)", segsLeft)
	}
	s := openTest(t, dir)
	defer s.Close()
	s.ForceFlush()
	got := readAll(t, s, base, base+3600_000, labels.MustNewMatcher(labels.MatchRegexp, "__name__", "killed_.*"))
	for _, name := range []string{"killed_before", "killed_after"} {
		for i := 0; i < 20; i++ {
			pts := got[`{__name__="`+name+`", i="`+strconv.Itoa(i)+`"}`]
			if len(pts) != 30 || pts[29].V != float64(i*1000+29) {
				t.Fatalf("%s series %d after kill -9: %d points %v", name, i, len(pts), pts)
			}
		}
	}
}

func killChild(dir string) {
	s, err := Open(dir, Options{Retention: 100 * 365 * 24 * time.Hour})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	base := time.Now().Add(-time.Hour).UnixMilli()
	appendSeries := func(name string) {
		var rows Rows
		for i := 0; i < 20; i++ {
			samples := make([]Sample, 30)
			for k := range samples {
				samples[k] = Sample{Timestamp: base + int64(k)*15000, Value: float64(i*1000 + k)}
			}
			_ = rows.AddSeries(lbls("__name__", name, "i", strconv.Itoa(i)), samples)
		}
		if err := s.Append(&rows); err != nil {
			fmt.Println("append:", err)
			os.Exit(1)
		}
	}
	appendSeries("killed_before")
	s.wal.tick(time.Now().Add(walRotateEvery))
	segs, _ := listSegments(filepath.Join(dir, "wal"))
	appendSeries("killed_after")
	fmt.Printf("ready %d %d\n", len(segs), base)
	time.Sleep(time.Minute)
	os.Exit(1)
}

// BenchmarkAppend measures ingestion into the store with and without the
// write-ahead log and the cardinality limits (at Vigil's default limits),
// in remote-write-sized batches of 500 series × 20 samples.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name   string
		noWAL  bool
		limits bool
	}{
		{"nowal", true, false},
		{"wal", false, false},
		{"wal+limits", false, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := Options{Retention: 100 * 365 * 24 * time.Hour, NoWAL: bc.noWAL}
			if bc.limits {
				opts.MaxSeries, opts.MaxSeriesPerMetric = 5_000_000, 200_000
			}
			s, err := Open(b.TempDir(), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const series, points = 500, 20
			labelSets := make([][]Label, series*20)
			for i := range labelSets {
				labelSets[i] = lbls("__name__", "http_requests_total", "job", "panic-api", "instance", "panic-api-"+strconv.Itoa(i/100)+":9100", "endpoint", "/api/v1/e"+strconv.Itoa(i%20), "status", strconv.Itoa(200+i%5))
			}
			start := time.Now().Add(-24 * time.Hour).UnixMilli()
			var rows Rows
			samples := make([]Sample, points)
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				rows.Reset()
				batch := n % 20
				window := int64(n / 20)
				for i := 0; i < series; i++ {
					for k := range samples {
						samples[k] = Sample{Timestamp: start + (window*points+int64(k))*15000, Value: float64(n + k)}
					}
					_ = rows.AddSeries(labelSets[batch*series+i], samples)
				}
				if err := s.Append(&rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*series*points)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkEncodeWALRecord is the log's CPU cost per remote-write batch.
func BenchmarkEncodeWALRecord(b *testing.B) {
	var rows Rows
	start := time.Now().UnixMilli()
	for i := 0; i < 500; i++ {
		samples := make([]Sample, 20)
		for k := range samples {
			samples[k] = Sample{Timestamp: start + int64(k)*15000, Value: float64(i + k)}
		}
		_ = rows.AddSeries(lbls("__name__", "http_requests_total", "job", "panic-api", "instance", "panic-api-1:9100", "endpoint", "/api/v1/e"+strconv.Itoa(i)), samples)
	}
	var buf []byte
	for b.Loop() {
		buf = encodeWALRecord(buf[:0], rows.mrs)
	}
	b.ReportMetric(float64(len(buf))/float64(rows.Len()), "bytes/sample")
	b.ReportMetric(float64(b.N*rows.Len())/b.Elapsed().Seconds(), "samples/s")
}
