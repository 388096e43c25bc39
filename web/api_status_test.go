package web

import (
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-monitoring/vigil/storage"
)

func TestStatusEndpoints(t *testing.T) {
	st := openStorage(t)
	fixture(t, st)
	st.AppendMetadata([]storage.Metadata{
		{Metric: "http_requests_total", Type: "counter", Help: "Requests served."},
		{Metric: "up", Type: "gauge", Help: "Whether the target is up."},
		{Metric: "odd", Type: "gauge", Help: "Seconds <odd>.", Unit: "seconds"},
	})
	s := newTestServer(t, st, Options{}, Deps{
		Build:  BuildInfo{Version: "0.1.0", Revision: "abc123", Branch: "main", BuildUser: "ci", BuildDate: "20240101-00:00:00", GoVersion: "go1.26.8"},
		Flags:  map[string]string{"listen": ":9090", "retention": "30d"},
		Config: func() string { return "global:\n  scrape_interval: 15s\n" },
	})
	tests := []struct {
		golden string
		path   string
	}{
		{"status_buildinfo", "/api/v1/status/buildinfo"},
		{"status_config", "/api/v1/status/config"},
		{"status_flags", "/api/v1/status/flags"},
		{"status_walreplay", "/api/v1/status/walreplay"},
		{"targets_empty", "/api/v1/targets"},
		{"targets_empty_active", "/api/v1/targets?state=active"},
		{"targets_metadata_empty", "/api/v1/targets/metadata"},
		{"scrape_pools_empty", "/api/v1/scrape_pools"},
		{"rules_empty", "/api/v1/rules"},
		{"alerts_empty", "/api/v1/alerts"},
		{"alertmanagers_empty", "/api/v1/alertmanagers"},
		{"metadata", "/api/v1/metadata"},
		{"metadata_metric", "/api/v1/metadata?metric=odd"},
		{"metadata_limit_zero", "/api/v1/metadata?limit=0"},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			res := do(t, s, http.MethodGet, tc.path, nil)
			if res.code != http.StatusOK {
				t.Fatalf("status %d: %s", res.code, res.body)
			}
			checkGolden(t, tc.golden, res.body)
		})
	}
	if res := get(t, s, "/api/v1/metadata", vals("limit", "1")); len(res.json(t)["data"].(map[string]any)) != 1 {
		t.Errorf("metadata limit=1: %s", res.body)
	}
}

func TestRuntimeInfo(t *testing.T) {
	st := openStorage(t)
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	rel := &fakeReloader{}
	s := newTestServer(t, st, Options{}, Deps{StartTime: start, Reloader: rel})
	info := get(t, s, "/api/v1/status/runtimeinfo", nil).json(t)["data"].(map[string]any)
	cwd, _ := os.Getwd()
	want := map[string]any{
		"startTime":           "2024-05-01T12:00:00Z",
		"CWD":                 cwd,
		"reloadConfigSuccess": true,
		"lastConfigTime":      "2024-05-01T12:00:00Z",
		"corruptionCount":     0.0,
		"GOMAXPROCS":          float64(runtime.GOMAXPROCS(0)),
		"GOGC":                os.Getenv("GOGC"),
		"GODEBUG":             os.Getenv("GODEBUG"),
		"storageRetention":    "100y",
	}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("%s = %v, want %v", k, info[k], v)
		}
	}
	for _, k := range []string{"hostname", "serverTime", "goroutineCount", "GOMEMLIMIT"} {
		if _, ok := info[k]; !ok {
			t.Errorf("no %s in %v", k, info)
		}
	}

	rel.err = errTest
	if res := post(t, s, "/-/reload", nil); res.code != http.StatusInternalServerError {
		t.Fatalf("failed reload: %d %s", res.code, res.body)
	}
	info = get(t, s, "/api/v1/status/runtimeinfo", nil).json(t)["data"].(map[string]any)
	if info["reloadConfigSuccess"] != false || info["lastConfigTime"] == "2024-05-01T12:00:00Z" {
		t.Errorf("after a failed reload: %v", info)
	}
}

