//go:build unix

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// TestDemo: vigil --demo says so at start, backfills six hours of the
// simulated Panic platform at once (--demo-backfill; 24h by default), and
// a restart on the same data directory fills only the gap, never writing
// a timestamp twice, with every counter going on from its stored value.
func TestDemo(t *testing.T) {
	dataDir := t.TempDir()
	p := startVigilProcess(t, "--demo", "--demo-backfill=6h", "--data-dir="+dataDir)
	if !strings.Contains(p.Stdout(), "demo: a simulated Panic platform") {
		t.Errorf("start-up does not mention the demo:\n%s", p.Stdout())
	}
	c := adminClient()
	// Six hours every 15 s is 1,441 samples; the backfill is done when
	// they are all there.
	const up = `count_over_time(up{job="panic-platform",instance="demo-api:8000"}[6h])`
	// On a loaded machine the backfill takes longer than waitQuery waits.
	waitFor(t, 90*time.Second, "the demo's backfill", func() bool {
		return strings.Contains(p.Stderr(), `msg="demo backfill done`)
	})
	waitQuery(t, c, p.BaseURL, up+" >= 1440", "")
	waitQuery(t, c, p.BaseURL, `count(count by (zone) (panic_requests_total))`, "5")
	waitQuery(t, c, p.BaseURL, `count(count by (firm_id) (panic_request_response_time_seconds_count))`, "10")
	var names []string
	for _, m := range ingest.Catalogue() {
		names = append(names, m.Name+"(_bucket|_sum|_count)?")
	}
	waitQuery(t, c, p.BaseURL, `count(sum by (__name__) ({__name__=~"`+strings.Join(names, "|")+`"}))`, "21")
	// The live half that the real platform exposes is scraped from the
	// demo's exporter (the worker's target fails during its outage)...
	waitQuery(t, c, p.BaseURL, `scrape_samples_scraped{job="panic-platform",instance="demo-api:8000"} > 300`, "")
	waitQuery(t, c, p.BaseURL, `count(scrape_duration_seconds{job="panic-platform",instance="demo-worker:8001"})`, "1")
	// ...and the half it records through the event API comes as events,
	// stored at the time they are recorded, not on the 15 s steps. At the
	// simulated day's low (04:00 UTC) about one live step in three has no
	// panic request at all, so this waits for several steps.
	waitFor(t, 2*time.Minute, "a panic request stored off the 15 s steps", func() bool {
		var res struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		scrapeGetJSON(t, c, p.BaseURL+"/api/v1/query?query="+url.QueryEscape(`count((timestamp(panic_requests_total) * 1000) % 15000 > 0) > 0`), &res)
		return len(res.Data.Result) == 1
	})
	checkPlatformAPI(t, p.BaseURL)
	p.Stop()

	p = startVigilProcess(t, "--demo", "--demo-backfill=6h", "--data-dir="+dataDir)
	waitFor(t, 90*time.Second, "the resumed demo's backfill", func() bool {
		return strings.Contains(p.Stderr(), `msg="demo backfill done`)
	})
	if !strings.Contains(p.Stderr(), `msg="resuming the simulated Panic platform"`) {
		t.Errorf("the restart did not resume the demo:\n%s", p.Stderr())
	}
	if code, body := statusOf(t, c, "GET", p.BaseURL+"/internal/force_flush", "", nil); code != 200 {
		t.Fatalf("force_flush: %d %s", code, body)
	}
	waitQuery(t, c, p.BaseURL, `count(count by (zone) (panic_requests_total))`, "5")
	// No timestamp written twice: the restart's backfill starts after the
	// last step stored.
	for _, series := range []string{`up{job="panic-platform",instance="demo-api:8000"}`, `db_connections_active{job="panic-platform"}`, `auth_login_attempts_total{user_type="admin",result="success"}`} {
		res := rangeSamples(t, c, p.BaseURL, series+"[7h]")
		if len(res) != 1 || len(res[0]) < 1440 {
			t.Fatalf("%s: %+v", series, res)
		}
		vs := res[0]
		for i := 1; i < len(vs); i++ {
			if vs[i][0].(float64) <= vs[i-1][0].(float64) {
				t.Fatalf("%s has two samples at %v", series, vs[i][0])
			}
		}
	}
	checkNoResets(t, p.BaseURL, "7h")
	p.Stop()
}

