package memtrim

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestShouldTrim(t *testing.T) {
	for _, c := range []struct {
		name      string
		prev, now Stats
		want      bool
	}{
		{"quiet after a burst", Stats{Allocated: 1 << 30}, Stats{Allocated: 1<<30 + 1<<20, Free: 64 << 20, Live: 32 << 20, Objects: 32 << 20}, true},
		{"garbage to collect", Stats{Allocated: 1 << 30}, Stats{Allocated: 1<<30 + 1<<20, Free: 1 << 20, Live: 32 << 20, Objects: 64 << 20}, true},
		{"still allocating", Stats{Allocated: 1 << 30}, Stats{Allocated: 1<<30 + 256<<20, Free: 64 << 20, Live: 32 << 20, Objects: 32 << 20}, false},
		{"little to return", Stats{Allocated: 1 << 30}, Stats{Allocated: 1 << 30, Free: 1 << 20, Live: 32 << 20, Objects: 34 << 20}, false},
		{"a few MiB to return", Stats{Allocated: 1 << 30}, Stats{Allocated: 1 << 30, Free: 2 << 20, Live: 32 << 20, Objects: 36 << 20}, true},
	} {
		if got := ShouldTrim(c.prev, c.now); got != c.want {
			t.Errorf("%s: ShouldTrim = %v, want %v", c.name, got, c.want)
		}
	}
}

var sink [][]byte

// TestRunReturnsABurstsMemory allocates 128 MiB, drops it, and waits for
// Run to hand the memory back.
func TestRunReturnsABurstsMemory(t *testing.T) {
	for range 128 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	if r := Read().Reclaimable(); r < MinFreeBytes {
		t.Fatalf("set-up: after dropping 128 MiB only %d bytes are reclaimable", r)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var trims atomic.Int64
	done := make(chan struct{})
	go func() {
		Run(ctx, Config{Interval: 50 * time.Millisecond, Trimmed: func(uint64) { trims.Add(1) }})
		close(done)
	}()
	for Read().Reclaimable() >= MinFreeBytes {
		if ctx.Err() != nil {
			t.Fatalf("after 30 s, %d reclaimable bytes of heap are still resident", Read().Reclaimable())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if trims.Load() == 0 {
		t.Fatal("the memory went back without a trim: the test proves nothing")
	}
}
