package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// BenchmarkEventsHTTP measures panic-request events through the event API
// over HTTP on 127.0.0.1 into a real store: one event per request and
// batches of 1,000 JSON lines, from four clients at once.
func BenchmarkEventsHTTP(b *testing.B) {
	for _, batch := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			st := openStorage(b)
			srv := httptest.NewServer(newTestServer(b, st, Options{}, Deps{}))
			defer srv.Close()
			var body bytes.Buffer
			for i := range batch {
				fmt.Fprintf(&body, `{"service_type":"s%d","status":"accepted","firm_id":"firm%d","zone":"z%d","response_time":%d}`+"\n", i%4, i%20, i%10, 30+i%900)
			}
			const clients = 4
			requests := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for range clients {
				wg.Go(func() {
					c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
					for range requests {
						resp, err := c.Post(srv.URL+"/api/v1/events/panic-request", "application/json", bytes.NewReader(body.Bytes()))
						if err != nil {
							errs <- err
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							errs <- fmt.Errorf("%s", resp.Status)
							return
						}
					}
				})
			}
			b.ResetTimer()
			t0 := time.Now()
			for b.Loop() {
				select {
				case requests <- struct{}{}:
				case err := <-errs:
					b.Fatal(err)
				}
			}
			close(requests)
			wg.Wait()
			b.ReportMetric(float64(b.N*batch)/time.Since(t0).Seconds(), "events/s")
		})
	}
}
