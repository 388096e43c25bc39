package appliance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-monitoring/vigil/dashboards"
)

// apiGet calls a GET endpoint of the Prometheus-style API and decodes its
// data, failing the test on anything but success.
func apiGet(t *testing.T, base, path string, params url.Values, data any) {
	t.Helper()
	u := base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status != "success" {
		t.Fatalf("GET %s: %s %s", u, resp.Status, body)
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// series is a query result: instant samples or range values.
type series struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
	Values [][]any           `json:"values"`
}

// TestBuiltinDashboardsShowDemoData runs every query of the built-in
// dashboards, as Grafana would send it over the last hour, against a
// Vigil running --demo: with the zone and firm variables set to All and
// to one zone and one of its firms, each query gives at least one series
// with points.
func TestBuiltinDashboardsShowDemoData(t *testing.T) {
	cfg := testConfig(t)
	cfg.Demo = true
	cfg.DemoBackfill = Duration(3 * time.Hour) // of the default 24h: the panels show the last hour
	started := time.Now()
	a := startAppliance(t, cfg)
	base := a.URL()

	// The backfill writes three hours, a sample every 15s (720), then the
	// recording rules record them every 5 minutes (36 times). Live steps
	// take over from there; under load a few may come late, so a little
	// less than all of it is enough. On a loaded 2-core CI machine the
	// backfill takes minutes.
	const wait = 6 * time.Minute
	deadline := time.Now().Add(wait)
	for {
		var up, recorded struct {
			Result []series `json:"result"`
		}
		apiGet(t, base, "/api/v1/query", url.Values{"query": {`count_over_time(up{job="panic-platform",instance="demo-api:8000"}[3h])`}}, &up)
		apiGet(t, base, "/api/v1/query", url.Values{"query": {`count_over_time(zone:prank_detections:ratio_rate1h[3h])`}}, &recorded)
		full := len(up.Result) == 1 && sampleValue(t, up.Result[0]) >= 700 && len(recorded.Result) == 5
		for _, s := range recorded.Result {
			full = full && sampleValue(t, s) >= 34
		}
		if full {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo's backfill and its recordings are not all there after %s: samples of up in the last 3h %v (want 700 or more), of the recorded zone:prank_detections:ratio_rate1h %v (want 5 zones with 34 or more)", wait, up.Result, recorded.Result)
		}
		time.Sleep(time.Second)
	}

	// The recordings reach the present: before the first live evaluation
	// (5 minutes after the start) the recorded series are fresh already.
	if time.Since(started) < 4*time.Minute {
		var v struct {
			Result []series `json:"result"`
		}
		apiGet(t, base, "/api/v1/query", url.Values{"query": {`count(firm:panic_service_completions:rate1h) > 0 and on() count(zone:prank_detections:ratio_rate1h) == 5`}}, &v)
		if len(v.Result) != 1 {
			t.Errorf("the recorded series have no sample within the lookback before the first live evaluation: %+v", v.Result)
		}
	}

	end := time.Now()
	for _, uid := range []string{dashboards.SystemOverviewUID, dashboards.BusinessMetricsUID} {
		var got struct {
			Dashboard json.RawMessage `json:"dashboard"`
		}
		apiGet(t, base, "/api/v1/dashboards/"+uid, nil, &got)
		d, err := dashboards.Parse(got.Dashboard, nil)
		if err != nil {
			t.Fatalf("%s: %v", uid, err)
		}
		for _, choice := range []string{"All", "one"} {
			vars := resolveVariables(t, base, d, choice == "All")
			t.Logf("%s with %s: %v", uid, choice, vars)
			queries := 0
			for path, p := range d.AllPanels() {
				for i, tg := range p.Targets {
					if tg.Expr == "" || tg.Hide {
						continue
					}
					queries++
					expr := grafanaInterpolate(tg.Expr, vars)
					where := fmt.Sprintf("%s %s.targets[%d] (%q, %s)", uid, path, i, p.Title, choice)
					if n := pointsOf(t, base, expr, tg.Instant, end); n == 0 {
						t.Errorf("%s: no data over the last hour: %s", where, expr)
					}
				}
			}
			if queries < 20 {
				t.Errorf("%s: only %d queries", uid, queries)
			}
		}
	}
}

// resolveVariables gives each variable of d its value as Grafana would
// send it: all values of its label_values query joined as a regex (All),
// or the first one. Variables are resolved in order, so that firm_id's
// query sees the zone chosen.
func resolveVariables(t *testing.T, base string, d *dashboards.Dashboard, all bool) map[string]string {
	t.Helper()
	vars := map[string]string{}
	re := regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)
	for _, v := range d.Templating.List {
		m := re.FindStringSubmatch(string(v.Query))
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(selector, label)", v.Name, v.Query)
		}
		var values []string
		apiGet(t, base, "/api/v1/label/"+m[2]+"/values", url.Values{"match[]": {grafanaInterpolate(m[1], vars)}}, &values)
		if len(values) == 0 {
			t.Fatalf("variable %s: no values for %s", v.Name, v.Query)
		}
		if all {
			for i, val := range values {
				values[i] = regexp.QuoteMeta(val)
			}
			vars[v.Name] = "(" + strings.Join(values, "|") + ")"
		} else {
			vars[v.Name] = regexp.QuoteMeta(values[0])
		}
	}
	return vars
}

