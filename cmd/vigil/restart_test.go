//go:build unix

package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// What survives a restart: every acknowledged sample, whether Vigil was
// stopped gracefully or killed.

// The data set of TestRestartKeepsEverySample: restartSeries series of
// restartSamples samples each, restartStep apart.
const (
	restartSeries   = 200
	restartSamples  = 120
	restartStep     = 15 * time.Second
	restartPerWrite = 20 // series per remote write request
)

// restartValue is the value of sample i of series s: unique, and exact in
// binary floating point.
func restartValue(s, i int) float64 { return float64(s*1000+i) + 0.125 }

func TestRestartKeepsEverySample(t *testing.T) {
	v := startProofVigil(t, "")
	end := time.Now().Add(-time.Second).Truncate(time.Second)
	start := end.Add(-(restartSamples - 1) * restartStep)

	for first := 0; first < restartSeries; first += restartPerWrite {
		req := &prompb.WriteRequest{}
		for s := first; s < first+restartPerWrite; s++ {
			ts := proofSeries("__name__", "vigil_restart_sample", "series", fmt.Sprintf("%03d", s), "job", "restart")
			for i := range restartSamples {
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: start.Add(time.Duration(i) * restartStep).UnixMilli(), Value: restartValue(s, i)})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		v.mustWrite(t, req)
	}
	// No flush and no query: the graceful stop alone must make the last
	// acknowledged sample durable.
	stopped := time.Now()
	v.Stop()
	t.Logf("graceful stop took %s", time.Since(stopped).Round(time.Millisecond))

	v = startProofVigil(t, v.DataDir)
	ctx := context.Background()
	// A graceful stop writes everything to the store's files and clears
	// the write-ahead log: what follows comes from the store itself.
	if strings.Contains(v.Stderr(), "replayed the write-ahead log") {
		t.Errorf("the start after a graceful stop replayed the write-ahead log:\n%s", v.Stderr())
	}

	// Every series has every sample...
	got, _, _, err := v.API.Query(ctx, `count_over_time(vigil_restart_sample[1h])`, end)
	if err != nil {
		t.Fatal(err)
	}
	vec := got.(model.Vector)
	if len(vec) != restartSeries {
		t.Errorf("after the restart %d series, want %d", len(vec), restartSeries)
	}
	total := 0
	for _, s := range vec {
		total += int(s.Value)
		if s.Value != restartSamples {
			t.Errorf("series %s has %v samples, want %d", s.Metric["series"], s.Value, restartSamples)
		}
	}
	t.Logf("after the restart: %d series, %d samples", len(vec), total)

	// ...with its exact value and timestamp.
	got, _, _, err = v.API.QueryRange(ctx, `vigil_restart_sample`, promv1.Range{Start: start, End: end, Step: restartStep})
	if err != nil {
		t.Fatal(err)
	}
	m := got.(model.Matrix)
	if len(m) != restartSeries {
		t.Fatalf("query_range: %d series, want %d", len(m), restartSeries)
	}
	wrong := 0
	for _, ss := range m {
		s, err := strconv.Atoi(string(ss.Metric["series"]))
		if err != nil {
			t.Fatalf("unexpected series %v", ss.Metric)
		}
		if len(ss.Values) != restartSamples {
			t.Errorf("series %03d: %d points, want %d", s, len(ss.Values), restartSamples)
			continue
		}
		for i, p := range ss.Values {
			wantT := start.Add(time.Duration(i) * restartStep)
			if !p.Timestamp.Time().Equal(wantT) || float64(p.Value) != restartValue(s, i) {
				if wrong++; wrong <= 10 {
					t.Errorf("series %03d point %d = %v, want %v @ %d", s, i, p, restartValue(s, i), wantT.UnixMilli())
				}
			}
		}
	}
	if wrong > 10 {
		t.Errorf("... %d wrong points in all", wrong)
	}
	v.Stop()
}

