// Package clock is the time of Vigil's loops that run on a schedule (the
// platform jobs, the demo): Now, and Wait until a moment. The wall clock
// runs them in production; tests drive a Fake by hand, so that a day of
// schedule passes in milliseconds and nothing sleeps.
package clock

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Clock tells the time and waits for a moment to come.
type Clock interface {
	Now() time.Time
	// Wait returns nil once Now has reached until, or ctx's error when ctx
	// is done first.
	Wait(ctx context.Context, until time.Time) error
}

// Wall is the real time.
type Wall struct{}

// Now is time.Now.
func (Wall) Now() time.Time { return time.Now() }

// Wait sleeps until until or until ctx is done.
func (Wall) Wait(ctx context.Context, until time.Time) error {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Fake is a clock that moves only when told to. It is safe for concurrent
// use: tests move it while the loops under test wait on it.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	changed chan struct{} // closed and replaced whenever now moves
	waiting []time.Time   // what each blocked Wait waits for
}

// NewFake returns a fake clock showing t.
func NewFake(t time.Time) *Fake {
	return &Fake{now: t, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Set moves the clock to t (never backwards) and wakes the waiters.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.now) {
		f.now = t
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// Advance moves the clock forward by d.
func (f *Fake) Advance(d time.Duration) { f.Set(f.Now().Add(d)) }

// Waiters is how many calls to Wait are blocked waiting for a time still
// to come: tests wait for the loops under test to be asleep before they
// move the clock, and after moving it, for them to be asleep again.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, u := range f.waiting {
		if u.After(f.now) {
			n++
		}
	}
	return n
}

// Wait returns once the fake time has reached until.
func (f *Fake) Wait(ctx context.Context, until time.Time) error {
	f.mu.Lock()
	f.waiting = append(f.waiting, until)
	defer func() {
		f.mu.Lock()
		i := slices.IndexFunc(f.waiting, func(u time.Time) bool { return u.Equal(until) })
		f.waiting = slices.Delete(f.waiting, i, i+1)
		f.mu.Unlock()
	}()
	for {
		if !f.now.Before(until) {
			f.mu.Unlock()
			return nil
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		f.mu.Lock()
	}
}
