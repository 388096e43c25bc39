package remotewrite

import (
	"fmt"
	"testing"
	"time"

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
