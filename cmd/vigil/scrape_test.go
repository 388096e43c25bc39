//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Scraping end to end: the binary scrapes a client_golang exporter on
// 127.0.0.1 from --config.prometheus, and the values are queried back
// through the query API, with authentication on.

func TestScrapeEndToEnd(t *testing.T) {
	reg := prometheus.NewRegistry()
	orders := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orders_total", Help: "Orders."}, []string{"zone"})
	reg.MustRegister(orders)
	orders.WithLabelValues("downtown").Add(42)
	exporter := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer exporter.Close()
	host := strings.TrimPrefix(exporter.URL, "http://")
	// A target answering a login page instead of metrics.
	junk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!DOCTYPE html>\n<html><body>Sign in</body></html>\n")
	}))
	defer junk.Close()
	junkHost := strings.TrimPrefix(junk.URL, "http://")
	// Vigil keeps nothing of the scraper's in the temporary directory.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	dir := t.TempDir()
	promFile := filepath.Join(dir, "prometheus.yml")
	good := fmt.Sprintf(`
global:
  scrape_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: shop
    static_configs: [{targets: [%q], labels: {env: e2e}}]
  - job_name: junk
    static_configs: [{targets: [%q]}]
`, host, junkHost)
	writeScrapeConfig(t, promFile, good)
	// rule_files are evaluated (TestRuleFilesFromPrometheusYML); here the
	// file only has to exist.
	writeScrapeConfig(t, filepath.Join(dir, "rules.yml"), "groups: []\n")
	p := startVigilProcess(t, "--config.prometheus="+promFile)
	c := adminClient()

	// The exporter's value, then the self-scrape's up, through the query API.
	waitQuery(t, c, p.BaseURL, `orders_total{job="shop",env="e2e",instance="`+host+`",zone="downtown"}`, "42")
	waitQuery(t, c, p.BaseURL, `up{job="vigil"}`, "1")
	waitQuery(t, c, p.BaseURL, `scrape_samples_scraped{job="shop"} > 0`, "")

	// The target answering HTML is down, with the line it could not parse.
	waitQuery(t, c, p.BaseURL, `up{job="junk"}`, "0")
	var targets struct {
		Data struct {
			ActiveTargets []struct {
				ScrapePool string            `json:"scrapePool"`
				Health     string            `json:"health"`
				Labels     map[string]string `json:"labels"`
				LastError  string            `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	scrapeGetJSON(t, c, p.BaseURL+"/api/v1/targets?state=active", &targets)
	pools := map[string]string{}
	for _, tg := range targets.Data.ActiveTargets {
		pools[tg.ScrapePool] = tg.Health
		if tg.ScrapePool == "junk" && !strings.Contains(tg.LastError, `cannot unmarshal Prometheus line "<!DOCTYPE html>"`) {
			t.Errorf("lastError of the target answering HTML = %q", tg.LastError)
		}
	}
	if pools["shop"] != "up" || pools["vigil"] != "up" || pools["junk"] != "down" {
		t.Errorf("/api/v1/targets: %+v", targets.Data.ActiveTargets)
	}

	// The metadata the exporter exposed, per target.
	var md struct {
		Data []map[string]any `json:"data"`
	}
	scrapeGetJSON(t, c, p.BaseURL+"/api/v1/targets/metadata?match_target="+url.QueryEscape(`{job="shop"}`)+"&metric=orders_total", &md)
	if got, _ := json.Marshal(md.Data); string(got) != fmt.Sprintf(`[{"help":"Orders.","target":{"env":"e2e","instance":%q,"job":"shop"},"type":"counter","unit":""}]`, host) {
		t.Errorf("/api/v1/targets/metadata = %s", got)
	}

	// A configuration that does not validate is refused with the reason,
	// and scraping goes on with the running one.
	writeScrapeConfig(t, promFile, good+"    scrape_protocols: [PrometheusProto]\n")
	code, body := statusOf(t, c, http.MethodPost, p.BaseURL+"/-/reload", "", nil)
	if code == http.StatusOK || !strings.Contains(strings.ReplaceAll(body, `\"`, `"`), `prometheus.yml:10: unsupported option "scrape_protocols"`) {
		t.Errorf("POST /-/reload with an unsupported option = %d %s", code, body)
	}
	orders.WithLabelValues("downtown").Add(1)
	waitQuery(t, c, p.BaseURL, `orders_total{job="shop"}`, "43")

	// SIGHUP reloads too: the job is renamed.
	writeScrapeConfig(t, promFile, strings.Replace(good, "job_name: shop", "job_name: store", 1))
	p.Signal(syscall.SIGHUP)
	waitQuery(t, c, p.BaseURL, `orders_total{job="store"}`, "43")
	// The old job's series are marked stale at once, not after 5 minutes.
	waitQuery(t, c, p.BaseURL, `absent(orders_total{job="shop"})`, "1")

	// The exporter stops: up == 0, and its series leave instant queries.
	exporter.Close()
	waitQuery(t, c, p.BaseURL, `up{job="store"}`, "0")
	waitQuery(t, c, p.BaseURL, `absent(orders_total{job="store"})`, "1")

	p.Stop()
	if left, _ := filepath.Glob(filepath.Join(tmp, "vigil-scrape-*")); len(left) > 0 {
		t.Errorf("the scraper left %v behind", left)
	}
	// Scrape errors are in the targets' status, not in the log.
	for _, line := range []string{"error when scraping", "cannot scrape target"} {
		if strings.Contains(p.Stderr(), line) {
			t.Errorf("stderr has %q:\n%s", line, p.Stderr())
		}
	}
}

// Targets found in a file_sd file and relabelled, end to end through the
// query API: relabel_configs drop a target, metric_relabel_configs a
// metric; a change of the file adds a target and removes one, whose
// series leave instant queries at once.
func TestScrapeFileSDAndRelabel(t *testing.T) {
	newExporter := func(instanceValue float64) (*httptest.Server, string) {
		reg := prometheus.NewRegistry()
		temp := prometheus.NewGauge(prometheus.GaugeOpts{Name: "room_temperature_celsius", Help: "Temperature."})
		debug := prometheus.NewGauge(prometheus.GaugeOpts{Name: "debug_buffers", Help: "Not wanted."})
		reg.MustRegister(temp, debug)
		temp.Set(instanceValue)
		debug.Set(1)
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		t.Cleanup(srv.Close)
		return srv, strings.TrimPrefix(srv.URL, "http://")
	}
	_, a := newExporter(21)
	_, b := newExporter(22)
	_, dropped := newExporter(99)

	dir := t.TempDir()
	sd := filepath.Join(dir, "targets.json")
	writeScrapeConfig(t, sd, fmt.Sprintf(`[{"targets": [%q, %q], "labels": {"room": "lab"}}]`, a, dropped))
	promFile := filepath.Join(dir, "prometheus.yml")
	writeScrapeConfig(t, promFile, fmt.Sprintf(`
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: rooms
    file_sd_configs: [{files: [targets.json]}]
    relabel_configs:
      - source_labels: [__address__]
        regex: %q
        action: drop
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: debug_.*
        action: drop
`, regexp.QuoteMeta(dropped)))
	p := startVigilProcess(t, "--config.prometheus="+promFile, "--auth=none")
	c := http.DefaultClient

	waitQuery(t, c, p.BaseURL, `room_temperature_celsius{job="rooms",room="lab",instance="`+a+`"}`, "21")
	waitQuery(t, c, p.BaseURL, `count(up{job="rooms"})`, "1")
	waitQuery(t, c, p.BaseURL, `absent(room_temperature_celsius{instance="`+dropped+`"})`, "1")
	waitQuery(t, c, p.BaseURL, `absent(debug_buffers)`, "1")

	// b replaces a in the file.
	writeScrapeConfig(t, sd, fmt.Sprintf(`[{"targets": [%q], "labels": {"room": "lab"}}]`, b))
	waitQuery(t, c, p.BaseURL, `room_temperature_celsius{job="rooms",instance="`+b+`"}`, "22")
	waitQuery(t, c, p.BaseURL, `absent(room_temperature_celsius{instance="`+a+`"})`, "1")
	waitQuery(t, c, p.BaseURL, `count(up{job="rooms"})`, "1")
	p.Stop()
}

// One file: the scrape jobs in a prometheus section of Vigil's own config.
func TestScrapeFromConfigSection(t *testing.T) {
	reg := prometheus.NewRegistry()
	jobs := prometheus.NewGauge(prometheus.GaugeOpts{Name: "queue_jobs", Help: "Jobs waiting."})
	reg.MustRegister(jobs)
	jobs.Set(7)
	exporter := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer exporter.Close()
	host := strings.TrimPrefix(exporter.URL, "http://")

	file := filepath.Join(t.TempDir(), "vigil.yml")
	conf := func(job string) string {
		return fmt.Sprintf("auth: none\nprometheus:\n  global:\n    scrape_interval: 1s\n  scrape_configs:\n    - job_name: %s\n      static_configs: [{targets: [%q]}]\n", job, host)
	}
	writeScrapeConfig(t, file, conf("worker"))
	p := startVigilProcess(t, "--config="+file)
	c := http.DefaultClient
	waitQuery(t, c, p.BaseURL, `queue_jobs{job="worker"}`, "7")

	// Edited and reloaded with the rest of the file.
	writeScrapeConfig(t, file, conf("queue"))
	if code, body := statusOf(t, c, http.MethodPost, p.BaseURL+"/-/reload", "", nil); code != http.StatusOK {
		t.Fatalf("POST /-/reload = %d %s", code, body)
	}
	waitQuery(t, c, p.BaseURL, `queue_jobs{job="queue"}`, "7")

	// A mistake in the section names the config file's line.
	writeScrapeConfig(t, file, conf("queue")+"      scrape_protocols: [PrometheusProto]\n")
	code, body := statusOf(t, c, http.MethodPost, p.BaseURL+"/-/reload", "", nil)
	if code == http.StatusOK || !strings.Contains(strings.ReplaceAll(body, `\"`, `"`), `vigil.yml:8: unsupported option "scrape_protocols"`) {
		t.Errorf("POST /-/reload with an unsupported option in the section = %d %s", code, body)
	}
	p.Stop()
}

func TestScrapeBadConfigStopsTheStart(t *testing.T) {
	promFile := filepath.Join(t.TempDir(), "prometheus.yml")
	writeScrapeConfig(t, promFile, "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: [a:1]}]\n    scrape_protocols: [PrometheusProto]\n")
	_, stderr, code := runVigil(t, "--config.prometheus="+promFile, "--data-dir="+t.TempDir(), "--listen=127.0.0.1:0", "--auth=none")
	if code == 0 || !strings.Contains(stderr, `prometheus.yml:4: unsupported option "scrape_protocols" in a scrape config`) {
		t.Errorf("vigil with an unsupported option: exit %d, stderr:\n%s", code, stderr)
	}

	// vigil check config reads the prometheus section as the start would.
	vigilFile := filepath.Join(t.TempDir(), "vigil.yml")
	writeScrapeConfig(t, vigilFile, "listen: 127.0.0.1:9595\nprometheus:\n  scrape_configs:\n    - job_name: a\n      honor_labels: maybe\n")
	stdout, stderr, code := runVigil(t, "check", "config", vigilFile)
	if code != 1 || !strings.Contains(stderr, `the prometheus section (line 2): `+vigilFile+`: vigil.yml:5: cannot unmarshal !!str `+"`maybe`"+` into bool`) {
		t.Errorf("vigil check config with a bad prometheus section: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// waitQuery polls an instant query until its single result has value want
// ("" for any value), for up to 20s.
func waitQuery(t *testing.T, c *http.Client, baseURL, query, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var res struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		scrapeGetJSON(t, c, baseURL+"/api/v1/query?query="+url.QueryEscape(query), &res)
		last = fmt.Sprint(res.Data.Result)
		if len(res.Data.Result) == 1 && (want == "" || res.Data.Result[0].Value[1] == want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("query %s: want one result of value %q, last got %s", query, want, last)
}

func scrapeGetJSON(t *testing.T, c *http.Client, u string, into any) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func writeScrapeConfig(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}
