package remotewrite

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	vmprompb "github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/vigil-monitoring/vigil/storage"
)

// benchBlocks stores series series, points samples each, through a real
// store in batches of 500 series × 20 consecutive samples (what the
// benchmark harness's loadgen sends) and returns the queue blocks its tap
// made of them.
func benchBlocks(b *testing.B, series, points int) [][]byte {
	b.Helper()
	var blocks [][]byte
	var seq uint64
	tap := tapFunc(func(batch storage.Batch) {
		blocks = append(blocks, appendBlock(nil, seq, batch))
		seq += uint64(batch.Len())
	})
	st, err := storage.Open(b.TempDir(), storage.Options{Retention: 100 * 365 * 24 * time.Hour, Tap: tap})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	methods := []string{"GET", "POST", "PUT", "DELETE"}
	les := []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"}
	labels := make([][]storage.Label, series)
	for s := range labels {
		labels[s] = []storage.Label{
			{Name: "__name__", Value: "http_request_duration_seconds_bucket"},
			{Name: "endpoint", Value: fmt.Sprintf("/api/v1/incidents/%d", s/40%25)},
			{Name: "instance", Value: fmt.Sprintf("panic-api-%03d:9100", s/500)},
			{Name: "job", Value: "panic-api"},
			{Name: "le", Value: les[s%len(les)]},
			{Name: "method", Value: methods[s/10%len(methods)]},
		}
	}
	start := time.Now().Add(-24 * time.Hour).Truncate(time.Hour).UnixMilli()
	samples := make([]storage.Sample, 20)
	for p0 := 0; p0 < points; p0 += 20 {
		for s0 := 0; s0 < series; s0 += 500 {
			var rows storage.Rows
			for s := s0; s < min(s0+500, series); s++ {
				for i := range samples {
					samples[i] = storage.Sample{Timestamp: start + int64(p0+i)*15000, Value: float64(s*7+p0+i) * 1.25}
				}
				if err := rows.AddSeries(labels[s], samples); err != nil {
					b.Fatal(err)
				}
			}
			if err := st.Append(&rows); err != nil {
				b.Fatal(err)
			}
		}
	}
	return blocks
}

// BenchmarkEncode is the sender's work per sample between the queue and
// the network: rounds built from the queue's blocks (as many blocks as
// the default queue_config takes into one), cut into requests, each
// encoded into a remote write body.
func BenchmarkEncode(b *testing.B) {
	blocks := benchBlocks(b, 10_000, 60)
	s, errs := Config{URL: "http://127.0.0.1:1/api/v1/write"}.check("", map[string]string{"replica": "a"})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	cache := newSeriesCache(s)
	limit := s.capacity * s.maxShards
	var enc encoder
	var samples, bodyBytes int
	b.ResetTimer()
	for b.Loop() {
		for i := 0; i < len(blocks); {
			r := newRound(s, cache)
			for ; i < len(blocks) && r.samples < limit; i++ {
				if err := r.add(blocks[i]); err != nil {
					b.Fatal(err)
				}
			}
			for _, list := range r.shards() {
				for _, req := range list {
					bodyBytes += len(enc.encode(req))
					samples += req.n
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(samples), "ns/sample")
	b.ReportMetric(float64(bodyBytes)/float64(samples), "body-bytes/sample")
}

// The encoder writes what the protobuf code of remote write 1.0 writes,
// byte for byte, and any snappy decoder and Prometheus' own protobuf types
// read it back: labels long enough for multi-byte lengths, series of many
// samples, and the values and timestamps the generated code treats
// specially (+0 and a 0 timestamp are left out; -0, NaN, staleness
// markers and negative timestamps are kept bit for bit).
func TestEncodeMatchesPrompb(t *testing.T) {
	long := strings.Repeat("x", 300)
	staleNaN := math.Float64frombits(0x7ff0000000000002)
	values := []float64{0, 1.5, -2, math.Inf(1), math.NaN(), staleNaN, math.MaxFloat64, math.SmallestNonzeroFloat64}
	timestamps := []int64{0, 1, -1, 1_700_000_000_000, math.MaxInt64, math.MinInt64, 127, 128}
	labelSets := [][]vmprompb.Label{
		{{Name: "__name__", Value: "up"}, {Name: "job", Value: "a"}},
		{{Name: "__name__", Value: "long_" + long}, {Name: long, Value: long}},
		{{Name: "__name__", Value: "no_value"}, {Name: "empty", Value: ""}},
	}
	var req request
	var want vmprompb.WriteRequest
	for i, ls := range labelSets {
		ss := &sentSeries{pb: appendLabelsPB(nil, ls)}
		var samples []storage.Sample
		for j := range 200 {
			samples = append(samples, storage.Sample{Timestamp: timestamps[(i+j)%len(timestamps)], Value: values[(i*3+j)%len(values)]})
		}
		req.pieces = append(req.pieces, piece{s: ss, samples: samples})
		req.n += len(samples)
		ts := vmprompb.TimeSeries{Labels: ls}
		for _, s := range samples {
			ts.Samples = append(ts.Samples, vmprompb.Sample(s))
		}
		want.Timeseries = append(want.Timeseries, ts)
	}
	var enc encoder
	body := enc.encode(req)
	if wantRaw := want.MarshalProtobuf(nil); !bytes.Equal(enc.raw, wantRaw) {
		t.Fatalf("encoded %d bytes, differing from the %d bytes of VictoriaMetrics' prompb", len(enc.raw), len(wantRaw))
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatalf("the body is not snappy: %v", err)
	}
	if !bytes.Equal(raw, enc.raw) {
		t.Fatal("the body does not decompress to the protobuf")
	}

	// -0 is the one value the generated code loses; the encoder keeps it.
	negZero := math.Copysign(0, -1)
	ss := &sentSeries{pb: appendLabelsPB(nil, labelSets[0])}
	body = enc.encode(request{pieces: []piece{{s: ss, samples: []storage.Sample{{Timestamp: 5, Value: negZero}, {Timestamp: 6, Value: 0}}}}, n: 2})
	raw, err = snappy.Decode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	var got prompb.WriteRequest
	if err := got.Unmarshal(raw); err != nil {
		t.Fatalf("Prometheus cannot read the request: %v", err)
	}
	if len(got.Timeseries) != 1 || len(got.Timeseries[0].Samples) != 2 {
		t.Fatalf("got %+v, want one series of 2 samples", got.Timeseries)
	}
	if s := got.Timeseries[0].Samples; math.Float64bits(s[0].Value) != math.Float64bits(negZero) || s[0].Timestamp != 5 || math.Float64bits(s[1].Value) != 0 || s[1].Timestamp != 6 {
		t.Errorf("got samples %+v, want -0@5 and 0@6", s)
	}
}
