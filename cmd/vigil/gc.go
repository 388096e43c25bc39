package main

import (
	"context"
	"os"
	"runtime/debug"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-monitoring/vigil/internal/memtrim"
)

// gcPercent is the GOGC Vigil runs with unless the GOGC environment
// variable says otherwise. Most of what Vigil allocates while ingesting is
// the storage engine's short-lived row buffers; with Go's default of 100
// the heap holds twice the live data and an idle process keeps that
// garbage until the next forced collection. VictoriaMetrics runs its
// storage with GOGC=30 for the same reason. Vigil also runs the PromQL
// engine, which allocates per query, so it settles a little higher.
// Measured on the 10k-series benchmark: RSS after ingestion settled at
// 318 MiB with GOGC=100 and 72 MiB with GOGC=30; with the trim below,
// GOGC=30 instead of 50 saved another 5-7 MiB of RSS but cost 10-20% more
// CPU for the ingestion (two runs each).
const gcPercent = 50

func init() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// trimInterval is how often the server checks whether a burst of
// allocation is over.
const trimInterval = 5 * time.Second

var memoryTrims = metrics.GetOrCreateCounter("vigil_memory_trims_total")

// trimMemory returns the heap's memory to the system once a burst is over
// (see internal/memtrim), until ctx is done. Measured on the 10k-series
// benchmark, RSS 60 s after ingestion: 87-107 MiB without it (4 runs),
// 85-87 MiB with it (4 runs).
func trimMemory(ctx context.Context) {
	memtrim.Run(ctx, memtrim.Config{Interval: trimInterval, Trimmed: func(uint64) { memoryTrims.Inc() }})
}