// checkPlatformAPI calls every endpoint of the Panic platform's API on a
// Vigil running the demo, over HTTP with authentication.
func checkPlatformAPI(t *testing.T, baseURL string) {
	t.Helper()
	c := adminClient()
	call := func(method, path string, want ...int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, baseURL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, w := range want {
			if resp.StatusCode == w {
				return body
			}
		}
		t.Fatalf("%s %s = %s, want %v: %s", method, path, resp.Status, want, body)
		return nil
	}
	var health struct {
		Status   string
		Platform []struct{ Name, Status string }
	}
	// The demo's database outage starts a minute in: 503 is an answer too.
	if err := json.Unmarshal(call("GET", "/api/v1/metrics/health", 200, 503), &health); err != nil || len(health.Platform) < 5 {
		t.Errorf("health: %v %+v", err, health)
	}
	var business struct {
		PanicRequests []any `json:"panic_requests"`
		PrankByZone   []any `json:"prank_detection_rate_by_zone"`
		Plans         []any `json:"active_subscriptions"`
	}
	if err := json.Unmarshal(call("GET", "/api/v1/metrics/business?hours=6", 200), &business); err != nil ||
		len(business.PanicRequests) != 4*5 || len(business.PrankByZone) != 5 || len(business.Plans) != 4 {
		t.Errorf("business: %v: %d requests by service type and status, %d zones, %d plans, want 20, 5 and 4",
			err, len(business.PanicRequests), len(business.PrankByZone), len(business.Plans))
	}
	var perf struct {
		Firms []any `json:"firm_requests"`
	}
	if err := json.Unmarshal(call("GET", "/api/v1/metrics/performance?firm_id=firm101&hours=2", 200), &perf); err != nil || len(perf.Firms) != 1 {
		t.Errorf("performance of firm101: %v %+v", err, perf)
	}
	if err := json.Unmarshal(call("GET", "/api/v1/metrics/performance?zone=atlantis", 200), &perf); err != nil || len(perf.Firms) != 0 {
		t.Errorf("performance of an unknown zone: %v %+v", err, perf)
	}
	call("GET", "/api/v1/metrics/performance?hours=twelve", 400)
	if body := call("GET", "/api/v1/metrics/alerts", 200); !strings.HasPrefix(string(body), `{"alerts":[`) {
		t.Errorf("alerts: %s", body)
	}
	if body := call("GET", "/api/v1/metrics/prometheus", 200); !strings.Contains(string(body), "# TYPE panic_requests_total counter\n") {
		t.Errorf("prometheus exposition lacks panic_requests_total")
	}
	call("POST", "/api/v1/metrics/update-cache-metrics", 200)
	var jobs struct {
		Jobs []struct {
			Name, Result string
			LastRun      *string `json:"last_run"`
		}
	}
	if err := json.Unmarshal(call("GET", "/api/v1/status/jobs", 200), &jobs); err != nil || len(jobs.Jobs) != 3 || jobs.Jobs[2].Name != "cleanup-old-metrics" ||
		jobs.Jobs[0].Name != "update-all-metrics" || jobs.Jobs[0].Result != "ok" || jobs.Jobs[0].LastRun == nil {
		t.Errorf("jobs after update-cache-metrics: %v %+v", err, jobs)
	}

	viewer := clientAs("reader", createUserViaAPI(t, baseURL, "reader", "viewer"))
	resp, err := viewer.Post(baseURL+"/api/v1/metrics/update-cache-metrics", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer runs the minute job: %s, want 403", resp.Status)
	}
	resp, err = viewer.Get(baseURL + "/api/v1/metrics/business")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a viewer reads the business summary: %s, want 200", resp.Status)
	}
}
