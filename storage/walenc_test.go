package storage

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/value"

	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

// The payload encoding keeps every timestamp and every value's bits,
// whatever the previous row's: the integer change is used only where it
// is exact.
func TestRowsPayloadKeepsEveryBit(t *testing.T) {
	a, b := []byte("series-a"), []byte("series-b")
	vals := []float64{
		0, math.Copysign(0, -1), 1, 1, -1, 3, math.NaN(), math.Float64frombits(value.StaleNaN),
		math.Float64frombits(value.StaleNaN), 7, math.Inf(1), math.Inf(-1), 1 << 53, 1<<53 + 2,
		-(1 << 53), -(1<<53 + 2), 1.5, 2, 1e300, math.MaxFloat64, -math.MaxFloat64, 5e-324,
		math.Copysign(0, -1), 0, 1 << 62, 42,
	}
	tss := []int64{0, 15000, 30000, 45000, 44999, math.MaxInt64, math.MinInt64, -1, 1, 0}
	var mrs []vmstorage.MetricRow
	for i, v := range vals {
		name := a
		if i%7 >= 4 {
			name = b
		}
		mrs = append(mrs, vmstorage.MetricRow{MetricNameRaw: name, Timestamp: tss[i%len(tss)] + int64(i), Value: v})
	}
	got, err := decodeWALRecord(appendRowsPayload(nil, mrs), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(mrs) {
		t.Fatalf("%d rows decoded, want %d", len(got), len(mrs))
	}
	for i := range mrs {
		w, g := &mrs[i], &got[i]
		if !bytes.Equal(g.MetricNameRaw, w.MetricNameRaw) || g.Timestamp != w.Timestamp || math.Float64bits(g.Value) != math.Float64bits(w.Value) {
			t.Errorf("row %d: %s %d %x, want %s %d %x", i, g.MetricNameRaw, g.Timestamp, math.Float64bits(g.Value), w.MetricNameRaw, w.Timestamp, math.Float64bits(w.Value))
		}
	}
}

// A counter scraped at a regular interval takes about 3 bytes a sample
// besides its name's once per batch (flag, timestamp, value change); the
// first encoding took 12.
func TestRowsPayloadIsCompactForCounters(t *testing.T) {
	var rows Rows
	samples := make([]Sample, 20)
	for i := range samples {
		samples[i] = Sample{Timestamp: 1_700_000_000_000 + int64(i)*15000, Value: float64(123456 + 17*i)}
	}
	ls := lbls("__name__", "http_requests_total", "job", "api", "endpoint", "/api/v1/panic")
	if err := rows.AddSeries(ls, samples); err != nil {
		t.Fatal(err)
	}
	payload := appendRowsPayload(nil, rows.mrs)
	perSample := float64(len(payload)-len(rows.mrs[0].MetricNameRaw)) / float64(len(samples))
	if perSample > 4 {
		t.Fatalf("%.2f bytes a sample besides the name, want at most 4", perSample)
	}
}

// Segments and remote-write queues written in the first encoding (flags
// 0 and 1, timestamp deltas, 8-byte values) still decode.
func TestRowsPayloadReadsTheFirstEncoding(t *testing.T) {
	name := []byte("up")
	var p []byte
	p = append(p, 1)
	p = binary.AppendUvarint(p, uint64(len(name)))
	p = append(p, name...)
	p = binary.AppendVarint(p, 1000)
	p = binary.LittleEndian.AppendUint64(p, math.Float64bits(1.5))
	p = append(p, 0)
	p = binary.AppendVarint(p, 15000)
	p = binary.LittleEndian.AppendUint64(p, math.Float64bits(2))
	p = append(p, 0)
	p = binary.AppendVarint(p, 15000)
	p = binary.LittleEndian.AppendUint64(p, math.Float64bits(0))
	got, err := decodeWALRecord(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ts int64
		v  float64
	}{{1000, 1.5}, {16000, 2}, {31000, 0}}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i, w := range want {
		if string(got[i].MetricNameRaw) != "up" || got[i].Timestamp != w.ts || got[i].Value != w.v {
			t.Errorf("row %d: %s %d %v, want up %d %v", i, got[i].MetricNameRaw, got[i].Timestamp, got[i].Value, w.ts, w.v)
		}
	}
	for _, bad := range [][]byte{{1 | rowValueDelta, 1, 'x', 0, 0}, {rowV2 | 3<<1 | rowNewName, 1, 'x', 0}, {0x10}} {
		if _, err := decodeWALRecord(bad, nil); err == nil {
			t.Errorf("%x decoded without an error", bad)
		}
	}
}
