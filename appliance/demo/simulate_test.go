package demo

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-monitoring/vigil/internal/clock"
	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
	"github.com/vigil-monitoring/vigil/web"
)

// runFor runs Simulate on clk from its current time: it waits for the
// backfill, lets the clock pass steps live steps, then stops the run.
func runFor(t *testing.T, target Target, st *storage.Storage, clk *clock.Fake, backfill time.Duration, steps int, events bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	backfilled := make(chan struct{})
	done := make(chan error, 1)
	// As the appliance does: the recorder must see the history it goes on from.
	opts := Options{Backfill: backfill, Clock: clk, Seed: 7, Backfilled: func(time.Time, time.Time, time.Duration) { st.ForceFlush(); close(backfilled) }}
	if events {
		// A new recorder, as after a restart of Vigil.
		rec := ingest.NewRecorder(st, clk.Now)
		opts.Live.Events = func(ctx context.Context, kind ingest.EventKind, body []byte) error {
			_, _, err := rec.Record(ctx, kind, bytes.NewReader(body))
			return err
		}
	}
	go func() { done <- Simulate(ctx, target, opts) }()
	select {
	case <-backfilled:
	case err := <-done:
		t.Fatalf("Simulate stopped during the backfill: %v", err)
	}
	for range steps {
		for clk.Waiters() == 0 {
			time.Sleep(time.Millisecond)
		}
		clk.Advance(Step)
	}
	for clk.Waiters() == 0 { // the last step is written
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Simulate = %v, want context.Canceled", err)
	}
	st.ForceFlush()
}

// checkContinuous reads every series of the demo and fails on a counter
// that goes down (a reset for rate()) or a timestamp written twice; it
// returns the times of the demo API's up samples.
func checkContinuous(t *testing.T, st *storage.Storage, to time.Time) []int64 {
	t.Helper()
	q, err := st.Querier(0, to.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var up []int64
	checked := 0
	for _, m := range []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchEqual, "job", Job),
		labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, eventNamesRE()),
	} {
		set := q.Select(context.Background(), false, nil, m)
		for set.Next() {
			ls := set.At().Labels()
			name := ls.Get(model.MetricNameLabel)
			counter := strings.HasSuffix(name, "_total") || strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count")
			it := set.At().Iterator(nil)
			var lastT int64 = math.MinInt64
			lastV := 0.0
			for it.Next() != 0 {
				ts, v := it.At()
				if ts <= lastT {
					t.Fatalf("%s: a sample at %d after one at %d", ls, ts, lastT)
				}
				if counter && v < lastV {
					t.Fatalf("%s goes down from %v to %v at %s: a counter reset", ls, lastV, v, time.UnixMilli(ts).UTC())
				}
				lastT, lastV = ts, v
				if name == "up" && ls.Get("instance") == Instance {
					up = append(up, ts)
				}
			}
			if counter {
				checked++
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("checked %d counter series, want the demo's 1,000 and more", checked)
	}
	return up
}

// TestSimulateResumes stops and restarts the demo twice, on a target in
// the same process (its live steps as rows, or in part as events through
// the event API's recorder) and on one over HTTP: after a short gap it
// backfills exactly the steps missed; after one longer than its backfill
// it skips the gap; in every case every counter goes on from its stored
// value.
func TestSimulateResumes(t *testing.T) {
	for _, tc := range []struct {
		name           string
		remote, events bool
	}{{"local", false, false}, {"local with events", false, true}, {"remote", true, false}} {
		remote := tc.remote
		t.Run(tc.name, func(t *testing.T) {
			st, _ := openStore(t)
			var target Target = Local{Storage: st}
			if remote {
				engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
				srv := httptest.NewServer(web.New(web.Options{}, web.Deps{Storage: st, Engine: engine, Parser: parser.NewParser(parser.Options{})}))
				defer srv.Close()
				target = &Remote{URL: srv.URL, Client: http.DefaultClient}
			}
			start := anchor
			clk := clock.NewFake(start)
			runFor(t, target, st, clk, time.Hour, 4, tc.events)
			up := checkContinuous(t, st, clk.Now())
			if want := int(time.Hour/Step) + 1 + 4; len(up) != want {
				t.Fatalf("first run: %d steps, want %d", len(up), want)
			}

			// Ten minutes later: the 40 steps missed are backfilled.
			clk.Advance(10 * time.Minute)
			runFor(t, target, st, clk, time.Hour, 2, tc.events)
			up2 := checkContinuous(t, st, clk.Now())
			if want := len(up) + 40 + 2; len(up2) != want {
				t.Fatalf("after a 10-minute gap: %d steps, want %d", len(up2), want)
			}
			for i := 1; i < len(up2); i++ {
				if up2[i]-up2[i-1] != Step.Milliseconds() {
					t.Fatalf("a hole between steps %d and %d", up2[i-1], up2[i])
				}
			}

			// Three hours later, with a one-hour backfill: a gap, no reset.
			clk.Advance(3 * time.Hour)
			runFor(t, target, st, clk, time.Hour, 1, tc.events)
			up3 := checkContinuous(t, st, clk.Now())
			if want := len(up2) + int(time.Hour/Step) + 1 + 1; len(up3) != want {
				t.Fatalf("after a 3-hour gap: %d steps, want %d", len(up3), want)
			}
		})
	}
}
