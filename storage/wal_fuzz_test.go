package storage

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"testing"
	"time"
)

// FuzzDecodeWALRecord checks the decoder that replay runs on the payload
// of every write-ahead log record whose checksum matches: it never panics,
// and the rows it returns, encoded again, decode to the same rows.
func FuzzDecodeWALRecord(f *testing.F) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	up := lbls("__name__", "up", "job", "api")
	for _, seed := range []func(*Rows) error{
		func(r *Rows) error { return r.Add(up, start, 1) },
		func(r *Rows) error {
			return r.AddSeries(up, []Sample{{Timestamp: start, Value: 1}, {Timestamp: start + 15000, Value: 0}, {Timestamp: start - 15000, Value: math.NaN()}})
		},
		func(r *Rows) error {
			if err := r.Add(lbls("__name__", "http_requests_total", "code", "200"), start, 42); err != nil {
				return err
			}
			return r.Add(up, -start, math.Inf(-1))
		},
	} {
		var rows Rows
		if err := seed(&rows); err != nil {
			f.Fatal(err)
		}
		record := encodeWALRecord(nil, rows.mrs)
		f.Add(record[8:]) // the payload, after length and checksum
	}
	f.Add([]byte{1, 1, 'x', 2, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f}) // the first encoding: x 1 1.0
	f.Add([]byte{0})                                          // a shared name in the first row
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})            // an empty name
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, payload []byte) {
		mrs, err := decodeWALRecord(payload, nil)
		if err != nil {
			return
		}
		record := encodeWALRecord(nil, mrs)
		if n := binary.LittleEndian.Uint32(record); int(n) != len(record)-8 {
			t.Fatalf("record length %d, payload %d bytes", n, len(record)-8)
		}
		if sum := binary.LittleEndian.Uint32(record[4:]); sum != crc32.Checksum(record[8:], walCRC) {
			t.Fatalf("record checksum %x does not match its payload", sum)
		}
		again, err := decodeWALRecord(record[8:], nil)
		if err != nil {
			t.Fatalf("%x decoded to %d rows, which encode to %x, which does not decode: %v", payload, len(mrs), record[8:], err)
		}
		if len(again) != len(mrs) {
			t.Fatalf("%d rows, %d after encoding and decoding again", len(mrs), len(again))
		}
		for i := range mrs {
			a, b := &mrs[i], &again[i]
			if !bytes.Equal(a.MetricNameRaw, b.MetricNameRaw) || a.Timestamp != b.Timestamp ||
				math.Float64bits(a.Value) != math.Float64bits(b.Value) {
				t.Fatalf("row %d: %q %d %v became %q %d %v", i, a.MetricNameRaw, a.Timestamp, a.Value, b.MetricNameRaw, b.Timestamp, b.Value)
			}
		}
	})
}
