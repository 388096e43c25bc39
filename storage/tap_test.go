package storage

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/value"
)

// recordingTap keeps a copy of every batch it is handed.
type recordingTap struct {
	mu      sync.Mutex
	batches [][]byte
	lens    []int
}

func (r *recordingTap) Stored(b Batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, append([]byte(nil), b.Encoded()...))
	r.lens = append(r.lens, b.Len())
}

type tapSample struct {
	labels string
	t      int64
	v      float64
}

func decodeAll(t *testing.T, data []byte) []tapSample {
	t.Helper()
	var out []tapSample
	if err := DecodeBatch(data, func(ls []Label, samples []Sample) {
		for _, s := range samples {
			out = append(out, tapSample{LabelsString(ls), s.Timestamp, s.Value})
		}
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSample(a, b tapSample) bool {
	if a.labels != b.labels || a.t != b.t {
		return false
	}
	return math.Float64bits(a.v) == math.Float64bits(b.v) || (math.IsNaN(a.v) && math.IsNaN(b.v) && !value.IsStaleNaN(a.v) && !value.IsStaleNaN(b.v))
}

// The tap sees every stored sample, in order, as it was appended: plain
// NaN and staleness markers included, refused rows excluded.
func TestTapSeesWhatIsStored(t *testing.T) {
	tap := &recordingTap{}
	s, err := Open(t.TempDir(), Options{Retention: 100 * 365 * 24 * time.Hour, Tap: tap, MaxSeriesPerMetric: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UnixMilli()
	staleNaN := math.Float64frombits(value.StaleNaN)

	var rows Rows
	want := []tapSample{}
	add := func(labels []Label, ts int64, v float64) {
		t.Helper()
		if err := rows.Add(labels, ts, v); err != nil {
			t.Fatal(err)
		}
		want = append(want, tapSample{LabelsString(labels), ts, v})
	}
	up := lbls("__name__", "up", "job", "api")
	add(up, now, 1)
	add(up, now+15000, math.NaN())
	add(up, now+30000, staleNaN)
	if err := rows.AddSeries(lbls("__name__", "http_requests_total", "code", "200"), []Sample{{Timestamp: now, Value: 5}, {Timestamp: now + 15000, Value: 7}}); err != nil {
		t.Fatal(err)
	}
	hrt := LabelsString(lbls("__name__", "http_requests_total", "code", "200"))
	want = append(want, tapSample{hrt, now, 5}, tapSample{hrt, now + 15000, 7})
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}

	// A batch the series limit cuts: the tap gets what was stored only.
	rows.Reset()
	for i := range 4 {
		if err := rows.Add(lbls("__name__", "per_metric", "i", fmt.Sprint(i)), now, float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	var limitErr *LimitError
	if err := s.Append(&rows); !errors.As(err, &limitErr) {
		t.Fatalf("Append past the per-metric limit = %v, want a *LimitError", err)
	}
	want = append(want, tapSample{LabelsString(lbls("__name__", "per_metric", "i", "0")), now, 0}, tapSample{LabelsString(lbls("__name__", "per_metric", "i", "1")), now, 1})

	var got []tapSample
	for i, b := range tap.batches {
		dec := decodeAll(t, b)
		if len(dec) != tap.lens[i] {
			t.Errorf("batch %d: Len %d, decoded %d samples", i, tap.lens[i], len(dec))
		}
		got = append(got, dec...)
	}
	if len(got) != len(want) {
		t.Fatalf("the tap saw %d samples, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range want {
		if !sameSample(got[i], want[i]) {
			t.Errorf("sample %d = %v, want %v", i, got[i], want[i])
		}
	}
	if !value.IsStaleNaN(got[2].v) {
		t.Errorf("the staleness marker came back as %x", math.Float64bits(got[2].v))
	}
}

// Split cuts a large batch into parts within the size that decode, in
// order, to the same samples.
func TestBatchSplit(t *testing.T) {
	var rows Rows
	for s := range 50 {
		samples := make([]Sample, 40)
		for i := range samples {
			samples[i] = Sample{Timestamp: int64(i) * 1000, Value: float64(s*100 + i)}
		}
		if err := rows.AddSeries(lbls("__name__", "m", "series", fmt.Sprintf("%02d", s)), samples); err != nil {
			t.Fatal(err)
		}
	}
	whole := Batch{data: appendRowsPayload(nil, rows.mrs), n: rows.Len()}
	want := decodeAll(t, whole.Encoded())

	for _, max := range []int{1 << 30, 4096, 300, 1} {
		var got []tapSample
		parts := 0
		err := whole.Split(max, func(p Batch) {
			parts++
			if len(p.Encoded()) > max && p.Len() > 1 {
				t.Errorf("max %d: a part of %d samples has %d bytes", max, p.Len(), len(p.Encoded()))
			}
			dec := decodeAll(t, p.Encoded())
			if len(dec) != p.Len() {
				t.Errorf("max %d: part Len %d, decoded %d", max, p.Len(), len(dec))
			}
			got = append(got, dec...)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("max %d: %d samples in %d parts, want %d", max, len(got), parts, len(want))
		}
		for i := range want {
			if !sameSample(got[i], want[i]) {
				t.Fatalf("max %d: sample %d = %v, want %v", max, i, got[i], want[i])
			}
		}
		if max == 1<<30 && parts != 1 {
			t.Errorf("a batch under the size came in %d parts", parts)
		}
		if max == 1 && parts != len(want) {
			t.Errorf("max 1: %d parts, want one per sample (%d)", parts, len(want))
		}
	}
}
