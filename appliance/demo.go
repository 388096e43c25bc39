package appliance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-monitoring/vigil/appliance/demo"
	"github.com/vigil-monitoring/vigil/internal/clock"
	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// defaultDemoBackfill is how much history --demo writes at its first
// start, so that the dashboards, the day's summaries and the rate
// windows of the rules have data at once.
const defaultDemoBackfill = 24 * time.Hour

// demoRunner runs the simulated Panic platform of --demo in the
// appliance's own storage.
type demoRunner struct {
	stop context.CancelFunc
	done sync.WaitGroup
}

// startDemo starts the simulation in the background. A restart on the
// same data directory resumes it: the counters go on from their stored
// values and only the gap since the last step is backfilled, so that no
// timestamp is written twice and rate() sees no reset. afterBackfill, if
// not nil, runs once the history is written and searchable, with its time
// range (the recording rules record that history too).
//
// The live steps go in as the real platform's would: the panic requests,
// logins and notifications as events through rec, the event API's
// recorder, and the rest scraped from exporter.
func startDemo(st *storage.Storage, rec *ingest.Recorder, exporter *demo.Exporter, clk clock.Clock, backfill time.Duration, log *slog.Logger, afterBackfill func(ctx context.Context, from, to time.Time)) *demoRunner {
	log = log.With("component", "demo")
	ctx, cancel := context.WithCancel(context.Background())
	d := &demoRunner{stop: cancel}
	st.AppendMetadata(demo.Metadata())
	lastPct := -1
	opts := demo.Options{
		Backfill: backfill,
		Clock:    clk,
		Seed:     uint64(clk.Now().Unix()),
		Log:      log,
		Progress: func(done, total int) {
			if pct := done * 100 / total; pct/25 != lastPct/25 || done == total {
				lastPct = pct
				log.Info("demo backfill", "progress", fmt.Sprintf("%d%%", pct), "steps", fmt.Sprintf("%d/%d", done, total))
			}
		},
		Live: demo.Live{
			Events: func(ctx context.Context, kind ingest.EventKind, body []byte) error {
				_, _, err := rec.Record(ctx, kind, bytes.NewReader(body))
				return err
			},
			Exporter: exporter,
		},
		Backfilled: func(from, to time.Time, took time.Duration) {
			st.ForceFlush()
			if afterBackfill != nil && !to.Before(from) {
				afterBackfill(ctx, from, to)
			}
			log.Info("demo backfill done; live steps every 15s: events through the event API, the rest scraped from the demo exporter", "steps", demo.Steps(from, to), "took", took.Round(time.Millisecond))
		},
	}
	d.done.Add(1)
	go func() {
		defer d.done.Done()
		if err := demo.Simulate(ctx, demo.Local{Storage: st}, opts); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("the demo stopped", "err", err)
		}
	}()
	return d
}

func (d *demoRunner) close() {
	d.stop()
	d.done.Wait()
}