// The kill -9 test. Writers send small remote write batches without pause,
// as the shards of a Prometheus remote-write queue do; each acknowledged
// batch is recorded; the process is killed while they run.
//
// VictoriaMetrics alone keeps accepted rows in process memory for a while
// (pending rows for up to 2 s, then in-memory parts written to disk on a
// 5 s ticker, 5 s after they were made): without the write-ahead log a kill
// -9 lost the last 8 to 12 s of acknowledged samples. Since the
// write-ahead log (storage/wal.go) every acknowledged sample is written to
// the OS before the 204, so a killed process must lose none.
const (
	killWriters         = 4
	killSeriesPerWriter = 4
	killPace            = 5 * time.Millisecond // at most one batch per writer per killPace
	// killAfter is how long the writers run before the kill: longer than
	// the log's 10 s segment rotation, so that replay reads a closed
	// segment and the current one.
	killAfter = 12 * time.Second
	killBase  = 40 // samples per series written and flushed before the writers start
)

// killBatch is one acknowledged batch of a writer: one sample of value seq
// at ts on each of the writer's series.
type killBatch struct {
	writer, seq int
	ts          int64 // Unix milliseconds
	acked       time.Time
}

func killSeriesName(w, s int) string { return fmt.Sprintf("w%d-s%d", w, s) }

func TestKill9LosesNoAcknowledgedSample(t *testing.T) {
	v := startProofVigil(t, "")
	ctx := context.Background()

	// A baseline, written and flushed before the writers start.
	baseEnd := time.Now().Add(-time.Minute).Truncate(time.Second)
	baseStart := baseEnd.Add(-(killBase - 1) * time.Second)
	base := &prompb.WriteRequest{}
	for w := range killWriters {
		for s := range killSeriesPerWriter {
			ts := proofSeries("__name__", "vigil_kill_base", "series", killSeriesName(w, s))
			for i := range killBase {
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: baseStart.Add(time.Duration(i) * time.Second).UnixMilli(), Value: float64(i)})
			}
			base.Timeseries = append(base.Timeseries, ts)
		}
	}
	v.mustWrite(t, base)
	v.flush(t)

	// The writers. Each stops at its first failed request, or when told.
	var (
		acked    [killWriters][]killBatch // acked[w] is written by writer w only, read after wg.Wait
		stopped  [killWriters]error       // why writer w stopped
		wg       sync.WaitGroup
		stop     = make(chan struct{})
		failedCh = make(chan int, killWriters)
	)
	for w := range killWriters {
		wg.Go(func() {
			pace := time.NewTicker(killPace)
			defer pace.Stop()
			var lastTs int64
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				case <-pace.C:
				}
				ts := max(time.Now().UnixMilli(), lastTs+1)
				lastTs = ts
				req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, killSeriesPerWriter)}
				for s := range killSeriesPerWriter {
					req.Timeseries[s] = proofSeries("__name__", "vigil_kill_seq", "series", killSeriesName(w, s))
					req.Timeseries[s].Samples = []prompb.Sample{{Timestamp: ts, Value: float64(seq)}}
				}
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := v.write(wctx, req)
				cancel()
				if err != nil {
					stopped[w] = err
					failedCh <- w
					return
				}
				acked[w] = append(acked[w], killBatch{writer: w, seq: seq, ts: ts, acked: time.Now()})
			}
		})
	}

	select {
	case w := <-failedCh:
		close(stop)
		wg.Wait()
		t.Fatalf("writer %d failed before the kill: %v", w, stopped[w])
	case <-time.After(killAfter):
	}
	killedAt := time.Now()
	v.Signal(syscall.SIGKILL)
	code := v.Wait(10 * time.Second)
	close(stop)
	wg.Wait()
	var batches []killBatch
	for w := range killWriters {
		batches = append(batches, acked[w]...)
	}
	t.Logf("killed (exit code %d) after %d acknowledged batches; the writers stopped on: %v", code, len(batches), stopped)
	if len(batches) < 100 {
		t.Fatalf("only %d batches acknowledged in %s", len(batches), killAfter)
	}

	// The store reopens cleanly on the same data directory, with every
	// acknowledged sample.
	v = startProofVigil(t, v.DataDir)
	logReplay(t, v)
	checkKillSurvivors(t, v, batches, killedAt, baseEnd)

	// Killed again at once, before the replayed rows can have reached the
	// store's files: the log must still have them.
	killedAt = time.Now()
	v.Signal(syscall.SIGKILL)
	v.Wait(10 * time.Second)
	v = startProofVigil(t, v.DataDir)
	logReplay(t, v)
	checkKillSurvivors(t, v, batches, killedAt, baseEnd)

	// The reopened store takes writes and serves them.
	v.mustWrite(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "vigil_kill_after"}},
		Samples: []prompb.Sample{{Timestamp: time.Now().UnixMilli(), Value: 1}},
	}}})
	v.flush(t)
	proofWait(t, 10*time.Second, func() error {
		got, _, _, err := v.API.Query(ctx, `vigil_kill_after`, time.Now())
		if err != nil {
			return err
		}
		if vec := got.(model.Vector); len(vec) != 1 {
			return fmt.Errorf("vigil_kill_after = %v, want one sample", vec)
		}
		return nil
	})
	v.Stop()
}