// grafanaInterpolate replaces variables and the macros as Grafana does
// for the last hour at a 15 s step.
func grafanaInterpolate(expr string, vars map[string]string) string {
	macros := map[string]string{"__rate_interval": "1m", "__interval": "15s", "__range": "1h", "__range_s": "3600", "__interval_ms": "15000"}
	return dashboards.Interpolate(expr, func(r dashboards.Reference) (string, bool) {
		if v, ok := macros[r.Name]; ok {
			return v, true
		}
		v, ok := vars[r.Name]
		return v, ok
	})
}

// pointsOf runs expr as an instant query at end or a range query over the
// hour before it and counts the points of its series.
func pointsOf(t *testing.T, base, expr string, instant bool, end time.Time) int {
	t.Helper()
	var res struct {
		Result []series `json:"result"`
	}
	ts := fmt.Sprint(end.Unix())
	if instant {
		apiGet(t, base, "/api/v1/query", url.Values{"query": {expr}, "time": {ts}}, &res)
	} else {
		apiGet(t, base, "/api/v1/query_range", url.Values{"query": {expr}, "start": {fmt.Sprint(end.Add(-time.Hour).Unix())}, "end": {ts}, "step": {"15"}}, &res)
	}
	n := 0
	for _, s := range res.Result {
		n += len(s.Values)
		if s.Value != nil {
			n++
		}
	}
	return n
}

// TestDashboardsProvisioning: the dashboards directory of the config is
// loaded at start; a reload takes new files, names a bad one in its error
// and still loads the others.
func TestDashboardsProvisioning(t *testing.T) {
	dir := t.TempDir()
	dash := func(uid, title string) []byte {
		return fmt.Appendf(nil, `{"uid": %q, "title": %q, "panels": []}`, uid, title)
	}
	if err := os.MkdirAll(filepath.Join(dir, "dash"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "dash", "a.json"), dash("prov-a", "Provisioned A"))
	cfgFile := filepath.Join(dir, "vigil.yml")
	writeFile(t, cfgFile, []byte("dashboards:\n  dir: dash\nlog:\n  level: error\n"))
	cfg, _, err := ParseArgs([]string{"--config=" + cfgFile, "--listen=127.0.0.1:0", "--data-dir=" + filepath.Join(dir, "data"), "--auth=none"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dashboards.Dir != filepath.Join(dir, "dash") {
		t.Fatalf("dashboards.dir %q is not relative to the config file", cfg.Dashboards.Dir)
	}
	a := startAppliance(t, cfg)

	list := func() string {
		var items []struct {
			UID      string `json:"uid"`
			Source   string `json:"source"`
			ReadOnly bool   `json:"readOnly"`
		}
		apiGet(t, a.URL(), "/api/v1/dashboards", nil, &items)
		var out []string
		for _, it := range items {
			out = append(out, fmt.Sprintf("%s:%s:%v", it.UID, it.Source, it.ReadOnly))
		}
		return strings.Join(out, " ")
	}
	if got := list(); got != "vigil-business-metrics:builtin:true prov-a:provisioned:true vigil-system-overview:builtin:true" {
		t.Errorf("at start: %s", got)
	}

	writeFile(t, filepath.Join(dir, "dash", "b.json"), dash("prov-b", "Provisioned B"))
	writeFile(t, filepath.Join(dir, "dash", "bad.json"), []byte(`{"title": "Bad", "panels": [{"type": "stat"}]}`))
	resp, err := http.Post(a.URL()+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), filepath.Join(dir, "dash", "bad.json")+": panels[0].gridPos: required") {
		t.Errorf("reload with a bad file: %s %s", resp.Status, body)
	}
	if got := list(); got != "vigil-business-metrics:builtin:true prov-a:provisioned:true prov-b:provisioned:true vigil-system-overview:builtin:true" {
		t.Errorf("after the reload: %s", got)
	}
	var b strings.Builder
	metrics.WritePrometheus(&b, false)
	if !strings.Contains(b.String(), "vigil_config_last_reload_successful 0") {
		t.Error("the reload that skipped a dashboard counts as successful")
	}

	if err := os.Remove(filepath.Join(dir, "dash", "bad.json")); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Errorf("reload without the bad file: %v", err)
	}
}

// sampleValue is the value of an instant query's sample.
func sampleValue(t *testing.T, s series) float64 {
	t.Helper()
	if len(s.Value) != 2 {
		t.Fatalf("not an instant sample: %+v", s)
	}
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatalf("sample value %q: %v", s.Value[1], err)
	}
	return v
}
