//go:build unix

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The Explore, Alerts, Silences, Targets, Rules and Status pages in a real
// headless Chromium against the real binary, checked against the HTTP API.

// browserPagesRules fires one alert at its first evaluation, so the alert
// pages have something to show without the demo.
const browserPagesRules = `groups:
- name: browser-pages
  interval: 2s
  rules:
  - alert: BrowserPagesFiring
    expr: vector(1)
    labels:
      severity: warning
      team: ui tests
    annotations:
      summary: It fires at once
      runbook_url: https://runbooks.example.invalid/browser-pages
`

// apiSilence is a silence as GET /api/v2/silences lists it.
type apiSilence struct {
	ID       string `json:"id"`
	Matchers []struct {
		Name    string `json:"name"`
		Value   string `json:"value"`
		IsRegex bool   `json:"isRegex"`
		IsEqual bool   `json:"isEqual"`
	} `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
	Status    struct {
		State string `json:"state"`
	} `json:"status"`
}

// silenceByID reads the silence id from the API with an HTTP client.
func silenceByID(t *testing.T, baseURL, id string) apiSilence {
	t.Helper()
	resp, err := adminClient().Get(baseURL + "/api/v2/silences")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []apiSilence
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v2/silences: %s %v", resp.Status, err)
	}
	for _, s := range list {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("silence %s is not in /api/v2/silences (%d silences)", id, len(list))
	return apiSilence{}
}

// matcherRow is a row of the silence form's matcher editor.
type matcherRow struct {
	Name  string `json:"name"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

const readMatcherRowsJS = `[...document.querySelectorAll('[data-matcher-row]')].map((r) => ({
	name: r.querySelector('[data-field="name"]').value, op: r.querySelector('[data-field="op"]').value,
	value: r.querySelector('[data-field="value"]').value }))`

// setField types value into the input or textarea sel, replacing its text.
func setField(t *testing.T, ctx context.Context, sel, value string) {
	t.Helper()
	pagesEval[bool](t, ctx, `(() => { const el = document.querySelector(`+jsString(sel)+`); el.focus(); el.select(); return true; })()`)
	pagesDo(t, ctx, "typing into "+sel, chromedp.KeyEvent("\b"), chromedp.SendKeys(chromedp.CSS(sel), value))
}

// setSelect chooses value in the select sel as a user would.
func setSelect(t *testing.T, ctx context.Context, sel, value string) {
	t.Helper()
	pagesEval[bool](t, ctx, `(() => { const el = document.querySelector(`+jsString(sel)+`); el.value = `+jsString(value)+`;
		el.dispatchEvent(new Event('change', { bubbles: true })); return true; })()`)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// savedSilenceID waits for the silence list the form goes to after a save
// and returns the saved silence's id.
func savedSilenceID(t *testing.T, ctx context.Context) string {
	t.Helper()
	pagesWait(t, ctx, "the saved silence", `document.getElementById('silence-saved') && document.querySelector('[data-silence-id]')`, 15*time.Second)
	id := pagesLocation(t, ctx).Query().Get("saved")
	if id == "" {
		t.Fatalf("after saving, the page is %s, with no saved silence id", pagesLocation(t, ctx))
	}
	return id
}

func TestBrowserPages(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(rules, []byte(browserPagesRules), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startVigilProcess(t, "--rules.files="+rules)
	ctx := pagesTab(t, 1280, 900)
	// The alert fires, and Vigil has scraped itself once: every page has
	// something to show.
	pagesWaitQuery(t, p.BaseURL, `ALERTS{alertname="BrowserPagesFiring",alertstate="firing"}`, time.Minute)
	pagesWaitQuery(t, p.BaseURL, `up{job="vigil"} == 1`, time.Minute)
	pagesLogin(t, ctx, p.BaseURL, "/alerts", testAdminUser, testAdminPassword)

	var fromAlert string
	t.Run("silence from an alert", func(t *testing.T) {
		card := `document.querySelector('[data-alert="BrowserPagesFiring"][data-state="firing"]')`
		pagesWait(t, ctx, "the firing alert", card, 30*time.Second)
		if s := pagesEval[string](t, ctx, card+`.textContent`); !strings.Contains(s, "It fires at once") || !strings.Contains(s, `team="ui tests"`) {
			t.Errorf("the alert card lacks its summary or labels: %q", s)
		}
		if href := pagesEval[string](t, ctx, card+`.querySelector('.pg-runbook').getAttribute('href')`); href != "https://runbooks.example.invalid/browser-pages" {
			t.Errorf("the runbook link is %q", href)
		}
		pagesDo(t, ctx, "clicking Silence", chromedp.Click(chromedp.CSS(`[data-alert="BrowserPagesFiring"] [data-action="silence"]`)))
		pagesWait(t, ctx, "the silence form", `location.pathname === '/silences' && document.querySelectorAll('[data-matcher-row]').length > 0`, 30*time.Second)
		rows := pagesEval[[]matcherRow](t, ctx, readMatcherRowsJS)
		want := []matcherRow{{"alertname", "=", "BrowserPagesFiring"}, {"severity", "=", "warning"}, {"team", "=", "ui tests"}}
		if !slices.Equal(rows, want) {
			t.Fatalf("the form is prefilled with %+v, want the alert's labels %+v", rows, want)
		}
		if c := pagesEval[string](t, ctx, `document.getElementById('silence-creator').value`); c != testAdminUser {
			t.Errorf("the creator is %q, want the signed-in user %q", c, testAdminUser)
		}
		pagesWait(t, ctx, "the alert the silence would mute", `(document.getElementById('affected-count') || {}).textContent === '1'`, 15*time.Second)

		setField(t, ctx, "#silence-comment", "deploying the UI tests")
		pagesDo(t, ctx, "saving", chromedp.Click(chromedp.ID("silence-submit")))
		fromAlert = savedSilenceID(t, ctx)
		s := silenceByID(t, p.BaseURL, fromAlert)
		if s.Status.State != "active" || s.CreatedBy != testAdminUser || s.Comment != "deploying the UI tests" || len(s.Matchers) != 3 {
			t.Fatalf("the API has %+v", s)
		}
		if d := s.EndsAt.Sub(s.StartsAt); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
			t.Errorf("the silence lasts %s, want the default 2h", d)
		}
		// The alert page learns that the alert is silenced.
		pagesDo(t, ctx, "back to the alerts", chromedp.Navigate(p.BaseURL+"/alerts"))
		pagesWait(t, ctx, "the alert marked silenced", `document.querySelector('[data-silenced-by="`+fromAlert+`"]')`, 45*time.Second)

		// Editing keeps the silence (same matchers and start): a POST with
		// its id, as Alertmanager updates.
		pagesDo(t, ctx, "editing the silence", chromedp.Navigate(p.BaseURL+"/silences?edit="+fromAlert), chromedp.WaitVisible(chromedp.ID("silence-form")))
		if rows := pagesEval[[]matcherRow](t, ctx, readMatcherRowsJS); !slices.Equal(rows, want) {
			t.Fatalf("the edit form shows the matchers %+v, want %+v", rows, want)
		}
		setField(t, ctx, "#silence-comment", "deploying the UI tests, longer")
		setField(t, ctx, "#silence-duration", "3h")
		pagesDo(t, ctx, "saving", chromedp.Click(chromedp.ID("silence-submit")))
		if id := savedSilenceID(t, ctx); id != fromAlert {
			t.Errorf("the edit saved silence %s, want the same silence %s", id, fromAlert)
		}
		s = silenceByID(t, p.BaseURL, fromAlert)
		if s.Comment != "deploying the UI tests, longer" || s.Status.State != "active" {
			t.Errorf("after the edit the API has %+v", s)
		}
		if d := s.EndsAt.Sub(s.StartsAt); d < 3*time.Hour-time.Minute || d > 3*time.Hour+time.Minute {
			t.Errorf("after the edit the silence lasts %s, want 3h", d)
		}
	})

	t.Run("create, then expire, a silence", func(t *testing.T) {
		pagesDo(t, ctx, "opening a new silence", chromedp.Navigate(p.BaseURL+"/silences"), chromedp.WaitVisible(chromedp.ID("new-silence")),
			chromedp.Click(chromedp.ID("new-silence")), chromedp.WaitVisible(chromedp.ID("silence-form")))
		// A silence that mutes everything is refused by the server, whose
		// message the form shows.
		setField(t, ctx, `[data-matcher-row="0"] [data-field="value"]`, ".*")
		setSelect(t, ctx, `[data-matcher-row="0"] [data-field="op"]`, "=~")
		setField(t, ctx, "#silence-comment", "maintenance of the browser pages")
		pagesDo(t, ctx, "saving", chromedp.Click(chromedp.ID("silence-submit")))
		pagesWait(t, ctx, "the server's refusal", `document.querySelector('#silence-form [data-error]')`, 30*time.Second)
		if msg := pagesEval[string](t, ctx, `document.querySelector('#silence-form [data-error]').textContent`); !strings.Contains(msg, "must not match the empty string") {
			t.Errorf("the form shows %q, want the server's error", msg)
		}

		setField(t, ctx, `[data-matcher-row="0"] [data-field="value"]`, "BrowserPages.*")
		pagesDo(t, ctx, "adding a matcher", chromedp.Click(chromedp.ID("add-matcher")))
		setField(t, ctx, `[data-matcher-row="1"] [data-field="name"]`, "team")
		setSelect(t, ctx, `[data-matcher-row="1"] [data-field="op"]`, "!=")
		setField(t, ctx, `[data-matcher-row="1"] [data-field="value"]`, "nobody")
		setField(t, ctx, "#silence-duration", "90m")
		pagesWait(t, ctx, "the affected alert", `(document.getElementById('affected-count') || {}).textContent === '1'`, 15*time.Second)
		pagesDo(t, ctx, "saving", chromedp.Click(chromedp.ID("silence-submit")))
		id := savedSilenceID(t, ctx)
		s := silenceByID(t, p.BaseURL, id)
		type m struct {
			Name, Value      string
			IsRegex, IsEqual bool
		}
		var got []m
		for _, x := range s.Matchers {
			got = append(got, m{x.Name, x.Value, x.IsRegex, x.IsEqual})
		}
		want := []m{{"alertname", "BrowserPages.*", true, true}, {"team", "nobody", false, false}}
		if !slices.Equal(got, want) || s.Status.State != "active" {
			t.Fatalf("the API has %+v (%s), want matchers %+v, active", got, s.Status.State, want)
		}
		if d := s.EndsAt.Sub(s.StartsAt); d < 89*time.Minute || d > 91*time.Minute {
			t.Errorf("the silence lasts %s, want 90m", d)
		}

		card := `[data-silence-id="` + id + `"]`
		pagesDo(t, ctx, "expiring it", chromedp.Click(chromedp.CSS(card+` [data-action="expire"]`)),
			chromedp.Click(chromedp.CSS(card+` [data-action="confirm-expire"]`)))
		pagesWait(t, ctx, "the silence shown expired", `document.querySelector('`+card+`[data-state="expired"]')`, 15*time.Second)
		if st := silenceByID(t, p.BaseURL, id).Status.State; st != "expired" {
			t.Errorf("after expiring in the UI the API says %s", st)
		}
		if st := silenceByID(t, p.BaseURL, fromAlert).Status.State; st != "active" {
			t.Errorf("the other silence is %s, want it untouched", st)
		}
	})

	t.Run("a viewer reads but does not silence", func(t *testing.T) {
		password := createUserViaAPI(t, p.BaseURL, "watcher", "viewer")
		vctx := pagesTab(t, 1280, 900)
		pagesLogin(t, vctx, p.BaseURL, "/alerts", "watcher", password)
		pagesWait(t, vctx, "the firing alert", `document.querySelector('[data-alert="BrowserPagesFiring"]')`, 30*time.Second)
		if pagesEval[bool](t, vctx, `!!document.querySelector('[data-action="silence"]')`) {
			t.Error("a viewer is offered the Silence button")
		}
		pagesDo(t, vctx, "opening the silences", chromedp.Navigate(p.BaseURL+"/silences"))
		pagesWait(t, vctx, "the silences", `document.querySelector('[data-silence-id]')`, 15*time.Second)
		if pagesEval[bool](t, vctx, `!!document.querySelector('#new-silence, [data-action]')`) {
			t.Error("a viewer is offered to create, edit or expire silences")
		}
		pagesDo(t, vctx, "opening the silence form", chromedp.Navigate(p.BaseURL+"/silences?new=1"))
		pagesWait(t, vctx, "the refusal", `document.getElementById('silence-not-admin')`, 15*time.Second)
	})

	t.Run("explore graph and table", func(t *testing.T) {
		pagesDo(t, ctx, "opening Explore", chromedp.Navigate(p.BaseURL+"/explore?from=now-15m&to=now&expr="+url.QueryEscape(`up{job="vigil"}`)))
		pagesWait(t, ctx, "the graph drawn", `document.querySelector('#explore-graph[data-drawn="1"] canvas')`, 20*time.Second)
		if n := pagesEval[int](t, ctx, `Number(document.getElementById('explore-graph').dataset.points)`); n == 0 {
			t.Error("the graph has no data points")
		}
		if s := pagesEval[string](t, ctx, `document.querySelector('#explore-stats [data-stat="series"]').textContent`); s != "1" {
			t.Errorf("the statistics show %s series, want 1", s)
		}
		pagesDo(t, ctx, "the table", chromedp.Click(chromedp.ID("explore-tab-table")))
		pagesWait(t, ctx, "the table's row", `document.querySelector('#explore-table [data-row]')`, 20*time.Second)
		row := pagesEval[string](t, ctx, `document.querySelector('#explore-table [data-row]').textContent`)
		if !strings.Contains(row, `job="vigil"`) || !strings.HasSuffix(strings.TrimSpace(row), "1") {
			t.Errorf("the table row is %q", row)
		}
		if tab := pagesLocation(t, ctx).Query().Get("tab"); tab != "table" {
			t.Errorf("the URL has tab=%q", tab)
		}

		// Every series of Vigil's own metrics: too many to draw, so the
		// graph takes the first 200 and says so.
		pagesDo(t, ctx, "graphing every series", chromedp.Navigate(p.BaseURL+"/explore?from=now-5m&to=now&expr="+url.QueryEscape(`{job="vigil"}`)))
		pagesWait(t, ctx, "the capped graph drawn", `document.querySelector('#explore-graph[data-drawn="1"]') && document.getElementById('explore-graph-capped')`, 30*time.Second)
		if n := pagesEval[int](t, ctx, `Number(document.getElementById('explore-graph').dataset.series)`); n != 200 {
			t.Errorf("the capped graph draws %d series, want 200", n)
		}
	})

	t.Run("explore completion", func(t *testing.T) {
		pagesDo(t, ctx, "opening Explore", chromedp.Navigate(p.BaseURL+"/explore"), chromedp.WaitVisible(chromedp.ID("explore-expr")),
			chromedp.SendKeys(chromedp.ID("explore-expr"), "vigil_http_req"))
		item := `#explore-completion [data-kind="metric"][data-value="vigil_http_requests_total"]`
		pagesWait(t, ctx, "the metric offered", `document.querySelector('`+item+`')`, 30*time.Second)
		pagesDo(t, ctx, "taking it", chromedp.Click(chromedp.CSS(item)))
		pagesWait(t, ctx, "the metric in the editor", `document.getElementById('explore-expr').value === 'vigil_http_requests_total'`, 5*time.Second)
		// Label names and then values of that metric.
		pagesDo(t, ctx, "opening a selector", chromedp.SendKeys(chromedp.ID("explore-expr"), "{jo"))
		pagesWait(t, ctx, "the label offered", `document.querySelector('#explore-completion [data-kind="label"][data-value="job"]')`, 30*time.Second)
		pagesDo(t, ctx, "taking it with Enter", chromedp.KeyEvent("\r"), chromedp.SendKeys(chromedp.ID("explore-expr"), "="))
		pagesWait(t, ctx, "the value offered", `document.querySelector('#explore-completion [data-kind="value"][data-value="vigil"]')`, 30*time.Second)
		pagesDo(t, ctx, "taking it", chromedp.Click(chromedp.CSS(`#explore-completion [data-value="vigil"]`)),
			chromedp.SendKeys(chromedp.ID("explore-expr"), "}"))
		if v := pagesEval[string](t, ctx, `document.getElementById('explore-expr').value`); v != `vigil_http_requests_total{job="vigil"}` {
			t.Fatalf("after completing, the editor holds %q", v)
		}
		pagesDo(t, ctx, "running it with Ctrl+Enter", chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
		pagesWait(t, ctx, "the graph drawn", `document.querySelector('#explore-graph[data-drawn="1"]')`, 20*time.Second)
		if e := pagesLocation(t, ctx).Query().Get("expr"); e != `vigil_http_requests_total{job="vigil"}` {
			t.Errorf("the URL has expr=%q", e)
		}
		if h := pagesEval[string](t, ctx, `localStorage.getItem('vigil.explore.history')`); !strings.Contains(h, `vigil_http_requests_total{job=\"vigil\"}`) {
			t.Errorf("the history holds %s", h)
		}
	})

	t.Run("explore parse error", func(t *testing.T) {
		pagesDo(t, ctx, "opening Explore", chromedp.Navigate(p.BaseURL+"/explore"), chromedp.WaitVisible(chromedp.ID("explore-expr")))
		setField(t, ctx, "#explore-expr", "sum(rate(up[5m])")
		pagesDo(t, ctx, "running it", chromedp.Click(chromedp.ID("explore-run")))
		pagesWait(t, ctx, "the error", `document.getElementById('explore-error')`, 30*time.Second)
		if msg := pagesEval[string](t, ctx, `document.getElementById('explore-error').textContent`); !strings.Contains(msg, "parse error") {
			t.Errorf("the error box shows %q", msg)
		}
		if pos := pagesEval[string](t, ctx, `document.getElementById('explore-error-pos').textContent`); !strings.Contains(pos, "sum(rate(up[5m])\n") || !strings.HasSuffix(pos, "^") {
			t.Errorf("the error position shows %q", pos)
		}
	})

	t.Run("targets", func(t *testing.T) {
		pagesDo(t, ctx, "opening Targets", chromedp.Navigate(p.BaseURL+"/targets"))
		pagesWait(t, ctx, "the vigil target up", `document.querySelector('[data-pool="vigil"] tr[data-target="vigil"][data-health="up"]')`, 30*time.Second)
		pagesDo(t, ctx, "showing the targets down", chromedp.Click(chromedp.ID("targets-down")))
		pagesWait(t, ctx, "no target down", `document.getElementById('targets-empty') && !document.querySelector('tr[data-target]')`, 5*time.Second)
	})

	t.Run("rules", func(t *testing.T) {
		pagesDo(t, ctx, "opening Rules", chromedp.Navigate(p.BaseURL+"/rules"))
		pagesWait(t, ctx, "the rule groups", `document.querySelector('[data-group="browser-pages"]')`, 15*time.Second)
		groups := pagesEval[[]string](t, ctx, `[...document.querySelectorAll('[data-group]')].map((g) => g.dataset.group)`)
		for _, g := range []string{"panic-platform-aggregations", "panic-platform-alerts", "browser-pages"} {
			if !slices.Contains(groups, g) {
				t.Errorf("the Rules page lists the groups %q, without %s", groups, g)
			}
		}
		href := pagesEval[string](t, ctx, `document.querySelector('[data-rule="ServiceDown"] .pg-query').getAttribute('href')`)
		if u, err := url.Parse(href); err != nil || u.Path != "/explore" || u.Query().Get("expr") != "up == 0" {
			t.Errorf("ServiceDown's query links to %q, want Explore with its expression", href)
		}
	})

	t.Run("status TSDB", func(t *testing.T) {
		pagesDo(t, ctx, "opening the TSDB status", chromedp.Navigate(p.BaseURL+"/status?tab=tsdb"))
		pagesWait(t, ctx, "the top metrics", `document.querySelector('#tsdb-top-metrics tr[data-name]')`, 15*time.Second)
		metrics := pagesEval[[]string](t, ctx, `[...document.querySelectorAll('#tsdb-top-metrics tr[data-name]')].map((r) => r.dataset.name)`)
		if len(metrics) != 10 || !slices.ContainsFunc(metrics, func(m string) bool { return strings.HasPrefix(m, "vigil_") }) {
			t.Fatalf("the top metrics are %q, want ten with Vigil's own", metrics)
		}
		total := pagesEval[string](t, ctx, `document.querySelector('#tsdb-num-series .pg-stat-value').textContent`)
		pagesDo(t, ctx, "drilling down to the first metric", chromedp.Click(chromedp.CSS(`#tsdb-top-metrics tr[data-name] button`)))
		pagesWait(t, ctx, "the narrowed report", `document.getElementById('tsdb-narrowed') && document.querySelectorAll('#tsdb-top-metrics tr[data-name]').length === 1`, 15*time.Second)
		if m := pagesLocation(t, ctx).Query().Get("match"); m != `{__name__="`+metrics[0]+`"}` {
			t.Errorf("the drill-down selector is %q", m)
		}
		if narrowed := pagesEval[string](t, ctx, `document.querySelector('#tsdb-num-series .pg-stat-value').textContent`); narrowed == total {
			t.Errorf("narrowed to one metric the report still counts %s series", narrowed)
		}
	})

	t.Run("phone width", func(t *testing.T) {
		pagesDo(t, ctx, "a 390 px wide screen", chromedp.EmulateViewport(390, 844))
		for _, page := range []struct{ path, ready string }{
			{"/alerts", `document.querySelector('[data-alert="BrowserPagesFiring"]') && document.querySelector('.pg-tl-row[data-timeline-row]')`},
			{"/silences", `document.querySelector('[data-silence-id]')`},
			{"/silences?state=expired", `document.querySelector('[data-silence-id][data-state="expired"]')`},
			{"/silences?new=1&matcher=" + url.QueryEscape(`alertname="BrowserPagesFiring"`), `document.querySelector('#silence-affected [data-affected]')`},
		} {
			pagesDo(t, ctx, "opening "+page.path, chromedp.Navigate(p.BaseURL+page.path))
			pagesWait(t, ctx, page.path+" loaded", page.ready, 20*time.Second)
			if w := pagesEval[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
				wide := pagesEval[string](t, ctx, `[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 391).slice(0, 5).map((e) => e.tagName + '.' + e.className).join(', ')`)
				t.Errorf("%s at 390 px is %d px wide (overflowing: %s)", page.path, w, wide)
			}
		}
	})
}
