//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The web UI in a real headless Chromium (Debian's chromium package;
// .ci/run installs it), driven through the DevTools protocol against the
// real binary.

// panelState is what a dashboard panel element reports about itself.
type panelState struct {
	ID      string   `json:"id"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	State   string   `json:"state"`
	Points  int      `json:"points"`
	Queries []string `json:"queries"`
	Message string   `json:"message"`
	Note    string   `json:"note"`
}

const readPanelsJS = `[...document.querySelectorAll('[data-panel-id]')].map((p) => ({
	id: p.dataset.panelId, type: p.dataset.panelType, state: p.dataset.state,
	title: (p.querySelector('.panel-title') || {}).textContent || '',
	points: Number(p.dataset.points || 0), queries: JSON.parse(p.dataset.queries || '[]'),
	message: (p.querySelector('.panel-message') || {}).textContent || '',
	note: (p.querySelector('.panel-unsupported-note') || {}).textContent || '' }))`

// openDashboard navigates to a dashboard, opens its collapsed rows and
// waits until no panel is loading any more.
func openDashboard(t testing.TB, ctx context.Context, baseURL, path string) []panelState {
	t.Helper()
	pagesDo(t, ctx, "opening "+path, chromedp.Navigate(baseURL+path))
	pagesWait(t, ctx, "the dashboard's variables", `document.querySelector('.dashboard[data-vars-ready]')`, 30*time.Second)
	pagesEval[bool](t, ctx, `(document.querySelectorAll('.row-head[aria-expanded="false"]').forEach((b) => b.click()), true)`)
	return settledPanels(t, ctx)
}

// settledPanels waits until every panel has drawn and returns them.
func settledPanels(t testing.TB, ctx context.Context) []panelState {
	t.Helper()
	pagesWait(t, ctx, "every panel to draw",
		`document.querySelectorAll('[data-panel-id]').length > 0 && [...document.querySelectorAll('[data-panel-id]')].every((p) => p.dataset.drawn === '1')`,
		60*time.Second)
	return pagesEval[[]panelState](t, ctx, readPanelsJS)
}

// checkAllPanelsDrawData fails for every panel that shows an error, "no
// data", a placeholder, or draws no data point.
func checkAllPanelsDrawData(t testing.TB, panels []panelState) {
	t.Helper()
	if len(panels) == 0 {
		t.Fatal("the dashboard shows no panel")
	}
	for _, p := range panels {
		if p.Type == "text" {
			if p.State != "static" {
				t.Errorf("text panel %q: state %s", p.Title, p.State)
			}
			continue
		}
		if p.State != "ok" || p.Points == 0 {
			t.Errorf("panel %q (%s): state %s, %d data points, message %q, queries %q", p.Title, p.Type, p.State, p.Points, p.Message, p.Queries)
		}
	}
}

// waitRecordedSeries waits until the recording rules have written every
// recorded series (names with colons) the queries of the dashboard uid
// use: Vigil records them over the demo's backfill once it is written.
func waitRecordedSeries(t testing.TB, baseURL, uid string) {
	t.Helper()
	var dash struct {
		Data struct{ Dashboard json.RawMessage } `json:"data"`
	}
	resp, err := adminClient().Get(baseURL + "/api/v1/dashboards/" + uid)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&dash)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/dashboards/%s: %s %v", uid, resp.Status, err)
	}
	names := regexp.MustCompile(`[a-z_]+:[a-z0-9_]+:[a-z0-9_]+`).FindAllString(string(dash.Data.Dashboard), -1)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		pagesWaitQuery(t, baseURL, "count("+name+")", 5*time.Minute)
	}
}

// startDemoForBrowser starts Vigil with six hours of demo history (what
// the dashboards show by default; less to write and to record than the
// default day) and waits for them.
func startDemoForBrowser(t *testing.T) *vigilProcess {
	t.Helper()
	p := startVigilProcess(t, "--demo", "--demo-backfill=6h")
	const up = `count_over_time(up{job="panic-platform",instance="demo-api:8000"}[6h])`
	pagesWaitQuery(t, p.BaseURL, up+" >= 1440", 2*time.Minute)
	return p
}

// importedDashboard is the dashboard the import test uploads: a panel
// with data, an unknown variable in a title, options Vigil does not apply, a query that fails when it
// runs (Vigil refuses one that does not parse at the import) and a panel
// type Vigil does not draw.
const importedDashboard = `{
  "uid": "browser-import",
  "title": "Imported from Grafana",
  "tags": ["imported"],
  "time": {"from": "now-1h", "to": "now"},
  "templating": {"list": [
    {"name": "job", "type": "custom", "query": "panic-platform,vigil", "current": {"text": "panic-platform", "value": "panic-platform"}},
    {"name": "jobs", "type": "custom", "query": "panic-platform,vigil,other.job", "multi": true, "includeAll": true,
     "current": {"text": ["panic-platform", "vigil"], "value": ["panic-platform", "vigil"]}},
    {"name": "window", "type": "interval", "query": "1m,5m,1h", "current": {"text": "5m", "value": "5m"}}
  ]},
  "panels": [
    {"id": 1, "type": "timeseries", "title": "Targets up of $job", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
     "targets": [{"refId": "A", "expr": "up{job=\"$job\"}", "legendFormat": "{{instance}}"}]},
    {"id": 2, "type": "stat", "title": "Scrapes of $nosuch", "gridPos": {"x": 12, "y": 0, "w": 6, "h": 8},
     "repeat": "nosuchvar", "transformations": [{"id": "calculateField", "options": {}}],
     "targets": [{"refId": "A", "expr": "count(up)", "instant": true}]},
    {"id": 3, "type": "timeseries", "title": "Failing query", "gridPos": {"x": 18, "y": 0, "w": 6, "h": 8},
     "targets": [{"refId": "A", "expr": "up + on() up"}]},
    {"id": 4, "type": "piechart", "title": "Share by job", "gridPos": {"x": 0, "y": 8, "w": 8, "h": 8},
     "targets": [{"refId": "A", "expr": "count by (job) (up)"}]},
    {"id": 5, "type": "text", "title": "Notes", "gridPos": {"x": 8, "y": 8, "w": 16, "h": 8},
     "options": {"mode": "markdown", "content": "## Read me\nThe **job** is $job. <script>window.pwned = true</script> [docs](javascript:alert(1))"}},
    {"id": 7, "type": "stat", "title": "Up of $jobs", "gridPos": {"x": 0, "y": 22, "w": 6, "h": 4}, "repeat": "jobs", "maxPerRow": 4,
     "targets": [{"refId": "A", "expr": "count(up{job=~\"$jobs\"}) or vector(0)", "instant": true}]},
    {"id": 8, "type": "text", "title": "Below the repeats", "gridPos": {"x": 0, "y": 26, "w": 24, "h": 2},
     "options": {"mode": "markdown", "content": "The end."}},
    {"id": 9, "type": "row", "title": "Per job", "repeat": "job", "collapsed": true, "gridPos": {"x": 0, "y": 40, "w": 24, "h": 1}, "panels": []},
    {"id": 6, "type": "timeseries", "title": "Interpolation", "gridPos": {"x": 0, "y": 16, "w": 24, "h": 6}, "interval": "1m",
     "targets": [
       {"refId": "A", "expr": "count(up{job=~\"$jobs\"})"},
       {"refId": "B", "expr": "count(up{job=\"[[job]]\"}) + count(up{job=~\"${jobs:pipe}\"})"},
       {"refId": "C", "expr": "sum(rate(up{job=\"${job}\"}[$__rate_interval])) * $__range_s / $__range_s + count_over_time(up{job=\"$job\"}[$window]) * 0"}
     ]}
  ]
}`

// TestBrowserUI drives the UI as a person would, against a Vigil running
// the demo: log in, import a dashboard, the two built-in dashboards with
// every panel drawing data, variables, time range, zoom and legend.
func TestBrowserUI(t *testing.T) {
	ctx := pagesTab(t, 1400, 1000)
	p := startDemoForBrowser(t)
	pagesLogin(t, ctx, p.BaseURL, "/d/vigil-system-overview", testAdminUser, testAdminPassword)
	if name := pagesEval[string](t, ctx, `document.getElementById('user-name').textContent`); name != testAdminUser {
		t.Errorf("the nav bar shows the user %q, want %q", name, testAdminUser)
	}

	t.Run("theme", func(t *testing.T) {
		before := pagesEval[string](t, ctx, `document.documentElement.dataset.theme`)
		pagesDo(t, ctx, "switching the theme", chromedp.Click(chromedp.ID("theme-toggle")))
		after := pagesEval[string](t, ctx, `document.documentElement.dataset.theme`)
		if (before != "dark" && before != "light") || after == before {
			t.Fatalf("the theme toggle goes from %q to %q", before, after)
		}
		pagesDo(t, ctx, "reloading", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("theme-toggle")))
		if again := pagesEval[string](t, ctx, `document.documentElement.dataset.theme`); again != after {
			t.Errorf("after a reload the theme is %q, want the chosen %q", again, after)
		}
	})

	t.Run("import", func(t *testing.T) {
		pagesDo(t, ctx, "opening the import page", chromedp.Navigate(p.BaseURL+"/dashboard/import"), chromedp.WaitVisible(chromedp.ID("import-json")))
		// A malformed dashboard: the server's error names the field.
		pagesDo(t, ctx, "pasting a bad dashboard", chromedp.SendKeys(chromedp.ID("import-json"), `{"title": "Bad", "panels": "not a list"}`))
		pagesDo(t, ctx, "importing it", chromedp.Click(chromedp.ID("import-submit")), chromedp.WaitVisible(chromedp.ID("import-error")))
		if msg := pagesEval[string](t, ctx, `document.getElementById('import-error').textContent`); !strings.Contains(msg, "panels") {
			t.Errorf("the import error does not name the field: %q", msg)
		}
		file := t.TempDir() + "/dashboard.json"
		if err := os.WriteFile(file, []byte(importedDashboard), 0o644); err != nil {
			t.Fatal(err)
		}
		pagesDo(t, ctx, "uploading the dashboard file", chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{file}))
		pagesWait(t, ctx, "the file in the text box", `document.getElementById('import-json').value.includes('browser-import')`, 30*time.Second)
		pagesDo(t, ctx, "importing", chromedp.Click(chromedp.ID("import-submit")))
		pagesWait(t, ctx, "the import's answer", `location.pathname === '/d/browser-import' || document.getElementById('import-error')`, 30*time.Second)
		if u := pagesLocation(t, ctx); u.Path != "/d/browser-import" {
			t.Fatalf("the import was refused: %s", pagesEval[string](t, ctx, `document.getElementById('import-error').textContent`))
		}
		panels := settledPanels(t, ctx)
		byID := map[string]panelState{}
		for _, p := range panels {
			byID[p.ID] = p
		}
		if up := byID["1"]; up.State != "ok" || up.Points == 0 || up.Title != "Targets up of panic-platform" ||
			!slices.Equal(up.Queries, []string{`up{job="panic-platform"}`}) {
			t.Errorf("the panel with data: %+v", up)
		}
		if st := byID["2"]; st.State != "ok" || st.Title != "Scrapes of $nosuch" {
			t.Errorf("the panel with an unknown variable in its title: %+v (want the variable as written)", st)
		}
		if st := byID["2"]; st.Note != "⚠ not applied: repeat by $nosuchvar, which is no variable; transformation 'calculateField'" {
			t.Errorf("the panel with options Vigil does not apply says %q", st.Note)
		}
		if up := byID["1"]; up.Note != "" {
			t.Errorf("a plain panel says %q", up.Note)
		}
		if bad := byID["3"]; bad.State != "error" || !strings.Contains(bad.Message, "many-to-many matching not allowed") {
			t.Errorf("the panel with a failing query: %+v, want the query's error in the panel", bad)
		}
		if pie := byID["4"]; pie.State != "unsupported" || pie.Message != "Panel type 'piechart' is not supported by Vigil" {
			t.Errorf("the piechart panel: %+v, want the placeholder", pie)
		}
		// Variables and macros written as Grafana writes them for Prometheus:
		// several values as a regex alternation, formats, the one-hour range
		// in seconds, $__rate_interval = max($__interval + 1m, 4 × 1m) with
		// the panel's 1m min interval standing for the scrape interval.
		want := []string{
			`count(up{job=~"(panic-platform|vigil)"})`,
			`count(up{job="panic-platform"}) + count(up{job=~"panic-platform|vigil"})`,
			`sum(rate(up{job="panic-platform"}[4m])) * 3600 / 3600 + count_over_time(up{job="panic-platform"}[5m]) * 0`,
		}
		if ip := byID["6"]; !slices.Equal(ip.Queries, want) || ip.State != "ok" {
			t.Errorf("interpolated queries: %s %q\nwant %q", ip.State, ip.Queries, want)
		}
		// A panel repeated by a multi-value variable: one per value, side by
		// side, each querying its value.
		for i, job := range []string{"panic-platform", "vigil"} {
			r := byID[fmt.Sprintf("7-%d", i)]
			if r.State != "ok" || r.Title != "Up of "+job || !slices.Equal(r.Queries, []string{`count(up{job=~"` + job + `"}) or vector(0)`}) {
				t.Errorf("repeat %d of the panel repeated by $jobs: %+v", i, r)
			}
		}
		if _, ok := byID["7"]; ok {
			t.Error("the repeated panel is drawn once more without its variable")
		}
		layout := pagesEval[[]string](t, ctx, `['7-0', '7-1', '8'].map((id) => { const g = document.querySelector('[data-panel-id="' + id + '"]').parentElement.style; return [g.getPropertyValue('--x'), g.getPropertyValue('--w'), g.getPropertyValue('--y')].join(','); })`)
		if want := []string{"1,12,23", "13,12,23", "1,24,27"}; !slices.Equal(layout, want) {
			t.Errorf("the repeats and the panel below sit at x,w,y %q, want %q", layout, want)
		}
		if row := pagesEval[string](t, ctx, `document.querySelector('.row-head[data-row="Per job"]').textContent`); !strings.Contains(row, "not applied: repeat by $job") {
			t.Errorf("the repeating row says %q", row)
		}
		text := pagesEval[string](t, ctx, `document.querySelector('[data-panel-id="5"] .markdown').innerHTML`)
		if !strings.Contains(text, "<h2>Read me</h2>") || !strings.Contains(text, "<strong>job</strong> is panic-platform") ||
			strings.Contains(text, "<script") || strings.Contains(text, `href="javascript`) || pagesEval[bool](t, ctx, `window.pwned === true`) {
			t.Errorf("the text panel's markdown: %s", text)
		}

		// Export gives the stored JSON back; Delete removes a user dashboard.
		exported, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.getElementById('export').href).then((r) => r.text())`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("fetching the export link: %v", err)
		}
		var back struct{ UID, Title string }
		if err := json.Unmarshal([]byte(exported), &back); err != nil || back.UID != "browser-import" || back.Title != "Imported from Grafana" {
			t.Errorf("the export link gives %.200s (%v)", exported, err)
		}
		pagesEval[bool](t, ctx, `(window.confirm = () => true, true)`)
		pagesDo(t, ctx, "deleting the dashboard", chromedp.Click(chromedp.ID("delete-dashboard")))
		pagesWait(t, ctx, "the dashboard list", `location.pathname === '/' && document.querySelector('.dash-items')`, 30*time.Second)
		if pagesEval[bool](t, ctx, `!!document.querySelector('[data-uid="browser-import"]')`) {
			t.Error("the deleted dashboard is still listed")
		}
		// The list: both built-ins with their badge; the search narrows it.
		for _, uid := range []string{"vigil-system-overview", "vigil-business-metrics"} {
			if b := pagesEval[string](t, ctx, `(document.querySelector('[data-uid="`+uid+`"] .badge') || {}).textContent || ''`); b != "built-in" {
				t.Errorf("the list shows %s with the badge %q, want built-in", uid, b)
			}
		}
		pagesDo(t, ctx, "searching the list", chromedp.SendKeys(chromedp.ID("dashboard-search"), "business"))
		if shown := pagesEval[[]string](t, ctx, `[...document.querySelectorAll('.dash-items li[data-uid]')].map((li) => li.dataset.uid)`); !slices.Equal(shown, []string{"vigil-business-metrics"}) {
			t.Errorf("searching for business lists %q", shown)
		}
		resp, err := adminClient().Get(p.BaseURL + "/api/v1/dashboards/browser-import")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET the deleted dashboard: %s, want 404", resp.Status)
		}
	})

	t.Run("system overview", func(t *testing.T) {
		panels := openDashboard(t, ctx, p.BaseURL, "/d/vigil-system-overview?from=now-6h&to=now")
		checkAllPanelsDrawData(t, panels)

		// A quick range from the time picker goes into the URL.
		pagesDo(t, ctx, "choosing the last 3 hours", chromedp.Click(chromedp.ID("time-picker")),
			chromedp.Click(chromedp.Search(`//button[text()="Last 3 hours"]`)))
		pagesWait(t, ctx, "from=now-3h in the URL", `new URLSearchParams(location.search).get('from') === 'now-3h'`, 30*time.Second)
		settledPanels(t, ctx)

		// A click on a legend entry hides its series; another shows it.
		legend := `document.querySelector('[data-panel-type="timeseries"] .legend-item')`
		pagesDo(t, ctx, "toggling a series", chromedp.Click(chromedp.CSS(`[data-panel-type="timeseries"] .legend-item`)))
		if pressed := pagesEval[string](t, ctx, legend+`.getAttribute('aria-pressed')`); pressed != "false" {
			t.Errorf("after a click the legend entry is aria-pressed=%s, want false", pressed)
		}
		pagesDo(t, ctx, "toggling it back", chromedp.Click(chromedp.CSS(`[data-panel-type="timeseries"] .legend-item`)))

		// Dragging across a chart zooms: absolute from and to in the URL.
		box := pagesEval[[]float64](t, ctx, `(() => { const r = document.querySelector('[data-panel-type="timeseries"] .u-over').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
		y := box[1] + box[3]/2
		pagesDo(t, ctx, "dragging across a chart", chromedp.DragAndDropXY(box[0]+box[2]*0.3, y, box[0]+box[2]*0.6, y, 8))
		pagesWait(t, ctx, "absolute from and to in the URL", `/^\d{13}$/.test(new URLSearchParams(location.search).get('from') || '')`, 30*time.Second)
		u := pagesLocation(t, ctx)
		var from, to int64
		fmt.Sscan(u.Query().Get("from"), &from)
		fmt.Sscan(u.Query().Get("to"), &to)
		if span := time.Duration(to-from) * time.Millisecond; span < 40*time.Minute || span > 80*time.Minute {
			t.Errorf("a drag over 30%% of 3 hours zooms to %s (%s)", span, u)
		}
		checkAllPanelsDrawData(t, settledPanels(t, ctx))

		// Auto-refresh every 5 s runs the queries again.
		queries := `performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/query')).length`
		before := pagesEval[int](t, ctx, queries)
		pagesEval[bool](t, ctx, `(() => { const s = document.getElementById('refresh-interval'); s.value = '5s'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
		pagesWait(t, ctx, "refresh=5s in the URL", `new URLSearchParams(location.search).get('refresh') === '5s'`, 30*time.Second)
		pagesWait(t, ctx, "the queries to run again", fmt.Sprintf(`%s >= %d`, queries, before+len(panels)-1), 20*time.Second)
	})

	t.Run("business metrics", func(t *testing.T) {
		waitRecordedSeries(t, p.BaseURL, "vigil-business-metrics")
		panels := openDashboard(t, ctx, p.BaseURL, "/d/vigil-business-metrics?from=now-6h&to=now")
		checkAllPanelsDrawData(t, panels)

		// One zone instead of all: the URL holds it and the panels run the
		// new queries.
		pagesDo(t, ctx, "opening the zone picker", chromedp.Click(chromedp.ID("var-zone")))
		pagesDo(t, ctx, "choosing harbor", chromedp.Click(chromedp.Search(`//ul[contains(@class,"var-options")]//label[normalize-space()="harbor"]/input`)))
		pagesWait(t, ctx, "var-zone=harbor in the URL", `new URLSearchParams(location.search).getAll('var-zone').join() === 'harbor'`, 30*time.Second)
		pagesWait(t, ctx, "the panels to query harbor",
			`[...document.querySelectorAll('[data-panel-id]')].some((p) => JSON.parse(p.dataset.queries || '[]').some((q) => q.includes('zone=~"harbor"')))`, 30*time.Second)
		panels = settledPanels(t, ctx)
		checkAllPanelsDrawData(t, panels)
		for _, p := range panels {
			for _, q := range p.Queries {
				if strings.Contains(q, "$zone") || strings.Contains(q, `zone=~".*"`) {
					t.Errorf("panel %q still queries all zones: %s", p.Title, q)
				}
			}
		}
	})
}
