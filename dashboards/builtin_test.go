package dashboards

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	grafana "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-monitoring/vigil/rules"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

func builtinDashboards(t *testing.T) map[string]*Dashboard {
	t.Helper()
	out := map[string]*Dashboard{}
	for name, raw := range Builtin() {
		d, err := Parse(raw, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = d
	}
	if len(out) != 2 {
		t.Fatalf("%d built-in dashboards, want System Overview and Business Metrics", len(out))
	}
	return out
}

// The built-ins decode strictly into Grafana's own dashboard schema (the
// Go types Grafana's foundation SDK generates from Grafana's schema, with
// every panel plugin's options): no unknown field, no missing required
// one, no wrong type. They reference no data source, so Grafana's import
// asks for none and the panels use Grafana's default data source; and
// they carry id null and a schemaVersion Grafana 10 and 11 take as is.
func TestBuiltinsMatchGrafanasSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for name, raw := range Builtin() {
		//lint:ignore SA1019 the classic model (v1) is the one Grafana 10 and 11 import and export; v2 is another format.
		var d grafana.Dashboard
		if err := noErrors(d.UnmarshalJSONStrict(raw)); err != nil {
			t.Errorf("%s does not decode strictly into Grafana's dashboard schema:\n%v", name, err)
			continue
		}
		if err := noErrors(d.Validate()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if d.Id != nil {
			t.Errorf("%s: id is %v, want null (Grafana assigns its own)", name, *d.Id)
		}
		if d.SchemaVersion != 39 {
			t.Errorf("%s: schemaVersion %v, want 39", name, d.SchemaVersion)
		}
		for _, needle := range []string{`"datasource": {"type": "prometheus"`, "${DS_", "__inputs"} {
			if strings.Contains(strings.Join(strings.Fields(string(raw)), " "), needle) {
				t.Errorf("%s references a data source (%s); Grafana would ask for one on import", name, needle)
			}
		}
	}
}

// noErrors makes the SDK's empty error list a nil error.
func noErrors(err error) error {
	if be, ok := err.(cog.BuildErrors); ok && len(be) == 0 {
		return nil
	}
	return err
}

// What the seed's dashboards must show, with the zone and firm variables
// and every panel type Vigil renders.
func TestBuiltinContents(t *testing.T) {
	ds := builtinDashboards(t)
	byUID := map[string]*Dashboard{}
	for _, d := range ds {
		byUID[d.UID] = d
	}
	want := map[string]string{SystemOverviewUID: "System Overview", BusinessMetricsUID: "Business Metrics"}
	types := map[string]bool{}
	for uid, title := range want {
		d := byUID[uid]
		if d == nil || d.Title != title {
			t.Fatalf("no built-in %q with uid %s", title, uid)
		}
		if d.Time.From != "now-6h" || d.Refresh == "" {
			t.Errorf("%s: time %+v refresh %q", uid, d.Time, d.Refresh)
		}
		var vars []string
		for _, v := range d.Templating.List {
			if v.Type != "query" || !v.Multi || !v.IncludeAll || !strings.HasPrefix(string(v.Query), "label_values(panic_requests_total") {
				t.Errorf("%s: variable %s is not a multi-value query variable with All over panic_requests_total: %+v", uid, v.Name, v)
			}
			vars = append(vars, v.Name)
		}
		if strings.Join(vars, ",") != "zone,firm_id" {
			t.Errorf("%s: variables %v, want zone and firm_id", uid, vars)
		}
		var titles []string
		for _, p := range d.AllPanels() {
			types[p.Type] = true
			titles = append(titles, p.Title)
			if p.Type != "row" && p.Type != "text" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", uid, p.Title)
			}
		}
		all := strings.ToLower(strings.Join(titles, "|"))
		for _, topic := range seedTopics[uid] {
			if !strings.Contains(all, topic) {
				t.Errorf("%s has no panel about %q (titles: %s)", uid, topic, all)
			}
		}
	}
	for _, typ := range []string{"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "text", "row"} {
		if !types[typ] {
			t.Errorf("no built-in panel of type %s", typ)
		}
	}
}

