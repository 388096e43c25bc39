package ingest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-monitoring/vigil/storage"
)

// BenchmarkRecordEvents measures panic-request events (each a counter and
// a histogram: 16 series) through the Recorder into a real store, one per
// call and in batches of 1,000 as JSON lines.
func BenchmarkRecordEvents(b *testing.B) {
	for _, batch := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			st, err := storage.Open(b.TempDir(), storage.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			r := NewRecorder(st, nil)
			var body bytes.Buffer
			for i := range batch {
				fmt.Fprintf(&body, `{"service_type":"s%d","status":"accepted","firm_id":"firm%d","zone":"z%d","response_time":%d}`+"\n", i%4, i%20, i%10, 30+i%900)
			}
			b.ResetTimer()
			t0 := time.Now()
			for b.Loop() {
				if _, _, err := r.Record(context.Background(), PanicRequestEvent, bytes.NewReader(body.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/time.Since(t0).Seconds(), "events/s")
		})
	}
}
