package benchcmp

import (
	"context"
	"flag"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/vigil-monitoring/vigil/storage"
)

// The workload: 1,000 series of panic_requests_total (-series) × 6 h at
// 15 s, as the side-by-side harness backfills them (in time order), and
// the harness' instant queries at the last sample.
const (
	span = 6 * time.Hour
	step = 15 * time.Second
)

// The harness' instant queries select ~3,700 (sum) and 10,000 (count)
// series: -series=4000 comes closer to them, at a minute of set-up.
var nSeriesFlag = flag.Int("series", 1000, "series of panic_requests_total in the stores")

var (
	setupOnce sync.Once
	vigilDB   *storage.Storage
	vigilOff  *storage.Storage // the tail cache off
	promDB    *tsdb.DB
	endMs     int64
	setupErr  error
	tmpDir    string // the stores' directory, removed by TestMain
)

// TestMain closes the stores and removes their directory: three stores of
// 1,000 series take ~20 MiB, and a -series=4000 run ~80 MiB.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, db := range []*storage.Storage{vigilDB, vigilOff} {
		if db != nil {
			_ = db.Close()
		}
	}
	if promDB != nil {
		_ = promDB.Close()
	}
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

func seriesLabels(s int) labels.Labels {
	return labels.FromStrings(
		"__name__", "panic_requests_total",
		"job", "panic-api",
		"instance", "panic-api-"+strconv.Itoa(s/500)+":9100",
		"zone", "zone-"+strconv.Itoa(s%6),
		"firm_id", "firm-"+strconv.Itoa(s%12),
		"series", strconv.Itoa(s),
	)
}

func value(s int, ts int64) float64 { return float64((ts/15000)*int64(s%7+1)) + float64(s) }

// setup fills both stores and leaves them as the harness does: Vigil's
// force-merged, Prometheus' compacted (the older hours in a block, the
// newest in the head).
func setup(b *testing.B) {
	setupOnce.Do(func() {
		nSeries := *nSeriesFlag
		endMs = time.Now().Truncate(time.Minute).UnixMilli()
		startMs := endMs - span.Milliseconds()
		dir, err := os.MkdirTemp("", "vigil-benchcmp-")
		tmpDir = dir
		if err != nil {
			setupErr = err
			return
		}
		opts := storage.Options{Retention: 100 * 365 * 24 * time.Hour, NoWAL: true}
		vigilDB, err = storage.Open(dir+"/vigil", opts)
		if err != nil {
			setupErr = err
			return
		}
		// The same data in a store without the tail cache.
		opts.TailCacheBytes = -1
		vigilOff, err = storage.Open(dir+"/vigil-nocache", opts)
		if err != nil {
			setupErr = err
			return
		}
		promDB, err = tsdb.Open(dir+"/prom", nil, nil, tsdb.DefaultOptions(), nil)
		if err != nil {
			setupErr = err
			return
		}
		var rows storage.Rows
		ls := make([][]storage.Label, nSeries)
		for s := range nSeries {
			seriesLabels(s).Range(func(l labels.Label) { ls[s] = append(ls[s], storage.Label{Name: l.Name, Value: l.Value}) })
		}
		// Time order, 20 samples of every series at a time, as loadgen.
		chunk := 20 * step.Milliseconds()
		for t0 := startMs; t0 <= endMs; t0 += chunk {
			app := promDB.Appender(context.Background())
			for s := range nSeries {
				lset := seriesLabels(s)
				for ts := t0; ts < t0+chunk && ts <= endMs; ts += step.Milliseconds() {
					if err := rows.Add(ls[s], ts, value(s, ts)); err != nil {
						setupErr = err
						return
					}
					if _, err := app.Append(0, lset, ts, value(s, ts)); err != nil {
						setupErr = err
						return
					}
				}
			}
			if err := app.Commit(); err != nil {
				setupErr = err
				return
			}
			for _, db := range []*storage.Storage{vigilDB, vigilOff} {
				if err := db.Append(&rows); err != nil {
					setupErr = err
					return
				}
			}
			rows.Reset()
		}
		for _, db := range []*storage.Storage{vigilDB, vigilOff} {
			db.ForceFlush()
			if err := db.ForceMerge(); err != nil {
				setupErr = err
				return
			}
		}
		setupErr = promDB.Compact(context.Background())
	})
	if setupErr != nil {
		b.Fatal(setupErr)
	}
}

// BenchmarkInstant runs each instant query against Vigil's storage, with
// and without its tail cache, and against Prometheus' TSDB. Besides the
// allocations it reports the process' CPU time per query (cpu-ns/op, from
// getrusage: on a busy machine a steadier figure than the wall clock); run
// it with -test.cpu=1 so that the CPU time is the query's alone.
func BenchmarkInstant(b *testing.B) {
	setup(b)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	queries := map[string]string{
		"sum":       `sum(panic_requests_total)`,
		"count":     `count({job="panic-api"})`,
		"rate5m":    `sum by (zone) (rate(panic_requests_total[5m]))`,
		"topk1h":    `topk(10, sum by (firm_id, zone) (increase(panic_requests_total[1h])))`,
		"oneseries": `panic_requests_total{series="42"}`,
	}
	stores := map[string]promstorage.Queryable{"vigil": vigilDB, "vigil-nocache": vigilOff, "prometheus": promDB}
	for _, store := range []string{"vigil", "vigil-nocache", "prometheus"} {
		for _, name := range []string{"sum", "count", "rate5m", "topk1h", "oneseries"} {
			b.Run(store+"/"+name, func(b *testing.B) {
				cpu0 := cpuTime()
				for range b.N {
					qry, err := engine.NewInstantQuery(context.Background(), stores[store], nil, queries[name], time.UnixMilli(endMs))
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

// cpuTime returns the CPU time the process has used, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
