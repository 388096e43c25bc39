package storage

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
)

var (
	benchOnce  sync.Once
	benchStore *Storage
	benchEnd   int64
)

// openBenchStore opens a store in a new temporary directory and writes n
// series × 6 h at 15 s ending at end, shaped like the Panic platform's
// counters with a job/instance pair, in appends of about a million rows.
func openBenchStore(b *testing.B, opts Options, n int, end int64) *Storage {
	dir, err := os.MkdirTemp("", "vigil-bench-storage-")
	if err != nil {
		b.Fatal(err)
	}
	opts.Retention = 100 * 365 * 24 * time.Hour
	st, err := Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	start := end - 6*3600*1000
	var rows Rows
	for s := 0; s < n; s++ {
		ls := []Label{
			{Name: "__name__", Value: "panic_requests_total"},
			{Name: "job", Value: "panic-api"},
			{Name: "instance", Value: "panic-api-" + strconv.Itoa(s/500) + ":9100"},
			{Name: "zone", Value: "zone-" + strconv.Itoa(s%6)},
			{Name: "firm_id", Value: "firm-" + strconv.Itoa(s%12)},
			{Name: "series", Value: strconv.Itoa(s)},
		}
		v := 0.0
		for ts := start; ts <= end; ts += 15000 {
			v += float64((ts/15000)%7 + 1)
			if err := rows.Add(ls, ts, v); err != nil {
				b.Fatal(err)
			}
		}
		if rows.Len() > 1_000_000 {
			if err := st.Append(&rows); err != nil {
				b.Fatal(err)
			}
			rows.Reset()
		}
	}
	if err := st.Append(&rows); err != nil {
		b.Fatal(err)
	}
	st.ForceFlush()
	return st
}

// benchStorage holds 10,000 series × 6 h at 15 s (14.4M samples).
func benchStorage(b *testing.B) *Storage {
	benchOnce.Do(func() {
		benchEnd = time.Now().Truncate(time.Minute).UnixMilli()
		benchStore = openBenchStore(b, Options{}, 10000, benchEnd)
	})
	return benchStore
}

func BenchmarkQueryRange(b *testing.B) {
	s := benchStorage(b)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	queries := []string{
		`count by (__name__) ({job="panic-api"})`,
		`sum by (zone) (rate(panic_requests_total[5m]))`,
		`rate(panic_requests_total{series="42"}[5m])`,
	}
	for _, q := range queries {
		for _, span := range []time.Duration{time.Hour, 6 * time.Hour} {
			b.Run(fmt.Sprintf("%s/%s", q, span), func(b *testing.B) {
				end := time.UnixMilli(benchEnd)
				step := 15 * time.Second
				if span > time.Hour {
					step = time.Minute
				}
				for b.Loop() {
					qry, err := engine.NewRangeQuery(context.Background(), s, nil, q, end.Add(-span), end, step)
					if err != nil {
						b.Fatal(err)
					}
					res := qry.Exec(context.Background())
					if res.Err != nil {
						b.Fatal(res.Err)
					}
					qry.Close()
				}
			})
		}
	}
}

var (
	instantOnce  sync.Once
	instantStore *Storage
	instantEnd   int64
)

// instantStorage holds 2,000 series × 6 h at 15 s, force-merged as the
// benchmark harness leaves a store: one block of 1,441 samples per series.
func instantStorage(b *testing.B) *Storage {
	instantOnce.Do(func() {
		instantEnd = time.Now().Truncate(time.Minute).UnixMilli()
		instantStore = openBenchStore(b, Options{NoWAL: true}, 2000, instantEnd)
		if err := instantStore.ForceMerge(); err != nil {
			b.Fatal(err)
		}
	})
	return instantStore
}

// BenchmarkQueryInstant runs instant queries of the harness' shapes at the
// last sample: a 5-minute look-back over every series, and a 1-hour window.
func BenchmarkQueryInstant(b *testing.B) {
	s := instantStorage(b)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	queries := []string{
		`sum(panic_requests_total)`,
		`count({job="panic-api"})`,
		`sum by (zone) (rate(panic_requests_total[5m]))`,
		`topk(10, sum by (firm_id, zone) (increase(panic_requests_total[1h])))`,
		`panic_requests_total{series="42"}`,
	}
	for _, q := range queries {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				qry, err := engine.NewInstantQuery(context.Background(), s, nil, q, time.UnixMilli(instantEnd))
				if err != nil {
					b.Fatal(err)
				}
				res := qry.Exec(context.Background())
				if res.Err != nil {
					b.Fatal(res.Err)
				}
				qry.Close()
			}
		})
	}
}
