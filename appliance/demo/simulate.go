package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vigil-monitoring/vigil/internal/clock"
	"github.com/vigil-monitoring/vigil/storage"
)

// Target is where the demo writes: the storage of the Vigil it runs in
// (Local), or another Vigil over HTTP (Remote).
type Target interface {
	Appender
	// LastStep returns the time of the newest step the demo wrote between
	// from and to, and false when there is none.
	LastStep(ctx context.Context, from, to time.Time) (time.Time, bool, error)
	// ValuesAt returns the newest value of every series the demo wrote
	// (its job's and the event API's), by Key of its labels, from its
	// last step at t on: the events and scrapes of a live step may come a
	// little after it.
	ValuesAt(ctx context.Context, t time.Time) (map[string]float64, error)
	// Retention returns how long the target keeps samples: it refuses
	// older ones.
	Retention(ctx context.Context) (time.Duration, error)
}

// ResumeWindow is how far back a start looks for the demo's last step to
// resume from: a demo stopped for longer starts its counters at zero,
// which reads as a counter reset.
const ResumeWindow = 7 * 24 * time.Hour

// Options are a simulation's settings.
type Options struct {
	// Backfill is how much history to write at start, at most: a restart
	// writes only the steps since the last one written, and none older
	// than the target's retention less a minute.
	Backfill time.Duration
	Clock    clock.Clock
	Seed     uint64
	// Progress, if not nil, is called as the backfill proceeds.
	Progress func(done, total int)
	// Backfilled, if not nil, is called once the backfill is written,
	// before the live steps, with the times of its first and last steps
	// (to before from when it wrote none).
	Backfilled func(from, to time.Time, took time.Duration)
	// Log receives what the run does; nil discards it.
	Log *slog.Logger
	// Live says how the live steps go in besides the target's Append;
	// its Exporter starts serving once the backfill is written.
	Live Live
}

// Simulate runs the simulated platform into t until ctx is done: it
// resumes from the last step t holds, if any, with every counter and
// histogram at its stored value (so that rate() sees no reset), backfills
// up to opts.Backfill of history, then writes a step every Step. It
// returns ctx's error, or the error that stopped the backfill.
func Simulate(ctx context.Context, t Target, opts Options) error {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Clock.Now()
	p := New(now, opts.Seed)
	// The target refuses samples older than its retention, so history that
	// would reach past it is cut to fit, with a minute to spare for the
	// time the backfill itself takes.
	backfill := opts.Backfill
	retention, retentionErr := t.Retention(ctx)
	if retentionErr == nil {
		backfill = min(backfill, max(retention-time.Minute, 0))
	}
	from := now.Add(-backfill).Truncate(Step)
	cut := from
	after := from.Add(-Step) // the step before the first to write
	last, found, err := t.LastStep(ctx, now.Add(-ResumeWindow), now)
	switch {
	case err != nil:
		// Steps may be there that it cannot see: writing history could
		// write their timestamps again.
		log.Warn("cannot read the demo's last step, so it writes no history and its counters start from zero", "err", err)
		from = now.Truncate(Step)
		after = from.Add(-Step)
	case found:
		if next := last.Add(Step); next.After(from) {
			from, after = next, last
		}
		values, err := t.ValuesAt(ctx, last)
		if err != nil {
			log.Warn("cannot read the demo's stored values; its counters start from zero", "at", last.UTC().Format(time.RFC3339), "err", err)
			break
		}
		// After a gap longer than the backfill, the counters go on from
		// their stored values as if the gap were one step long.
		n := p.Restore(from.Add(-Step), values)
		log.Info("resuming the simulated Panic platform", "last_step", last.UTC().Format(time.RFC3339), "series", n)
	}
	if !from.After(now) {
		// The retention matters only to history written as far back as
		// asked, not to what a resume or an unreadable last step shortened.
		switch {
		case !from.Equal(cut):
		case retentionErr != nil:
			log.Warn("cannot read the retention; a backfill that reaches past it fails", "err", retentionErr)
		case backfill < opts.Backfill:
			log.Info("demo backfill shortened to fit the retention", "backfill", opts.Backfill, "retention", retention, "shortened_to", backfill)
		}
		t0 := time.Now()
		log.Info("backfilling the simulated Panic platform", "from", from.UTC().Format(time.RFC3339), "to", now.UTC().Format(time.RFC3339))
		written, err := p.Backfill(ctx, t, from, now, opts.Progress)
		if err != nil {
			return err
		}
		after = written
		if opts.Backfilled != nil {
			opts.Backfilled(from, written, time.Since(t0))
		}
	} else if opts.Backfilled != nil {
		opts.Backfilled(from, after, 0)
	}
	if opts.Live.Exporter != nil {
		opts.Live.Exporter.serve(p)
	}
	p.Run(ctx, t, opts.Clock, after, opts.Live, func(err error) { log.Warn("demo step not stored", "err", err) })
	return ctx.Err()
}

// Steps is the number of steps from from to to, both included: 0 when to
// is before from.
func Steps(from, to time.Time) int {
	if to.Before(from) {
		return 0
	}
	return int(to.Sub(from)/Step) + 1
}

// Restore sets every counter, histogram and gauge of p to its value in
// values (by Key), as read back from the last step written, and makes
// prev the time of the previous step, so that the next Advance simulates
// from there. Series missing from values keep their start. It returns how
// many series it restored.
func (p *Platform) Restore(prev time.Time, values map[string]float64) int {
	n := 0
	get := func(ls []storage.Label) (float64, bool) {
		v, ok := values[Key(ls)]
		if ok {
			n++
		}
		return resumeValue(v), ok
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.all {
		if v, ok := get(s.labels); ok {
			s.v = v
		}
	}
	for _, h := range p.hists {
		prevCum := 0.0
		for i := range h.counts {
			if v, ok := get(h.bucketLs[i]); ok {
				h.counts[i] = v - prevCum
				prevCum = v
			}
		}
		if v, ok := get(h.sumLabels); ok {
			h.sum = v
		}
		if v, ok := get(h.countLs); ok {
			h.count = v
		}
	}
	p.last = prev
	return n
}

// resumeValue is the value to go on from after reading v back from the
// store. The store keeps a block's values as decimals under one exponent,
// so a fraction read back (a histogram's sum) may differ in its 13th
// digit from what a later read of the same sample gives; going on from a
// hair above it keeps the counter from seeming to go down, which rate()
// would take for a reset. Whole numbers are read back exactly.
func resumeValue(v float64) float64 {
	if v == math.Trunc(v) || math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	return v + math.Abs(v)*1e-9
}

// eventNamesRE matches the series names of the event API's metrics.
func eventNamesRE() string {
	var names []string
	for m := range eventMetrics {
		names = append(names, m+"(_bucket|_sum|_count)?")
	}
	slices.Sort(names)
	return strings.Join(names, "|")
}

// valuesLookback is how far before the last step ValuesAt looks: the
// query API's default lookback.
const valuesLookback = 5 * time.Minute

// Key identifies a series by its labels, whatever their order.
func Key(ls []storage.Label) string {
	s := slices.Clone(ls)
	slices.SortFunc(s, func(a, b storage.Label) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	for _, l := range s {
		b.WriteString(l.Name)
		b.WriteByte(0)
		b.WriteString(l.Value)
		b.WriteByte(0)
	}
	return b.String()
}

// errNoValues is returned by a target that finds no series at a step it
// listed.
var errNoValues = errors.New("no demo series at the last step")

func noValuesAt(t time.Time) error {
	return fmt.Errorf("%w (%s)", errNoValues, t.UTC().Format(time.RFC3339))
}
