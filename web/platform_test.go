package web

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-monitoring/vigil/rules/notify"
	"github.com/vigil-monitoring/vigil/storage"
)

// platformFixture writes three hours of Panic-platform series, a sample
// every 15 s up to now, with counters growing at constant rates, so that
// increase() over any whole window is exactly rate × window.
func platformFixture(t *testing.T, st *storage.Storage) time.Time {
	const step = 15 * time.Second
	end := time.Now().Truncate(step)
	n := int(3*time.Hour/step) + 1
	start := end.Add(-time.Duration(n-1) * step)
	perSecond := func(r float64) func(int) float64 {
		return func(i int) float64 { return r * 15 * float64(i) }
	}
	constant := func(v float64) func(int) float64 { return func(int) float64 { return v } }
	hist := func(le string, r float64) series {
		return series{[]string{"__name__", "panic_request_response_time_seconds_bucket", "service_type", "security", "zone", "downtown", "firm_id", "firm1", "le", le}, perSecond(r)}
	}
	writeSeries(t, st, start, step, n,
		series{[]string{"__name__", "panic_requests_total", "service_type", "security", "status", "accepted", "zone", "downtown", "firm_id", "firm1"}, perSecond(0.1)},
		series{[]string{"__name__", "panic_requests_total", "service_type", "medical", "status", "completed", "zone", "uptown", "firm_id", "firm2"}, perSecond(0.02)},
		series{[]string{"__name__", "prank_detections_total", "zone", "downtown"}, perSecond(0.01)},
		// Every response of firm1 takes between 60 and 120 s.
		hist("60", 0), hist("120", 0.1), hist("+Inf", 0.1),
		series{[]string{"__name__", "subscriptions_active", "plan", "basic"}, constant(100)},
		series{[]string{"__name__", "subscriptions_active", "plan", "premium"}, constant(7)},
		series{[]string{"__name__", "subscription_purchases_total", "plan", "basic"}, perSecond(0.001)},
		series{[]string{"__name__", "credit_transactions_total", "type", "usage"}, perSecond(0.04)},
		series{[]string{"__name__", "panic_service_completions_total", "service_type", "security", "firm_id", "firm1", "outcome", "success"}, perSecond(0.08)},
		series{[]string{"__name__", "panic_service_completions_total", "service_type", "security", "firm_id", "firm1", "outcome", "failed"}, perSecond(0.02)},
		series{[]string{"__name__", "up", "job", "panic-platform", "instance", "api:8000"}, constant(1)},
		series{[]string{"__name__", "db_connections_active"}, constant(12)},
		series{[]string{"__name__", "redis_connections_active"}, constant(5)},
		series{[]string{"__name__", "http_requests_total", "method", "GET", "endpoint", "/x", "status_code", "200"}, perSecond(9.9)},
		series{[]string{"__name__", "http_requests_total", "method", "GET", "endpoint", "/x", "status_code", "500"}, perSecond(0.1)},
		series{[]string{"__name__", "cache_hits_total", "cache", "c"}, perSecond(9)},
		series{[]string{"__name__", "cache_misses_total", "cache", "c"}, perSecond(1)},
	)
	return end
}

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-6*math.Max(1, math.Abs(want)) }

// value finds the value whose labels include kv.
func valueOf(t *testing.T, vs []any, kv ...string) float64 {
	t.Helper()
next:
	for _, v := range vs {
		m := v.(map[string]any)
		ls := m["labels"].(map[string]any)
		for i := 0; i < len(kv); i += 2 {
			if ls[kv[i]] != kv[i+1] {
				continue next
			}
		}
		for _, k := range []string{"value", "p50_seconds"} {
			if x, ok := m[k].(float64); ok {
				return x
			}
		}
	}
	t.Fatalf("no value with labels %v in %v", kv, vs)
	return 0
}

