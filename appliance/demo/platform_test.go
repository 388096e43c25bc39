package demo

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-monitoring/vigil/rules"
	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// anchor is a weekday afternoon, near the daily peak.
var anchor = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

func openStore(t *testing.T) (*storage.Storage, *promql.Engine) {
	t.Helper()
	st, err := storage.Open(t.TempDir(), storage.Options{Retention: 100 * 365 * 24 * time.Hour, NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, promql.NewEngine(promql.EngineOpts{MaxSamples: 50e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
}

// TestCatalogueCovered checks that the demo writes every metric of the
// catalogue with exactly the catalogue's labels (plus job and instance).
func TestCatalogueCovered(t *testing.T) {
	p := New(anchor, 1)
	var rows storage.Rows
	if err := p.Advance(anchor, &rows); err != nil {
		t.Fatal(err)
	}
	if err := p.Advance(anchor.Add(Step), &rows); err != nil {
		t.Fatal(err)
	}
	seen := map[string][]string{} // series name -> its label names
	rows.ForEach(func(ls []storage.Label, _ int64, _ float64) {
		var names []string
		for _, l := range ls[1:] {
			if l.Name != "job" && l.Name != "instance" && l.Name != "le" {
				names = append(names, l.Name)
			}
		}
		sort.Strings(names)
		seen[ls[0].Value] = names
	})
	for _, m := range ingest.Catalogue() {
		want := slices.Clone(m.Labels)
		sort.Strings(want)
		names := []string{m.Name}
		if m.Type == ingest.Histogram {
			names = []string{m.Name + "_bucket", m.Name + "_sum", m.Name + "_count"}
		}
		for _, n := range names {
			got, ok := seen[n]
			if !ok {
				t.Errorf("the demo does not write %s", n)
				continue
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s has labels %v, want %v", n, got, want)
			}
		}
	}
	if _, ok := seen["up"]; !ok {
		t.Error("the demo does not write up, which ServiceDown reads")
	}
}

// TestIncidentsFireTheBuiltinAlerts runs the demo in accelerated time:
// two hours of history, then the first 100 minutes of the incident script,
// with the built-in rules evaluated against the stored samples every
// minute (recording rules every 5 minutes, as their group says). Every
// built-in alert must fire, and none may be firing just before the script
// starts.
func TestIncidentsFireTheBuiltinAlerts(t *testing.T) {
	st, engine := openStore(t)
	p := New(anchor, 42)
	if _, err := p.Backfill(context.Background(), st, anchor.Add(-2*time.Hour), anchor.Add(100*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	st.ForceFlush()

	groups, err := rules.Load(nil, true, parser.NewParser(parser.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	type alertRule struct {
		name string
		expr string
		for_ time.Duration
	}
	type recordRule struct{ name, expr string }
	var alerts []alertRule
	var records []recordRule
	for _, g := range groups {
		if g.File != rules.BuiltinPrefix+"panic_platform.yml" {
			continue // Vigil's own alerts (remote write) watch Vigil, not the platform
		}
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, alertRule{r.Alert, r.Expr, time.Duration(r.For)})
			} else {
				records = append(records, recordRule{r.Record, r.Expr})
			}
		}
	}
	if len(alerts) < 9 {
		t.Fatalf("found %d built-in alerts, want at least the 9 of DESIGN.md", len(alerts))
	}
	query := rules.EngineQuery(engine, st)
	ctx := context.Background()

	pendingSince := map[string]time.Time{} // alert name + labels -> when true first
	fired := map[string]time.Time{}        // alert name -> first firing time
	firingAt := func(at time.Time) []string {
		var names []string
		for key, since := range pendingSince {
			for _, a := range alerts {
				if len(key) > len(a.name) && key[:len(a.name)+1] == a.name+"\x00" && !at.Before(since.Add(a.for_)) {
					names = append(names, a.name)
				}
			}
		}
		return names
	}
	for at := anchor.Add(-40 * time.Minute); !at.After(anchor.Add(100 * time.Minute)); at = at.Add(time.Minute) {
		if at.Sub(anchor)%(5*time.Minute) == 0 {
			var rows storage.Rows
			for _, r := range records {
				v, err := query(ctx, r.expr, at)
				if err != nil {
					t.Fatalf("%s at %s: %v", r.name, at, err)
				}
				for _, s := range v {
					ls := []storage.Label{{Name: "__name__", Value: r.name}}
					s.Metric.Range(func(l labels.Label) {
						if l.Name != model.MetricNameLabel {
							ls = append(ls, storage.Label{Name: l.Name, Value: l.Value})
						}
					})
					if err := rows.AddSeries(ls, []storage.Sample{{Timestamp: at.UnixMilli(), Value: s.F}}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := st.Append(&rows); err != nil {
				t.Fatal(err)
			}
			st.ForceFlush()
		}
		active := map[string]bool{}
		for _, a := range alerts {
			v, err := query(ctx, a.expr, at)
			if err != nil {
				t.Fatalf("%s at %s: %v", a.name, at, err)
			}
			for _, s := range v {
				key := a.name + "\x00" + s.Metric.String()
				active[key] = true
				if _, ok := pendingSince[key]; !ok {
					pendingSince[key] = at
				}
			}
		}
		for key := range pendingSince {
			if !active[key] {
				delete(pendingSince, key)
			}
		}
		firing := firingAt(at)
		if at.Equal(anchor) && len(pendingSince) != 0 {
			t.Errorf("alerts pending or firing before the incident script starts: %v", firing)
		}
		for _, name := range firing {
			if _, ok := fired[name]; !ok {
				fired[name] = at
				t.Logf("%-24s fires at +%s", name, at.Sub(anchor))
			}
		}
		if at.Equal(anchor.Add(20*time.Minute)) && slices.Contains(firing, "DatabaseConnectionLost") {
			t.Error("DatabaseConnectionLost still fires 10 minutes after the outage ended")
		}
	}
	for _, a := range alerts {
		if _, ok := fired[a.name]; !ok {
			t.Errorf("%s never fired", a.name)
		}
	}
}
