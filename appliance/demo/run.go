package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-monitoring/vigil/internal/clock"
	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// Appender stores rows: what the demo needs of storage.Storage.
type Appender interface {
	Append(rows *storage.Rows) error
}

// Backfill simulates the platform from from to to (both aligned down to
// Step) and appends a sample of every series at each step, batching
// several steps per Append. progress, if not nil, is called after each
// batch with the steps done and the steps in all. It returns the time of
// the last step written.
func (p *Platform) Backfill(ctx context.Context, app Appender, from, to time.Time, progress func(done, total int)) (time.Time, error) {
	from, to = from.Truncate(Step), to.Truncate(Step)
	total := int(to.Sub(from)/Step) + 1
	var rows storage.Rows
	const stepsPerBatch = 40 // 10 minutes, some 60,000 samples
	last := from
	for i := 0; i < total; i++ {
		if err := ctx.Err(); err != nil {
			return last, err
		}
		last = from.Add(time.Duration(i) * Step)
		if err := p.Advance(last, &rows); err != nil {
			return last, fmt.Errorf("demo: %w", err)
		}
		if (i+1)%stepsPerBatch == 0 || i == total-1 {
			if err := app.Append(&rows); err != nil {
				return last, fmt.Errorf("demo: storing the backfill at %s: %w", last.UTC().Format(time.RFC3339), err)
			}
			rows.Reset()
			if progress != nil {
				progress(i+1, total)
			}
		}
	}
	return last, nil
}

// Live says how the live steps go in besides Append.
type Live struct {
	// Events, if not nil, records the event API's half of each step
	// (JSON lines of one kind); those series are then not appended.
	Events func(ctx context.Context, kind ingest.EventKind, body []byte) error
	// Exporter, if not nil, is scraped for the other half, which is then
	// not appended either.
	Exporter *Exporter
}

// Run simulates a step at after+Step, after+2*Step, ... as clock reaches
// each, until ctx is done, and appends the samples of every series that
// live does not take otherwise. A step that is refused is reported to
// onError and the next one tried.
func (p *Platform) Run(ctx context.Context, app Appender, clk clock.Clock, after time.Time, live Live, onError func(error)) {
	var rows storage.Rows
	var events eventBatch
	want := func(event bool) bool {
		if event {
			return live.Events == nil
		}
		return live.Exporter == nil
	}
	next := after.Truncate(Step).Add(Step)
	for {
		if err := clk.Wait(ctx, next); err != nil {
			return
		}
		rows.Reset()
		events.reset()
		p.mu.Lock()
		if live.Events != nil {
			p.events = &events
		}
		p.advanceLocked(next)
		p.events = nil
		err := p.addRows(next, &rows, want)
		p.mu.Unlock()
		if err == nil {
			err = app.Append(&rows)
		}
		if live.Events != nil {
			for _, kind := range ingest.EventKinds {
				if body := events.byKind()[kind]; len(body) > 0 && err == nil {
					err = live.Events(ctx, kind, body)
				}
			}
		}
		if err != nil && onError != nil {
			onError(fmt.Errorf("demo: storing the step of %s: %w", next.UTC().Format(time.RFC3339), err))
		}
		next = next.Add(Step)
	}
}