func TestPlatformSummaries(t *testing.T) {
	st := openStorage(t)
	platformFixture(t, st)
	s := newTestServer(t, st, Options{}, Deps{})

	res := get(t, s, "/api/v1/metrics/business", vals("hours", "2"))
	if res.code != 200 {
		t.Fatalf("business: %d %s", res.code, res.body)
	}
	b := res.json(t)
	const w = 2 * 3600.0
	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"security accepted", valueOf(t, b["panic_requests"].([]any), "service_type", "security", "status", "accepted"), 0.1 * w},
		{"medical completed", valueOf(t, b["panic_requests"].([]any), "service_type", "medical", "status", "completed"), 0.02 * w},
		{"prank rate", b["prank_detection_rate"].(float64), 0.01 / 0.12},
		{"prank rate downtown", valueOf(t, b["prank_detection_rate_by_zone"].([]any), "zone", "downtown"), 0.1},
		{"active basic", valueOf(t, b["active_subscriptions"].([]any), "plan", "basic"), 100},
		{"purchases basic", valueOf(t, b["subscription_purchases"].([]any), "plan", "basic"), 0.001 * w},
		{"credits usage", valueOf(t, b["credit_transactions"].([]any), "type", "usage"), 0.04 * w},
	}
	rt := b["response_times"].([]any)
	if len(rt) != 1 {
		t.Fatalf("response_times = %v, want downtown/security only", rt)
	}
	q := rt[0].(map[string]any)
	// Linear interpolation in the bucket (60, 120].
	checks = append(checks,
		struct {
			name      string
			got, want float64
		}{"p50", q["p50_seconds"].(float64), 90},
		struct {
			name      string
			got, want float64
		}{"p95", q["p95_seconds"].(float64), 117},
		struct {
			name      string
			got, want float64
		}{"p99", q["p99_seconds"].(float64), 119.4})
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("business %s = %v, want %v", c.name, c.got, c.want)
		}
	}

	res = get(t, s, "/api/v1/metrics/performance", vals("firm_id", "firm1", "hours", "2"))
	if res.code != 200 {
		t.Fatalf("performance: %d %s", res.code, res.body)
	}
	p := res.json(t)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"firm1 requests", valueOf(t, p["firm_requests"].([]any), "firm_id", "firm1"), 0.1 * w},
		{"firm1 successes", valueOf(t, p["completions"].([]any), "firm_id", "firm1", "outcome", "success"), 0.08 * w},
		{"firm1 completion rate", valueOf(t, p["completion_rates"].([]any), "firm_id", "firm1"), 0.8},
		{"downtown p50", valueOf(t, p["zone_response_times"].([]any), "zone", "downtown"), 90},
	} {
		if !near(c.got, c.want) {
			t.Errorf("performance %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := len(p["firm_requests"].([]any)); n != 1 {
		t.Errorf("performance of firm1 lists %d firms, want 1", n)
	}

	// A zone narrows completions to the firms serving it.
	p = get(t, s, "/api/v1/metrics/performance", vals("zone", "uptown")).json(t)
	if n := len(p["completions"].([]any)); n != 0 {
		t.Errorf("uptown has completions of firm1: %v", p["completions"])
	}

	for _, unknown := range []string{"firm_id", "zone"} {
		res := get(t, s, "/api/v1/metrics/performance", vals(unknown, `nowhere"}`))
		if res.code != 200 {
			t.Errorf("unknown %s: %d %s", unknown, res.code, res.body)
			continue
		}
		p := res.json(t)
		for _, k := range []string{"zone_response_times", "firm_requests", "firm_response_times", "completions", "completion_rates"} {
			if l, ok := p[k].([]any); !ok || len(l) != 0 {
				t.Errorf("unknown %s: %s = %v, want []", unknown, k, p[k])
			}
		}
	}
	for _, bad := range []string{"abc", "0", "-3", "1.5", "100000"} {
		for _, path := range []string{"/api/v1/metrics/performance", "/api/v1/metrics/business"} {
			res := get(t, s, path, vals("hours", bad))
			if res.code != 400 || !strings.Contains(string(res.body), "hours") || !strings.Contains(string(res.body), `"status":"error","errorType":"bad_data"`) {
				t.Errorf("%s?hours=%s: %d %s, want 400 naming hours in the error envelope", path, bad, res.code, res.body)
			}
		}
	}
}

func TestPlatformHealth(t *testing.T) {
	st := openStorage(t)
	end := platformFixture(t, st)
	s := newTestServer(t, st, Options{}, Deps{})

	var h struct {
		Status   string
		Vigil    []struct{ Name, Status, Reason string }
		Platform []struct {
			Name, Status, Reason string
			Value                *float64
		}
	}
	res := get(t, s, "/api/v1/metrics/health", nil)
	if err := json.Unmarshal(res.body, &h); err != nil {
		t.Fatal(err)
	}
	if res.code != 200 || h.Status != "ok" {
		t.Fatalf("health: %d %s", res.code, res.body)
	}
	want := map[string]float64{"targets": 1, "database": 12, "redis": 5, "error_rate": 0.01, "cache_hit_rate": 0.9}
	for _, c := range h.Platform {
		if w, ok := want[c.Name]; ok {
			if c.Status != "ok" || c.Value == nil || !near(*c.Value, w) {
				t.Errorf("platform %s: %s %v (%s), want ok %v", c.Name, c.Status, c.Value, c.Reason, w)
			}
			delete(want, c.Name)
		}
	}
	if len(want) != 0 {
		t.Errorf("health lacks %v:\n%s", want, res.body)
	}
	if len(h.Vigil) == 0 || h.Vigil[0].Name != "storage" || h.Vigil[0].Status != "ok" {
		t.Errorf("vigil's own health: %+v", h.Vigil)
	}

	// The database loses its connections: a critical component is down.
	writeSeries(t, st, end.Add(time.Millisecond), time.Second, 1,
		series{[]string{"__name__", "db_connections_active"}, func(int) float64 { return 0 }})
	res = get(t, s, "/api/v1/metrics/health", nil)
	if res.code != http.StatusServiceUnavailable || !strings.Contains(string(res.body), `"status":"down"`) ||
		!strings.Contains(string(res.body), "no open connections (db_connections_active is 0)") {
		t.Errorf("health without database: %d %s", res.code, res.body)
	}
}

type fakeAlerts []Alert

func (f fakeAlerts) ActiveAlerts() []Alert { return f }

func TestPlatformAlertsAndExposition(t *testing.T) {
	st := openStorage(t)
	platformFixture(t, st)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newTestServer(t, st, Options{}, Deps{Alerts: fakeAlerts{
		{Labels: labels.FromStrings("alertname", "HighErrorRate", "severity", "warning"), Annotations: labels.FromStrings("summary", "6% fail"), State: "pending", ActiveAt: at, Value: 0.06},
		{Labels: labels.FromStrings("alertname", "DatabaseConnectionLost", "severity", "critical"), State: "firing", ActiveAt: at, Value: 0},
	}})
	res := get(t, s, "/api/v1/metrics/alerts", nil)
	want := `{"alerts":[` +
		`{"name":"DatabaseConnectionLost","severity":"critical","state":"firing","summary":"","description":"","labels":{"alertname":"DatabaseConnectionLost","severity":"critical"},"active_at":"2026-01-02T03:04:05Z","value":0},` +
		`{"name":"HighErrorRate","severity":"warning","state":"pending","summary":"6% fail","description":"","labels":{"alertname":"HighErrorRate","severity":"warning"},"active_at":"2026-01-02T03:04:05Z","value":0.06}],` +
		`"firing":1,"pending":1}`
	if res.code != 200 || strings.TrimSpace(string(res.body)) != want {
		t.Errorf("alerts: %d\n%s\nwant\n%s", res.code, res.body, want)
	}

	res = get(t, s, "/api/v1/metrics/prometheus", nil)
	body := string(res.body)
	for _, line := range []string{
		"# TYPE panic_requests_total counter\n",
		`panic_requests_total{firm_id="firm1",service_type="security",status="accepted",zone="downtown"} 1080` + "\n",
		"# TYPE panic_request_response_time_seconds histogram\n",
		`panic_request_response_time_seconds_bucket{firm_id="firm1",le="+Inf",service_type="security",zone="downtown"} 1080` + "\n",
		"db_connections_active 12\n",
		"go_goroutines ", // Vigil's own
	} {
		if !strings.Contains(body, line) {
			t.Errorf("exposition lacks %q:\n%s", line, body)
		}
	}

	res = post(t, s, "/api/v1/metrics/update-cache-metrics", nil)
	if res.code != 200 || !strings.Contains(string(res.body), `"cache_hit_rates":[{"labels":{"cache":"c"},"value":0.9`) {
		t.Errorf("update-cache-metrics: %d %s", res.code, res.body)
	}
}

type fakeJobs []Job

func (f fakeJobs) Jobs() []Job                    { return f }
func (f fakeJobs) RunJob(name string) (Job, bool) { return Job{}, false }

// TestPlatformHealthNotifierAndJobs: a webhook that fails and a job whose
// last run failed make Vigil's health degraded, not down (200).
func TestPlatformHealthNotifierAndJobs(t *testing.T) {
	st := openStorage(t)
	platformFixture(t, st)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the receiver is down", http.StatusBadGateway)
	}))
	defer hook.Close()
	c, err := notify.Parse([]byte("route: {receiver: ops, group_wait: 0s, group_interval: 1s}\nreceivers: [{name: ops, webhook_configs: [{url: '" + hook.URL + "'}]}]"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := notify.New(notify.Options{Config: c})
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2026, 3, 2, 4, 0, 0, 0, time.UTC)
	s := newTestServer(t, st, Options{}, Deps{Alertmanager: d, Jobs: fakeJobs{
		{Name: "update-all-metrics", Result: "ok"},
		{Name: "cleanup-old-metrics", Result: "failed", LastRun: last, Detail: "the disk is full"},
	}})
	health := func() (int, map[string]string) {
		res := get(t, s, "/api/v1/metrics/health", nil)
		var h struct {
			Status string
			Vigil  []struct{ Name, Status, Reason string }
		}
		if err := json.Unmarshal(res.body, &h); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{"": h.Status}
		for _, c := range h.Vigil {
			out[c.Name] = c.Status + ": " + c.Reason
		}
		return res.code, out
	}
	code, h := health()
	if code != 200 || h["notifier"] != "ok: no notification sent yet" ||
		h["jobs"] != "degraded: the last run of 1 of 2 jobs (cleanup-old-metrics) failed, e.g. cleanup-old-metrics at 2026-03-02T04:00:00Z: the disk is full" || h[""] != "degraded" {
		t.Errorf("health: %d %v", code, h)
	}

	d.Put(&notify.Alert{Labels: model.LabelSet{"alertname": "HighErrorRate"}})
	d.Tick()
	d.Wait()
	code, h = health()
	if code != 200 || !strings.HasPrefix(h["notifier"], "degraded: the last notification of 1 of 1 integrations failed, e.g. ops/webhook at ") || !strings.Contains(h["notifier"], "502 Bad Gateway") {
		t.Errorf("health with a failing webhook: %d %v", code, h)
	}
}
