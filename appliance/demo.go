package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-monitoring/vigil/appliance/demo"
	"github.com/vigil-monitoring/vigil/internal/clock"
	"github.com/vigil-monitoring/vigil/storage"
)

// demoBackfill is how much history --demo writes at start, so that the
// dashboards and the rate windows of the rules have data at once.
const demoBackfill = 6 * time.Hour

// demoRunner runs the simulated Panic platform of --demo: a backfill of
// the last demoBackfill, then a sample every demo.Step.
type demoRunner struct {
	stop context.CancelFunc
	done sync.WaitGroup
}

// startDemo starts the simulation in the background. A restart on the
// same data directory backfills only the gap since the last demo sample,
// so that no timestamp is written twice; the counters then start from
// zero again, as after a restart of the real application. afterBackfill,
// if not nil, runs once the history is written and searchable, with its
// time range (the recording rules record that history too).
func startDemo(st *storage.Storage, clk clock.Clock, log *slog.Logger, afterBackfill func(ctx context.Context, from, to time.Time)) *demoRunner {
	log = log.With("component", "demo")
	ctx, cancel := context.WithCancel(context.Background())
	d := &demoRunner{stop: cancel}
	now := clk.Now()
	p := demo.New(now, uint64(now.Unix()))
	st.AppendMetadata(demo.Metadata())
	from := now.Add(-demoBackfill)
	if last, ok := lastDemoSample(ctx, st, from, now); ok {
		from = last.Add(demo.Step)
	}
	d.done.Add(1)
	go func() {
		defer d.done.Done()
		t0 := time.Now()
		log.Info("backfilling the simulated Panic platform", "from", from.UTC().Format(time.RFC3339), "to", now.UTC().Format(time.RFC3339))
		lastPct := -1
		last, err := p.Backfill(ctx, st, from, now, func(done, total int) {
			if pct := done * 100 / total; pct/25 != lastPct/25 || done == total {
				lastPct = pct
				log.Info("demo backfill", "progress", fmt.Sprintf("%d%%", pct), "steps", fmt.Sprintf("%d/%d", done, total))
			}
		})
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				log.Error("demo backfill failed; the live simulation starts anyway", "err", err)
			}
			if ctx.Err() != nil {
				return
			}
		}
		st.ForceFlush()
		if afterBackfill != nil {
			afterBackfill(ctx, from, last)
		}
		log.Info("demo backfill done; live samples every 15s", "took", time.Since(t0).Round(time.Millisecond))
		p.Run(ctx, st, clk, last, func(err error) { log.Warn("demo sample not stored", "err", err) })
	}()
	return d
}

func (d *demoRunner) close() {
	d.stop()
	d.done.Wait()
}

// lastDemoSample finds the newest sample the demo wrote between from and
// to, if any.
func lastDemoSample(ctx context.Context, st *storage.Storage, from, to time.Time) (time.Time, bool) {
	q, err := st.Querier(from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return time.Time{}, false
	}
	defer q.Close()
	set := q.Select(ctx, false, nil,
		labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, "up"),
		labels.MustNewMatcher(labels.MatchEqual, "job", demo.Job),
		labels.MustNewMatcher(labels.MatchEqual, "instance", demo.Instance))
	var last int64
	found := false
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() != 0 {
			if t := it.AtT(); t > last {
				last, found = t, true
			}
		}
	}
	return time.UnixMilli(last), found
}
