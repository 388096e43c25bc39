package rules

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/vigil-monitoring/vigil/storage"
)

func openStore(t testing.TB) (*storage.Storage, *promql.Engine) {
	t.Helper()
	st, err := storage.Open(t.TempDir(), storage.Options{Retention: 100 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, promql.NewEngine(promql.EngineOpts{MaxSamples: 50e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
}

// pushCounters writes n series of metric name, labelled zone and firm, one
// sample every 15s from start for span, growing by i+1 per sample.
func pushCounters(t testing.TB, st *storage.Storage, name string, n int, start time.Time, span time.Duration) {
	t.Helper()
	var rows storage.Rows
	for i := range n {
		ls := []storage.Label{{Name: "__name__", Value: name}, {Name: "zone", Value: fmt.Sprintf("z%d", i%5)}, {Name: "firm_id", Value: fmt.Sprintf("f%d", i)}}
		var ss []storage.Sample
		for d, v := time.Duration(0), 0.0; d <= span; d, v = d+15*time.Second, v+float64(i+1) {
			ss = append(ss, storage.Sample{Timestamp: start.Add(d).UnixMilli(), Value: v})
		}
		if err := rows.AddSeries(ls, ss); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Append(&rows); err != nil {
		t.Fatal(err)
	}
	st.ForceFlush()
}

// aggManager is a manager at t0 over st with the group agg (interval 5m)
// recording zone:panic_requests:rate5m, whose rule entry ends with more,
// which may add to the rule or add rules.
func aggManager(t *testing.T, q QueryFunc, st Appender, more string) *Manager {
	t.Helper()
	m, err := NewManager(Options{Query: q, Appender: st, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := Parse("r.yml", []byte(`
groups:
  - name: agg
    interval: 5m
    rules:
      - record: zone:panic_requests:rate5m
        expr: sum by (zone) (rate(panic_requests_total[5m]))`+more), testParser)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Update(groups); err != nil {
		t.Fatal(err)
	}
	return m
}

// What a recording rule writes equals what the same query returns, at the
// group's timestamp, under the recorded name and with the rule's labels.
func TestRecordingOutputEqualsDirectQuery(t *testing.T) {
	st, engine := openStore(t)
	pushCounters(t, st, "panic_requests_total", 20, t0.Add(-time.Hour), time.Hour)
	q := EngineQuery(engine, st)
	m := aggManager(t, q, st, `
        labels:
          source: vigil
`)
	m.EvalAll(t0)
	st.ForceFlush()
	if n := metrics.GetOrCreateCounter(`vigil_rule_group_iterations_total{rule_group="r.yml;agg"}`).Get(); n < 1 {
		t.Errorf("self-metric of the group's evaluations: %d", n)
	}

	direct, err := q(context.Background(), `sum by (zone) (rate(panic_requests_total[5m]))`, t0)
	if err != nil || len(direct) != 5 {
		t.Fatalf("direct query: %v, %d series", err, len(direct))
	}
	recorded, err := q(context.Background(), `zone:panic_requests:rate5m`, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for _, s := range direct {
		b := labels.NewBuilder(s.Metric).Set("__name__", "zone:panic_requests:rate5m").Set("source", "vigil")
		want[b.Labels().String()] = s.F
	}
	if len(recorded) != len(want) {
		t.Fatalf("recorded %d series, want %d", len(recorded), len(want))
	}
	for _, s := range recorded {
		// The storage keeps values as decimals of 12 significant digits
		// (README, "Numbers are stored as decimals").
		if w, ok := want[s.Metric.String()]; !ok || math.Abs(w-s.F) > 1e-9*math.Abs(w) {
			t.Errorf("recorded %s = %v, direct query gives %v (found %v)", s.Metric, s.F, w, ok)
		}
	}
	// The samples carry the group's timestamp: nothing one second before.
	before, _ := q(context.Background(), `count_over_time(zone:panic_requests:rate5m[1m])`, t0.Add(-time.Second))
	if len(before) != 0 {
		t.Fatalf("recorded samples before the evaluation time: %v", before)
	}
	if g := m.Groups()[0]; g.Health != HealthGood || !g.LastEvaluation.Equal(t0) || g.Interval != 5*time.Minute {
		t.Fatalf("group status %+v", g)
	}
}

// A tick that comes while the group's previous evaluation runs is skipped
// and counted, never run alongside.
func TestTicksNeverOverlap(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	m, err := NewManager(Options{
		Query: func(ctx context.Context, q string, ts time.Time) (promql.Vector, error) {
			started <- struct{}{}
			<-release
			return nil, nil
		},
		Appender: &rowsSink{},
	})
	if err != nil {
		t.Fatal(err)
	}
	groups, _ := Parse("r.yml", []byte("groups:\n  - name: g\n    rules:\n      - record: x\n        expr: up\n"), testParser)
	m.Update(groups)
	g := m.groups[0]
	done := make(chan struct{})
	go func() { m.tick(g); close(done) }()
	<-started
	m.tick(g)
	m.tick(g)
	close(release)
	<-done
	if n := m.Groups()[0].MissedTicks; n != 2 {
		t.Fatalf("missed ticks %d, want 2", n)
	}
	m.Stop()
}
