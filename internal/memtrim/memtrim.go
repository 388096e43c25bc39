// Package memtrim returns the Go heap's memory to the operating system
// once a burst of allocation is over.
//
// Go's garbage collector keeps the memory a burst needed (an ingestion
// backfill, a large query) and hands it back to the system only slowly, so
// a process that has gone quiet keeps the resident size of its busiest
// moment for minutes, garbage included until the next collection. Run
// checks every interval how much resident heap is free or garbage, and how
// much the process allocated since the last check. Once the process is
// quiet — it allocated less than its live heap in the interval — and at
// least MinFreeBytes could go, it collects and returns the free memory at
// once (debug.FreeOSMemory). While a burst allocates at a high rate it
// never trims, so it does not fight the burst.
package memtrim

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// MinFreeBytes is the reclaimable resident heap below which Run leaves the
// memory where it is: returning less is not worth a collection. At 8 MiB,
// an idle Vigil after the 10k-series benchmark kept 82 MiB resident on
// average over 3 minutes; at 4 MiB, 74 MiB, for a few more collections
// (see docs/benchmarks.md).
const MinFreeBytes = 4 << 20

// Stats is one reading of the figures Run decides on.
type Stats struct {
	// Allocated is the total bytes allocated on the heap so far.
	Allocated uint64
	// Free is the bytes of heap memory that are free but still resident.
	Free uint64
	// Objects is the bytes of heap objects, live or garbage not yet swept.
	Objects uint64
	// Live is the live heap as the last collection marked it.
	Live uint64
}

// Reclaimable is the resident heap a collection and a trim would return.
func (s Stats) Reclaimable() uint64 {
	if s.Objects > s.Live {
		return s.Free + s.Objects - s.Live
	}
	return s.Free
}

// Read returns the current Stats.
func Read() Stats {
	s := [4]metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(s[:])
	return Stats{Allocated: s[0].Value.Uint64(), Free: s[1].Value.Uint64(), Objects: s[2].Value.Uint64(), Live: s[3].Value.Uint64()}
}

// Quiet reports whether the process allocated less than its live heap
// since the previous reading.
func Quiet(prev, now Stats) bool {
	return now.Allocated-prev.Allocated < max(now.Live, MinFreeBytes)
}

// ShouldTrim reports whether the process is quiet and has memory worth
// returning, given the reading of the previous check.
func ShouldTrim(prev, now Stats) bool {
	return Quiet(prev, now) && now.Reclaimable() >= MinFreeBytes
}

// Config tells Run what to do.
type Config struct {
	// Interval is how often Run checks.
	Interval time.Duration
	// Trimmed, if not nil, is called with the reclaimable bytes of each
	// trim.
	Trimmed func(reclaimable uint64)
}

// Run checks every cfg.Interval until ctx is done.
func Run(ctx context.Context, cfg Config) {
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	prev := Read()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := Read()
		if ShouldTrim(prev, now) {
			debug.FreeOSMemory()
			if cfg.Trimmed != nil {
				cfg.Trimmed(now.Reclaimable())
			}
			now = Read()
		}
		prev = now
	}
}