// logReplay logs what the write-ahead log says it replayed at start-up.
func logReplay(t *testing.T, v *proofVigil) {
	t.Helper()
	for line := range strings.Lines(v.Stderr()) {
		if strings.Contains(line, "write-ahead log") {
			t.Log("vigil: " + strings.TrimSpace(line))
		}
	}
}

// checkKillSurvivors compares what the restarted v holds with the batches
// the writers saw acknowledged before the kill at killedAt: it logs how
// many are lost and when they were acknowledged, and fails on any loss,
// duplicate or wrong value, and unless the baseline ending at baseEnd is
// whole.
func checkKillSurvivors(t *testing.T, v *proofVigil, batches []killBatch, killedAt, baseEnd time.Time) {
	t.Helper()
	ctx := context.Background()
	v.flush(t)
	total := killWriters * killSeriesPerWriter

	got, _, _, err := v.API.Query(ctx, `count_over_time(vigil_kill_base[10m])`, baseEnd)
	if err != nil {
		t.Fatal(err)
	}
	if vec := got.(model.Vector); len(vec) != total || slices.ContainsFunc(vec, func(s *model.Sample) bool { return s.Value != killBase }) {
		t.Errorf("the baseline flushed %s before the kill is damaged: %v", killedAt.Sub(baseEnd).Round(time.Second), vec)
	}

	// Every raw sample of the writers' time range.
	first, last := batches[0].ts, batches[0].ts
	for _, b := range batches {
		first, last = min(first, b.ts), max(last, b.ts)
	}
	evalAt := last + 1000
	got, _, _, err = v.API.Query(ctx, fmt.Sprintf(`vigil_kill_seq[%dms]`, evalAt-first+1000), time.UnixMilli(evalAt))
	if err != nil {
		t.Fatal(err)
	}
	present := make(map[string]map[int64]float64, total) // series -> ts -> value
	for _, ss := range got.(model.Matrix) {
		byTs := make(map[int64]float64, len(ss.Values))
		for _, p := range ss.Values {
			byTs[int64(p.Timestamp)] = float64(p.Value)
		}
		if len(byTs) != len(ss.Values) {
			t.Errorf("series %s has %d samples at %d timestamps: duplicates", ss.Metric["series"], len(ss.Values), len(byTs))
		}
		present[string(ss.Metric["series"])] = byTs
	}

	var (
		lost, wrong            int
		newestLost, oldestLost time.Time
	)
	for _, b := range batches {
		for s := range killSeriesPerWriter {
			name := killSeriesName(b.writer, s)
			got, ok := present[name][b.ts]
			switch {
			case !ok:
				if lost == 0 || b.acked.Before(oldestLost) {
					oldestLost = b.acked
				}
				if lost == 0 || b.acked.After(newestLost) {
					newestLost = b.acked
				}
				lost++
			case got != float64(b.seq):
				if wrong++; wrong <= 10 {
					t.Errorf("series %s at %d = %v, want %d", name, b.ts, got, b.seq)
				}
			}
		}
	}
	acked := len(batches) * killSeriesPerWriter
	if lost == 0 {
		t.Logf("kill -9: lost 0 of %d acknowledged samples", acked)
		return
	}
	t.Errorf("kill -9: lost %d of %d acknowledged samples; newest lost sample acknowledged %d ms before the kill; oldest lost sample acknowledged %d ms before the kill; with the write-ahead log none may be lost",
		lost, acked, killedAt.Sub(newestLost).Milliseconds(), killedAt.Sub(oldestLost).Milliseconds())
	if wrong > 0 {
		t.Errorf("%d samples came back with a wrong value", wrong)
	}
}