func TestTSDBStatus(t *testing.T) {
	st := openStorage(t)
	fixture(t, st)
	s := newTestServer(t, st, Options{}, Deps{})
	for _, tc := range []struct{ golden, query string }{
		{"status_tsdb", "date=2024-01-01"},
		{"status_tsdb_limit_match", "date=2024-01-01&limit=1&match[]=up"},
	} {
		res := get(t, s, "/api/v1/status/tsdb?"+tc.query, nil)
		if res.code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tc.query, res.code, res.body)
		}
		checkGolden(t, tc.golden, res.body)
	}
	if res := get(t, s, "/api/v1/status/tsdb", nil); res.code != http.StatusOK || !strings.Contains(string(res.body), `"headStats"`) {
		t.Errorf("today: %d %s", res.code, res.body)
	}
	if res := get(t, s, "/api/v1/status/tsdb", vals("limit", "10001")); res.code != http.StatusBadRequest {
		t.Errorf("limit over 10000: %d %s", res.code, res.body)
	}
}

func TestPrometheusReleaseOf(t *testing.T) {
	for in, want := range map[string]string{
		"v0.316.0":                               "3.16.0",
		"v0.300.1":                               "3.0.1",
		"v0.54.1":                                "2.54.1",
		"v0.316.1-0.20260101000000-0123456789ab": "3.16.1",
		"v1.2.3":                                 "",
		"(devel)":                                "",
	} {
		got, ok := prometheusReleaseOf(in)
		if got != want || ok != (want != "") {
			t.Errorf("prometheusReleaseOf(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if prometheusVersion != "3.16.0" {
		t.Errorf("the linked Prometheus is reported as %s; update fallbackPrometheusVersion and the golden files if it changed", prometheusVersion)
	}
}

// Fakes of the providers the later capabilities implement.

type fakeTargets struct{}

func (fakeTargets) ActiveTargets() []Target {
	return []Target{
		{
			DiscoveredLabels: labels.FromStrings("__address__", "db:9187", "__scheme__", "http"),
			Labels:           labels.FromStrings("instance", "db:9187", "job", "postgres"),
			ScrapePool:       "postgres", ScrapeURL: "http://db:9187/metrics",
			LastError: "connection refused", LastScrape: base, LastScrapeDuration: 1500 * time.Millisecond,
			Health: TargetHealthBad, ScrapeInterval: 30 * time.Second, ScrapeTimeout: 10 * time.Second,
		},
		{
			DiscoveredLabels: labels.FromStrings("__address__", "localhost:8000"),
			Labels:           labels.FromStrings("instance", "localhost:8000", "job", "api"),
			ScrapePool:       "api", ScrapeURL: "http://localhost:8000/metrics", GlobalURL: "http://vigil.example:8000/metrics",
			LastScrape: base, LastScrapeDuration: 2 * time.Millisecond,
			Health: TargetHealthGood, ScrapeInterval: 15 * time.Second, ScrapeTimeout: 10 * time.Second,
		},
	}
}

func (fakeTargets) DroppedTargets([]Target) ([]DroppedTarget, map[string]int) {
	return []DroppedTarget{{DiscoveredLabels: labels.FromStrings("__address__", "cache:6379"), ScrapePool: "api"}},
		map[string]int{"api": 3, "postgres": 0}
}

func (fakeTargets) TargetMetadata(t Target, metric string) []MetricMetadata {
	md := []MetricMetadata{{Metric: "http_requests_total", Type: "counter", Help: "Requests."}, {Metric: "up", Type: "gauge"}}
	if metric == "" {
		return md
	}
	for _, m := range md {
		if m.Metric == metric {
			return []MetricMetadata{m}
		}
	}
	return nil
}

type fakeRules struct{}

func (fakeRules) RuleGroups() []RuleGroup {
	alert := Alert{
		Labels:      labels.FromStrings("alertname", "ServiceDown", "severity", "critical", "job", "postgres"),
		Annotations: labels.FromStrings("summary", "postgres is down"),
		State:       "firing", ActiveAt: base, Value: 0,
	}
	return []RuleGroup{
		{
			Name: "panic-platform", File: "/etc/vigil/rules.yml", Interval: time.Minute,
			EvaluationTime: 3 * time.Millisecond, LastEvaluation: base,
			Rules: []Rule{
				{
					Type: RuleTypeAlerting, Name: "ServiceDown", Query: `up == 0`, Duration: time.Minute,
					Labels: labels.FromStrings("severity", "critical"), Annotations: labels.FromStrings("summary", "{{ $labels.job }} is down"),
					Health: RuleHealthGood, State: "firing", Alerts: []Alert{alert}, LastEvaluation: base, EvaluationTime: time.Millisecond,
				},
				{
					Type: RuleTypeRecording, Name: "job:up:sum", Query: `sum by (job) (up)`,
					Health: RuleHealthBad, LastError: "boom", LastEvaluation: base,
				},
			},
		},
		{
			Name: "zones", File: "/etc/vigil/zones.yml", Interval: 5 * time.Minute,
			Rules: []Rule{{Type: RuleTypeRecording, Name: "zone:panic_requests:rate5m", Query: `sum by (zone) (rate(panic_requests_total[5m]))`, Health: RuleHealthUnknown}},
		},
	}
}

func (f fakeRules) ActiveAlerts() []Alert {
	return f.RuleGroups()[0].Rules[0].Alerts
}

type fakeAlertmanagers struct{}

func (fakeAlertmanagers) Alertmanagers() ([]string, []string) {
	return []string{"http://vigil:9595/api/v2/alerts", "http://am:9093/api/v2/alerts"}, []string{"http://am-retired:9093/api/v2/alerts"}
}

func TestProviders(t *testing.T) {
	s := newTestServer(t, openStorage(t), Options{}, Deps{})
	e := s.e
	tests := []struct {
		golden string
		target string
		serve  func(c echoContext) apiResult
	}{
		{"targets", "/api/v1/targets", func(c echoContext) apiResult { return serveTargets(c, fakeTargets{}) }},
		{"targets_pool_dropped", "/api/v1/targets?state=dropped&scrapePool=api", func(c echoContext) apiResult { return serveTargets(c, fakeTargets{}) }},
		{"targets_metadata", "/api/v1/targets/metadata?match_target=%7Bjob%3D%22api%22%7D", func(c echoContext) apiResult { return s.serveTargetsMetadata(c, fakeTargets{}) }},
		{"targets_metadata_metric", "/api/v1/targets/metadata?metric=up&limit=1", func(c echoContext) apiResult { return s.serveTargetsMetadata(c, fakeTargets{}) }},
		{"scrape_pools", "/api/v1/scrape_pools", func(echoContext) apiResult { return serveScrapePools(fakeTargets{}) }},
		{"rules", "/api/v1/rules", func(c echoContext) apiResult { return s.serveRules(c, fakeRules{}) }},
		{"rules_filtered", "/api/v1/rules?type=record&rule_group[]=panic-platform&exclude_alerts=true", func(c echoContext) apiResult { return s.serveRules(c, fakeRules{}) }},
		{"rules_match_exclude", "/api/v1/rules?match[]=%7Bseverity%3D%22critical%22%7D&exclude_alerts=true", func(c echoContext) apiResult { return s.serveRules(c, fakeRules{}) }},
		{"rules_page1", "/api/v1/rules?group_limit=1", func(c echoContext) apiResult { return s.serveRules(c, fakeRules{}) }},
		{"alerts", "/api/v1/alerts", func(echoContext) apiResult { return serveAlerts(fakeRules{}) }},
		{"alertmanagers", "/api/v1/alertmanagers", func(echoContext) apiResult { return serveAlertmanagers(fakeAlertmanagers{}) }},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			res := serveWith(t, s, e, tc.target, tc.serve)
			if res.code != http.StatusOK {
				t.Fatalf("status %d: %s", res.code, res.body)
			}
			checkGolden(t, tc.golden, res.body)
		})
	}

	page2 := serveWith(t, s, e, "/api/v1/rules?group_limit=1&group_next_token="+ruleGroupToken("/etc/vigil/zones.yml", "zones"),
		func(c echoContext) apiResult { return s.serveRules(c, fakeRules{}) })
	if !strings.Contains(string(page2.body), `"name":"zones"`) || strings.Contains(string(page2.body), "groupNextToken") {
		t.Errorf("second page: %s", page2.body)
	}
	for _, q := range []string{"type=both", "group_next_token=x", "group_limit=0", "group_limit=1&group_next_token=unknown", "exclude_alerts=maybe"} {
		res := serveWith(t, s, e, "/api/v1/rules?"+q, func(c echoContext) apiResult { return s.serveRules(c, fakeRules{}) })
		if res.code != http.StatusBadRequest {
			t.Errorf("rules?%s: %d %s", q, res.code, res.body)
		}
	}
}
