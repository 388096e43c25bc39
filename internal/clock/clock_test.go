package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFakeWait(t *testing.T) {
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	f := NewFake(start)
	if err := f.Wait(context.Background(), start); err != nil {
		t.Fatalf("waiting for the present: %v", err)
	}
	woke := make(chan error, 1)
	go func() { woke <- f.Wait(context.Background(), start.Add(time.Minute)) }()
	for f.Waiters() != 1 {
		time.Sleep(time.Millisecond)
	}
	f.Advance(30 * time.Second)
	select {
	case err := <-woke:
		t.Fatalf("woke half-way, at %v: %v", f.Now(), err)
	case <-time.After(20 * time.Millisecond):
	}
	f.Set(start) // never backwards
	if !f.Now().Equal(start.Add(30 * time.Second)) {
		t.Errorf("Set moved the clock back to %v", f.Now())
	}
	f.Advance(30 * time.Second)
	if err := <-woke; err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { woke <- f.Wait(ctx, start.Add(time.Hour)) }()
	for f.Waiters() != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-woke; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	if n := f.Waiters(); n != 0 {
		t.Errorf("%d waiters left", n)
	}
}
