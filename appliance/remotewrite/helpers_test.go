package remotewrite

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-monitoring/vigil/storage"
)

// tapFunc is a storage.Tap.
type tapFunc func(storage.Batch)

func (f tapFunc) Stored(b storage.Batch) { f(b) }

// openStore opens a real store in a temporary directory whose tap is tap.
func openStore(t *testing.T, tap storage.Tap) *storage.Storage {
	t.Helper()
	s, err := storage.Open(t.TempDir(), storage.Options{Retention: 100 * 365 * 24 * time.Hour, Tap: tap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// appendSeries stores n samples of each of the series test_metric{series="0".."series-1"},
// at timestamps start, start+step, ..., with values value(series, i).
func appendSeries(t *testing.T, st *storage.Storage, series, n int, start, step int64, value func(s, i int) float64) {
	t.Helper()
	var rows storage.Rows
	for s := range series {
		samples := make([]storage.Sample, n)
		for i := range samples {
			samples[i] = storage.Sample{Timestamp: start + int64(i)*step, Value: value(s, i)}
		}
		labels := []storage.Label{{Name: "__name__", Value: "test_metric"}, {Name: "series", Value: fmt.Sprint(s)}}
		if err := rows.AddSeries(labels, samples); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Append(&rows); err != nil {
		t.Fatal(err)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// copyDir copies the files of src into dst: what a killed process leaves
// on disk is what it wrote, and a copy of the files while it still runs
// is exactly that.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sample is one sample as a remote or a queue reader sees it.
type sample struct {
	series string
	t      int64
	v      float64
}

// readQueue takes every block off q and returns their samples in order.
func readQueue(t *testing.T, q *queue) []sample {
	t.Helper()
	var out []sample
	for {
		block, ok := q.read(t.Context(), nil, 0)
		if !ok {
			return out
		}
		out = append(out, blockSamples(t, block)...)
	}
}

// blockSamples decodes a block's samples.
func blockSamples(t *testing.T, block []byte) []sample {
	t.Helper()
	_, payload, err := parseBlock(block)
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	if err := storage.DecodeBatch(payload, func(labels []storage.Label, samples []storage.Sample) {
		for _, s := range samples {
			out = append(out, sample{storage.LabelsString(labels), s.Timestamp, s.Value})
		}
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
