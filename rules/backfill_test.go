package rules

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// BackfillRecordings stores, at every tick of each group's interval in the
// window, what the recording rule gives there, and evaluates no alert.
func TestBackfillRecordings(t *testing.T) {
	st, engine := openStore(t)
	pushCounters(t, st, "panic_requests_total", 10, t0.Add(-2*time.Hour), 2*time.Hour)
	q := EngineQuery(engine, st)
	m := aggManager(t, q, st, `
      - record: broken
        expr: panic_requests_total * on(zone) panic_requests_total
      - alert: Always
        expr: vector(1)
`)

	from, to := t0.Add(-time.Hour+time.Second), t0.Add(time.Minute)
	n, err := m.BackfillRecordings(context.Background(), from, to)
	// Ticks at -55m, -50m, ..., 0 and the end, +1m: 13, 5 zones each.
	if n != 13*5 {
		t.Errorf("stored %d samples, want 65", n)
	}
	if err == nil || strings.Count(err.Error(), "recording rule broken") != 1 {
		t.Errorf("the failing rule is not reported once: %v", err)
	}
	st.ForceFlush()
	counts, err := q(context.Background(), `count_over_time(zone:panic_requests:rate5m[1h])`, to)
	if err != nil || len(counts) != 5 {
		t.Fatalf("recorded series: %v %v", counts, err)
	}
	for _, s := range counts {
		if s.F != 13 {
			t.Errorf("%s has %v samples in the hour before the end, want 13 (the ticks from -55m to 0, and the end)", s.Metric, s.F)
		}
	}
	at := t0.Add(-30 * time.Minute)
	direct, _ := q(context.Background(), `sum(rate(panic_requests_total[5m]))`, at)
	recorded, _ := q(context.Background(), `sum(zone:panic_requests:rate5m)`, at)
	if len(direct) != 1 || len(recorded) != 1 || math.Abs(direct[0].F-recorded[0].F) > 1e-9*direct[0].F {
		t.Errorf("at -30m the recording gives %v, the query %v", recorded, direct)
	}
	if alerts, _ := q(context.Background(), `ALERTS`, t0); len(alerts) != 0 || len(m.ActiveAlerts()) != 0 {
		t.Errorf("the backfill evaluated alerts: %v", alerts)
	}
}
