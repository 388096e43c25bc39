package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-monitoring/vigil/internal/clock"
	"github.com/vigil-monitoring/vigil/storage"
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

// Run appends a sample of every series at after+Step, after+2*Step, ...
// as clock reaches each, until ctx is done. A step that Append refuses
// is reported to onError and the next one tried.
func (p *Platform) Run(ctx context.Context, app Appender, clk clock.Clock, after time.Time, onError func(error)) {
	var rows storage.Rows
	next := after.Truncate(Step).Add(Step)
	for {
		if err := clk.Wait(ctx, next); err != nil {
			return
		}
		rows.Reset()
		err := p.Advance(next, &rows)
		if err == nil {
			err = app.Append(&rows)
		}
		if err != nil && onError != nil {
			onError(fmt.Errorf("demo: storing the sample of %s: %w", next.UTC().Format(time.RFC3339), err))
		}
		next = next.Add(Step)
	}
}
