package benchcmp

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	promstorage "github.com/prometheus/prometheus/storage"
)

// BenchmarkRange runs the harness' gauge_avg range query — a 10-minute
// avg_over_time under a sum over ~330 series — over 1 h (step 15 s) and
// 24 h (step 60 s) ending at the last sample, against Vigil's storage with
// and without its tail cache and against Prometheus' TSDB. The 1 h query
// reads the last 70 minutes of each series' 6-hour block: a fifth of it.
// Run it with -test.cpu=1; cpu-ns/op is the process' CPU per query.
func BenchmarkRange(b *testing.B) {
	setup(b)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	const query = `sum by (zone) (avg_over_time(panic_requests_total{firm_id=~"firm-[0-3]"}[10m]))`
	ranges := []struct {
		name       string
		span, step time.Duration
	}{{"gauge_avg_1h", time.Hour, 15 * time.Second}, {"gauge_avg_24h", 24 * time.Hour, time.Minute}}
	stores := map[string]promstorage.Queryable{"vigil": vigilDB, "vigil-nocache": vigilOff, "prometheus": promDB}
	for _, store := range []string{"vigil", "vigil-nocache", "prometheus"} {
		for _, r := range ranges {
			b.Run(store+"/"+r.name, func(b *testing.B) {
				end := time.UnixMilli(endMs)
				cpu0 := cpuTime()
				for range b.N {
					qry, err := engine.NewRangeQuery(context.Background(), stores[store], nil, query, end.Add(-r.span), end, r.step)
					if err != nil {
						b.Fatal(err)
					}
					res := qry.Exec(context.Background())
					if res.Err != nil {
						b.Fatal(res.Err)
					}
					qry.Close()
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
