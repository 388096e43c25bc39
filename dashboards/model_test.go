package dashboards

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// A Grafana 11 "export for sharing externally": __inputs, __requires and
// ${DS_PROMETHEUS} datasource placeholders, a collapsed row, a query
// variable in Grafana 10's object form.
func TestParseGrafanaExport(t *testing.T) {
	raw, err := os.ReadFile("testdata/grafana11-export.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(raw, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if d.UID != "panic-ops" || d.Title != "Panic operations" || d.Refresh != "1m" || d.SchemaVersion != 39 ||
		d.Time != (TimeRange{From: "now-1h", To: "now"}) || strings.Join(d.Tags, ",") != "panic,ops" {
		t.Errorf("dashboard fields: %+v", d)
	}
	var paths, exprs []string
	for path, p := range d.AllPanels() {
		paths = append(paths, path+" "+p.Type)
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if got := strings.Join(paths, "; "); got != "panels[0] stat; panels[1] timeseries; panels[2] row; panels[2].panels[0] timeseries" {
		t.Errorf("panels: %s", got)
	}
	if len(exprs) != 3 || !strings.Contains(exprs[2], "auth_login_attempts_total") {
		t.Errorf("targets: %q", exprs)
	}
	if row := d.Panels[2]; !row.Collapsed || row.GridPos != (GridPos{X: 0, Y: 6, W: 24, H: 1}) {
		t.Errorf("row: %+v", row)
	}
	v := d.Templating.List
	if len(v) != 1 || v[0].Name != "zone" || v[0].Query != "label_values(panic_requests_total,zone)" || !v[0].Multi || !v[0].IncludeAll {
		t.Errorf("variables: %+v", v)
	}
	if !bytes.Equal(d.JSON(), raw) {
		t.Error("JSON() is not the bytes parsed")
	}
}

// Each problem is named by its JSON path, and all of them are reported.
func TestValidationNamesTheField(t *testing.T) {
	panel := func(extra string) string {
		return `{"type": "timeseries", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8}` + extra + `}`
	}
	dash := func(panels string, extra string) string {
		return `{"title": "T", "panels": [` + panels + `]` + extra + `}`
	}
	tests := []struct {
		name, json string
		want       []string
	}{
		{"gridPos width", dash(panel("")+`, {"type": "stat", "gridPos": {"x": 0, "y": 8, "w": 25, "h": 4}}`, ""),
			[]string{"panels[1].gridPos.w: must be 1..24 (the grid has 24 columns), not 25"}},
		{"gridPos past the grid", dash(`{"type": "stat", "gridPos": {"x": 20, "y": 0, "w": 8, "h": 4}}`, ""),
			[]string{"panels[0].gridPos: x + w is 28; a panel must end within the 24 columns (x + w <= 24)"}},
		{"gridPos missing and of the wrong type", dash(`{"type": "stat"}, {"type": "stat", "gridPos": {"x": "0", "y": 0, "w": 4, "h": 0}}`, ""),
			[]string{`panels[0].gridPos: required: the panel's place, e.g. {"x": 0, "y": 0, "w": 12, "h": 8}`,
				"panels[1].gridPos.x: must be a number, not a string", "panels[1].gridPos.h: must be 1 or more, not 0"}},
		{"panel without type", dash(`{"gridPos": {"x": 0, "y": 0, "w": 4, "h": 4}}`, ""),
			[]string{"panels[0].type: required, e.g. timeseries, stat, table or row"}},
		{"bad PromQL", dash(panel("")+","+panel("")+","+panel(`, "targets": [{"refId": "A", "expr": "sum(rate(x[5m])"}]`), ""),
			[]string{"panels[2].targets[0].expr: parse error at char 16: unclosed left parenthesis"}},
		{"bad PromQL after a variable", dash(panel(`, "targets": [{"expr": "rate(http_requests_total{zone=~\"$zone\"}[$__rate_interval]) +"}]`), ""),
			[]string{"panels[0].targets[0].expr: parse error at char 61: unexpected end of input"}},
		{"bad PromQL on the second line", dash(panel(`, "targets": [{"expr": "sum by (zone) (\n  rate(x[5m]) +)"}]`), ""),
			[]string{"panels[0].targets[0].expr: parse error at line 2, char 16: unexpected \")\" in aggregation"}},
		{"bad query format", dash(panel(`, "targets": [{"expr": "up", "format": "graph", "instant": "yes"}]`), ""),
			[]string{"panels[0].targets[0].instant: must be true or false, not a string",
				`panels[0].targets[0].format: "graph" is not a query format; use one of time_series, table, heatmap`}},
		{"variable without name", dash("", `, "templating": {"list": [{"type": "query", "query": "label_values(up, job)"}, {"name": "job", "type": "custom"}, {"name": "job", "type": "qeury"}]}`),
			[]string{"templating.list[0].name: required",
				`templating.list[2].name: "job" is already the name of templating.list[1]`,
				`templating.list[2].type: "qeury" is not a variable type; use one of query, custom, constant, interval, textbox, datasource, adhoc, groupby, switch`}},
		{"variable query", dash("", `, "templating": {"list": [{"name": "x", "type": "query", "query": {"query": "label_values(up{job~\"a\"}, instance)"}}]}`),
			[]string{"templating.list[0].query.query: parse error at char 7: unexpected character inside braces: '~'"}},
		{"title missing", `{"panels": []}`, []string{"title: required: give the dashboard a title"}},
		{"uid", `{"title": "T", "uid": "a/b"}`, []string{`uid: "a/b" may hold only letters, digits, - and _`}},
		{"field config", dash(panel(`, "fieldConfig": {"defaults": {"decimals": -1, "min": "0", "thresholds": {"mode": "relative", "steps": [{"color": "green", "value": null}, {"color": "red", "value": null}]}}, "overrides": {}}`), ""),
			[]string{"panels[0].fieldConfig.defaults.min: must be a number or null, not a string",
				"panels[0].fieldConfig.defaults.decimals: must be 0 or more, not -1",
				`panels[0].fieldConfig.defaults.thresholds.mode: "relative": must be absolute or percentage`,
				"panels[0].fieldConfig.defaults.thresholds.steps[1].value: only the first step may have no value (it is the base)",
				"panels[0].fieldConfig.overrides: must be an array, not an object"}},
		{"rows", `{"title": "T", "panels": [{"type": "row", "collapsed": false, "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}, "panels": [` + panel("") + `]}, {"type": "row", "collapsed": true, "gridPos": {"x": 0, "y": 1, "w": 24, "h": 1}, "panels": [{"type": "row", "gridPos": {"x": 0, "y": 2, "w": 24, "h": 1}}]}]}`,
			[]string{"panels[0].panels: an expanded row (collapsed: false) holds no panels: they follow it in the top-level panels; set collapsed to true or move them out",
				"panels[1].panels[0]: a row inside a row; rows hold panels only at the top level"}},
		{"the row layout of Grafana 4", `{"title": "T", "rows": [{"panels": []}]}`,
			[]string{"rows: this dashboard uses the row layout of Grafana before 5.0 (schemaVersion < 16); open it in a current Grafana, save it and export it again"}},
		{"refresh", `{"title": "T", "refresh": 30}`, []string{`refresh: must be an interval such as "30s", or false; not a number`}},
		{"not an object", `[{"title": "T"}]`, []string{"a dashboard is a JSON object ({...}), not an array"}},
		{"malformed", "{\n  \"title\": \"T\",\n  \"panels\": [}\n}", []string{"malformed JSON at line 3, column 14: invalid character '}' looking for beginning of value"}},
		{"truncated", "{\n  \"title\": \"T\",", []string{"malformed JSON at line 2, column 16: the document ends before the dashboard object is closed"}},
		{"two documents", `{"title": "T"} {"title": "U"}`, []string{"malformed JSON at line 1, column 17: more after the end of the dashboard object; send one JSON object"}},
		{"empty", "  ", []string{"the body is empty; send the dashboard's JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json), nil)
			if !IsInvalid(err) {
				t.Fatalf("Parse = %v, want a validation error", err)
			}
			var got []string
			for _, p := range err.(*ValidationError).Problems {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// Grafana variables and macros stand wherever Grafana lets them: in
// strings, ranges, offsets, as numbers and names. None of these is refused.
func TestVariablesInPromQL(t *testing.T) {
	for _, expr := range []string{
		`sum(rate(panic_requests_total{zone=~"$zone", firm_id=~"${firm_id:regex}"}[$__rate_interval]))`,
		`rate(x[$__interval] offset $offset)`,
		`max_over_time(up[$__range:$__interval])`,
		`increase(x[${__range_s}s])`,
		`sum by ($label) (x) > $threshold`,
		`topk($n, $metric{job="[[job]]"})`,
		`x @ ${__to:date:seconds}`,
		`x / $__range_s`,
		"# the sum\nsum(x{a=\"$a\"}) # of x",
		`count_over_time(x[1h]) > $missing{`, // the error moves with the placeholder: it depends on the variable
	} {
		raw := `{"title": "T", "panels": [{"type": "stat", "gridPos": {"x": 0, "y": 0, "w": 4, "h": 4}, "targets": [{"expr": ` + jsonString(expr) + `}]}]}`
		if _, err := Parse([]byte(raw), nil); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestReferencesAndInterpolate(t *testing.T) {
	s := `a{z=~"$zone",f=~"${firm:regex}"}[$__rate_interval] [[old]] ${x.y:fmt}`
	var names []string
	for _, r := range References(s) {
		names = append(names, r.Name+":"+r.Format+"="+s[r.Start:r.End])
	}
	want := `zone:=$zone firm:regex=${firm:regex} __rate_interval:=$__rate_interval old:=[[old]] x:fmt=${x.y:fmt}`
	if strings.Join(names, " ") != want {
		t.Errorf("references: %s\nwant:       %s", strings.Join(names, " "), want)
	}
	got := Interpolate(s, func(r Reference) (string, bool) {
		switch r.Name {
		case "zone":
			return "(downtown|uptown)", true
		case "__rate_interval":
			return "1m", true
		}
		return "", false
	})
	if got != `a{z=~"(downtown|uptown)",f=~"${firm:regex}"}[1m] [[old]] ${x.y:fmt}` {
		t.Errorf("Interpolate = %s", got)
	}
}

// SetUID changes the uid and nothing else of the bytes; DecodeImport finds
// the dashboard inside Grafana's import body, byte for byte.
func TestSetUIDAndDecodeImport(t *testing.T) {
	raw := []byte("{\n  \"title\": \"T\",\n  \"x\": {\"uid\": \"inner\"},\n  \"uid\": null\n}")
	d, err := Parse(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := d.SetUID("abc")
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"title\": \"T\",\n  \"x\": {\"uid\": \"inner\"},\n  \"uid\": \"abc\"\n}"; string(d2.JSON()) != want || d2.UID != "abc" {
		t.Errorf("SetUID replacing null: %s", d2.JSON())
	}
	if string(d.JSON()) != string(raw) {
		t.Error("SetUID changed the original")
	}
	d3, _ := Parse([]byte(`{ "title": "T" }`), nil)
	if d3, _ = d3.SetUID("n"); string(d3.JSON()) != `{"uid":"n", "title": "T" }` {
		t.Errorf("SetUID adding the key: %s", d3.JSON())
	}

	export, _ := os.ReadFile("testdata/grafana11-export.json")
	body := append(append([]byte(`{"folderUid": "", "overwrite": true, "dashboard": `), export...), "}"...)
	inner, overwrite, err := DecodeImport(body)
	if err != nil || !overwrite || !bytes.Equal(inner, bytes.TrimSpace(export)) {
		t.Errorf("DecodeImport of the API body: overwrite %v, err %v, same bytes %v", overwrite, err, bytes.Equal(inner, bytes.TrimSpace(export)))
	}
	inner, overwrite, err = DecodeImport(export)
	if err != nil || overwrite || !bytes.Equal(inner, export) {
		t.Errorf("DecodeImport of a plain dashboard: overwrite %v, err %v", overwrite, err)
	}
	if _, _, err := DecodeImport([]byte(`{"dashboard": {"title": "T"}, "overwrite": "yes"}`)); err == nil || err.Error() != "overwrite: must be true or false" {
		t.Errorf("DecodeImport of a bad overwrite: %v", err)
	}
}