// seedTopics are words of the panel titles that the seed's list of what
// each dashboard shows requires.
var seedTopics = map[string][]string{
	SystemOverviewUID: {"request rate", "response time", "error rate", "login attempts", "lockouts", "targets",
		"database", "redis", "cache hit ratio", "websocket"},
	BusinessMetricsUID: {"panic requests by service type", "panic requests by status", "p95 by zone", "heatmap",
		"subscriptions by plan", "purchases", "prank detection", "credit transactions", "completion rate by firm"},
}

// Every query of the built-ins is PromQL over the catalogue's metrics, the
// built-in rules' recorded series and up, with only their labels.
func TestBuiltinQueriesUseTheCatalogue(t *testing.T) {
	known := catalogueLabels(t)
	p := parser.NewParser(parser.Options{})
	for name, d := range builtinDashboards(t) {
		var exprs []string
		for path, panel := range d.AllPanels() {
			for i, tg := range panel.Targets {
				exprs = append(exprs, fmt.Sprintf("%s.targets[%d]\x00%s", path, i, tg.Expr))
			}
		}
		for i, v := range d.Templating.List {
			_, arg, _ := variableFunction(string(v.Query))
			sel, _, _ := cutLastArg(arg)
			exprs = append(exprs, fmt.Sprintf("templating.list[%d].query\x00%s", i, sel))
		}
		for _, e := range exprs {
			where, expr, _ := strings.Cut(e, "\x00")
			expr = Interpolate(expr, func(r Reference) (string, bool) {
				if strings.HasPrefix(r.Name, "__") {
					return "5m", true
				}
				return "x", true
			})
			ast, err := p.ParseExpr(expr)
			if err != nil {
				t.Errorf("%s %s: %v", name, where, err)
				continue
			}
			used := map[string]bool{"job": true, "instance": true, "le": true}
			parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
				vs, ok := n.(*parser.VectorSelector)
				if !ok {
					return nil
				}
				ls, ok := known[vs.Name]
				if !ok {
					t.Errorf("%s %s: %s is neither a catalogue metric nor a recorded series of the built-in rules", name, where, vs.Name)
				}
				for _, l := range ls {
					used[l] = true
				}
				for _, m := range vs.LabelMatchers {
					if m.Name != model.MetricNameLabel && !slices.Contains(ls, m.Name) && m.Name != "job" && m.Name != "instance" {
						t.Errorf("%s %s: %s has no label %s (it has %v)", name, where, vs.Name, m.Name, ls)
					}
				}
				return nil
			})
			parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
				if a, ok := n.(*parser.AggregateExpr); ok {
					for _, g := range a.Grouping {
						if !used[g] {
							t.Errorf("%s %s: by (%s): no metric of the query has that label", name, where, g)
						}
					}
				}
				return nil
			})
		}
	}
}

// catalogueLabels maps the series names the dashboards may use to their
// labels: the catalogue's metrics (a histogram's _bucket, _sum and
// _count), up, and the built-in rules' recorded series, which keep the
// labels their aggregations group by.
func catalogueLabels(t *testing.T) map[string][]string {
	known := map[string][]string{"up": {"job", "instance"}}
	for _, m := range ingest.Catalogue() {
		if m.Type == ingest.Histogram {
			known[m.Name+"_bucket"] = append(slices.Clone(m.Labels), "le")
			known[m.Name+"_sum"], known[m.Name+"_count"] = m.Labels, m.Labels
		} else {
			known[m.Name] = m.Labels
		}
	}
	p := parser.NewParser(parser.Options{})
	groups, err := rules.Load(nil, true, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Record == "" {
				continue
			}
			ast, err := p.ParseExpr(r.Expr)
			if err != nil {
				t.Fatal(err)
			}
			by := map[string]bool{}
			parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
				if a, ok := n.(*parser.AggregateExpr); ok {
					for _, l := range a.Grouping {
						by[l] = l != "le"
					}
				}
				return nil
			})
			for l, keep := range by {
				if !keep {
					delete(by, l)
				}
			}
			known[r.Record] = slices.Sorted(maps.Keys(by))
		}
	}
	return known
}

// The built-ins' meta: read-only, dated from the store's start.
func TestBuiltinMeta(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := openTestStore(t, func() time.Time { return at })
	e, err := s.Get(BusinessMetricsUID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Meta != (Meta{UID: BusinessMetricsUID, Source: SourceBuiltin, ReadOnly: true, Created: at, Updated: at}) {
		t.Errorf("meta %+v", e.Meta)
	}
}
