package scrape

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/logger"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/model/value"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/web"
)

// The tests share one lib/promscrape (it runs once per process), so they
// run one after the other, each with its own Scraper.

// recorder is an Appender keeping the last sample of every series.
type recorder struct {
	mu     sync.Mutex
	last   map[string]sample // by series, labels sorted as the storage sorts them
	seen   map[string]bool
	stales map[string]int
	hist   map[string][]float64 // every value, in the order appended
	meta   map[string]storage.Metadata
}

type sample struct {
	t int64
	v float64
}

func newRecorder() *recorder {
	return &recorder{last: map[string]sample{}, seen: map[string]bool{}, stales: map[string]int{}, hist: map[string][]float64{}, meta: map[string]storage.Metadata{}}
}

func (r *recorder) Append(rows *storage.Rows) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return rows.ForEach(func(ls []storage.Label, ts int64, v float64) {
		key := seriesKey(ls)
		r.last[key] = sample{ts, v}
		r.seen[key] = true
		r.hist[key] = append(r.hist[key], v)
		if value.IsStaleNaN(v) {
			r.stales[key]++
		}
	})
}

func (r *recorder) AppendMetadata(md []storage.Metadata) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range md {
		r.meta[m.Metric] = m
	}
}

func (r *recorder) metadataOf(metric string) storage.Metadata {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.meta[metric]
}

// seriesKey is name{a="x",b="y"} with the labels sorted.
func seriesKey(ls []storage.Label) string {
	var name string
	var pairs []string
	for _, l := range ls {
		if l.Name == "__name__" {
			name = l.Value
			continue
		}
		pairs = append(pairs, fmt.Sprintf("%s=%q", l.Name, l.Value))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// value returns the last value of the series matching name and every
// label pair in want (a="x"), and whether there is one.
func (r *recorder) value(name string, want ...string) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, s := range r.last {
		if matches(key, name, want) {
			return s.v, true
		}
	}
	return 0, false
}

func (r *recorder) everSeen(name string, want ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key := range r.seen {
		if matches(key, name, want) {
			return true
		}
	}
	return false
}

// history returns the values of the series matching name and want, in
// the order they were appended (series in any order).
func (r *recorder) history(name string, want ...string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []float64
	for key, h := range r.hist {
		if matches(key, name, want) {
			out = append(out, h...)
		}
	}
	return out
}

func (r *recorder) staleCount(name string, want ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for key, c := range r.stales {
		if matches(key, name, want) {
			n += c
		}
	}
	return n
}

func matches(key, name string, want []string) bool {
	if !strings.HasPrefix(key, name+"{") {
		return false
	}
	for _, w := range want {
		if !strings.Contains(key, w) {
			return false
		}
	}
	return true
}

// exporter serves a client_golang registry with requests_total{path} and
// temperature_celsius on 127.0.0.1.
type exporter struct {
	*httptest.Server
	requests *prometheus.CounterVec
	host     string
}

func newExporter(t *testing.T) *exporter {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := &exporter{requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total", Help: "Requests."}, []string{"path"})}
	temp := prometheus.NewGauge(prometheus.GaugeOpts{Name: "temperature_celsius", Help: "Temperature."})
	reg.MustRegister(e.requests, temp)
	e.requests.WithLabelValues("/a").Add(3)
	temp.Set(21.5)
	e.Server = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	e.host = strings.TrimPrefix(e.URL, "http://")
	t.Cleanup(e.Close)
	return e
}

func startScraper(t *testing.T, promFile string) (*Scraper, *recorder) {
	t.Helper()
	rec := newRecorder()
	s := New(Options{Storage: rec, SelfInstance: "vigil.test:9595", FileSDCheckInterval: time.Second})
	if err := s.Start(Source{File: promFile}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Stop() })
	return s, rec
}

// waitFor polls cond every 50ms until it holds, failing the test after
// timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func target(s *Scraper, pool, host string) (web.Target, bool) {
	for _, t := range s.ActiveTargets() {
		if t.ScrapePool == pool && (host == "" || strings.Contains(t.ScrapeURL, host)) {
			return t, true
		}
	}
	return web.Target{}, false
}

func TestScrapeRelabelAndSelf(t *testing.T) {
	kept, dropped := newExporter(t), newExporter(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "prometheus.yml")
	writeFile(t, path, fmt.Sprintf(`
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: [%q, %q]
        labels: {env: test}
    relabel_configs:
      - source_labels: [__address__]
        regex: %q
        action: drop
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: temperature_celsius
        action: drop
`, kept.host, dropped.host, dropped.host))
	s, rec := startScraper(t, path)

	waitFor(t, 30*time.Second, "requests_total from the kept target", func() bool {
		v, ok := rec.value("requests_total", `job="app"`, `instance="`+kept.host+`"`, `path="/a"`, `env="test"`)
		return ok && v == 3
	})
	kept.requests.WithLabelValues("/a").Add(2)
	waitFor(t, 30*time.Second, "the counter's new value", func() bool {
		v, _ := rec.value("requests_total", `instance="`+kept.host+`"`)
		return v == 5
	})
	for _, name := range []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"} {
		if _, ok := rec.value(name, `job="app"`, `instance="`+kept.host+`"`); !ok {
			t.Errorf("no %s for the target", name)
		}
	}
	if v, _ := rec.value("up", `job="app"`); v != 1 {
		t.Errorf("up = %v, want 1", v)
	}
	if rec.everSeen("temperature_celsius", `instance="`+kept.host+`"`) {
		t.Error("temperature_celsius was stored although metric_relabel_configs drop it")
	}
	if rec.everSeen("requests_total", `instance="`+dropped.host+`"`) {
		t.Error("the target dropped by relabel_configs was scraped")
	}

	// The self-scrape: Vigil's own metrics under job vigil, with the
	// instance it is reached at.
	waitFor(t, 30*time.Second, "the self-scrape", func() bool {
		v, ok := rec.value("up", `job="vigil"`, `instance="vigil.test:9595"`)
		return ok && v == 1
	})
	if !rec.everSeen("vigil_scrape_samples_appended_total", `job="vigil"`) {
		t.Error("the self-scrape did not store Vigil's own metrics")
	}

	// /api/v1/targets' view.
	tg, ok := target(s, "app", kept.host)
	if !ok {
		t.Fatalf("no active target for %s in %+v", kept.host, s.ActiveTargets())
	}
	if tg.Health != web.TargetHealthGood || tg.LastError != "" || tg.LastScrape.IsZero() || tg.ScrapeURL != kept.URL+"/metrics" ||
		tg.Labels.Get("env") != "test" || tg.DiscoveredLabels.Get("__address__") != kept.host ||
		tg.ScrapeInterval != time.Second || tg.ScrapeTimeout != time.Second {
		t.Errorf("target = %+v", tg)
	}
	if _, ok := target(s, "vigil", ""); !ok {
		t.Error("no active target for the self-scrape")
	}
	drops, counts := s.DroppedTargets(s.ActiveTargets())
	if len(drops) != 1 || drops[0].ScrapePool != "app" || drops[0].DiscoveredLabels.Get("__address__") != dropped.host || counts["app"] != 1 {
		t.Errorf("DroppedTargets() = %+v, %v", drops, counts)
	}
}

func TestBadTargets(t *testing.T) {
	good, big, labelled := newExporter(t), newExporter(t), newExporter(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := closed.Addr().String()
	closed.Close()
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) })
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "internal error", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

	path := filepath.Join(t.TempDir(), "prometheus.yml")
	writeFile(t, path, fmt.Sprintf(`
global:
  scrape_interval: 1s
  scrape_timeout: 500ms
scrape_configs:
  - job_name: good
    static_configs: [{targets: [%q]}]
  - job_name: broken
    static_configs: [{targets: [%q, %q, %q]}]
  - job_name: limited
    sample_limit: 1
    static_configs: [{targets: [%q]}]
  - job_name: labelled
    label_limit: 3
    static_configs: [{targets: [%q]}]
`, good.host, unreachable, host(hanging), host(failing), big.host, labelled.host))
	s, rec := startScraper(t, path)

	for _, tt := range []struct{ pool, host, wantErr string }{
		{"broken", unreachable, "connection refused"},
		{"broken", host(hanging), "Timeout exceeded"},
		{"broken", host(failing), "500"},
		{"limited", big.host, "sample_limit=1"},
		// requests_total{path} has 4 labels with job, instance and __name__.
		{"labelled", labelled.host, "label_limit exceeded"},
	} {
		waitFor(t, 30*time.Second, "the error of "+tt.host, func() bool {
			tg, _ := target(s, tt.pool, tt.host)
			return tg.Health == web.TargetHealthBad && strings.Contains(tg.LastError, tt.wantErr)
		})
		if v, ok := rec.value("up", `instance="`+tt.host+`"`); !ok || v != 0 {
			t.Errorf("up for %s = %v, %v; want 0", tt.host, v, ok)
		}
	}
	for _, job := range []string{"limited", "labelled"} {
		for _, name := range []string{"requests_total", "temperature_celsius"} {
			if rec.everSeen(name, `job="`+job+`"`) {
				t.Errorf("%s of the target over its limit (job %s) was stored", name, job)
			}
		}
	}
	// The good target next to them is scraped as usual.
	waitFor(t, 30*time.Second, "the good target's scrape", func() bool {
		tg, _ := target(s, "good", good.host)
		v, _ := rec.value("requests_total", `job="good"`)
		return tg.Health == web.TargetHealthGood && tg.LastError == "" && v == 3
	})

	// The good target goes down: up becomes 0 and its series get a
	// staleness marker at once, so they leave instant queries.
	good.Close()
	waitFor(t, 30*time.Second, "up == 0 for the stopped target", func() bool {
		v, _ := rec.value("up", `job="good"`)
		return v == 0
	})
	// The markers follow up == 0 from the same failed scrape.
	waitFor(t, time.Second, "a staleness marker for the stopped target's series", func() bool {
		v, _ := rec.value("requests_total", `job="good"`)
		return value.IsStaleNaN(v)
	})
}

func TestFileSD(t *testing.T) {
	a, b := newExporter(t), newExporter(t)
	dir := t.TempDir()
	sd := filepath.Join(dir, "targets", "app.json")
	writeFile(t, sd, fmt.Sprintf(`[{"targets": [%q], "labels": {"team": "a"}}]`, a.host))
	path := filepath.Join(dir, "prometheus.yml")
	writeFile(t, path, `
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: sd
    file_sd_configs:
      - files: ["targets/*.json"]
        refresh_interval: 5m
`)
	s, rec := startScraper(t, path)
	waitFor(t, 30*time.Second, "the first file_sd target", func() bool {
		v, ok := rec.value("up", `job="sd"`, `instance="`+a.host+`"`, `team="a"`)
		return ok && v == 1
	})

	// b replaces a in the file.
	writeFile(t, sd, fmt.Sprintf(`[{"targets": [%q], "labels": {"team": "b"}}]`, b.host))
	waitFor(t, 30*time.Second, "the new file_sd target", func() bool {
		v, ok := rec.value("up", `job="sd"`, `instance="`+b.host+`"`, `team="b"`)
		return ok && v == 1
	})
	waitFor(t, 30*time.Second, "the removed target's staleness markers", func() bool {
		v, _ := rec.value("requests_total", `instance="`+a.host+`"`)
		return value.IsStaleNaN(v)
	})
	if _, ok := target(s, "sd", a.host); ok {
		t.Errorf("the removed target is still active: %+v", s.ActiveTargets())
	}
}

func TestHTTPSD(t *testing.T) {
	e := newExporter(t)
	sd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `[{"targets": [%q], "labels": {"team": "sd"}}]`, e.host)
	}))
	t.Cleanup(sd.Close)
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	writeFile(t, path, fmt.Sprintf(`
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: httpsd
    http_sd_configs: [{url: %q}]
`, sd.URL))
	s, rec := startScraper(t, path)
	waitFor(t, 30*time.Second, "the target http_sd returns", func() bool {
		v, ok := rec.value("requests_total", `job="httpsd"`, `instance="`+e.host+`"`, `team="sd"`)
		return ok && v == 3
	})
	if tg, ok := target(s, "httpsd", e.host); !ok || tg.DiscoveredLabels.Get("__meta_url") != sd.URL {
		t.Errorf("target = %+v", tg)
	}
}

func TestReload(t *testing.T) {
	a, b := newExporter(t), newExporter(t)
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	conf := func(jobs ...string) string {
		c := "global:\n  scrape_interval: 1s\nscrape_configs:\n"
		for _, j := range jobs {
			c += j
		}
		return c
	}
	jobA := fmt.Sprintf("  - job_name: a\n    static_configs: [{targets: [%q]}]\n", a.host)
	jobB := fmt.Sprintf("  - job_name: b\n    static_configs: [{targets: [%q]}]\n", b.host)
	writeFile(t, path, conf(jobA))
	s, rec := startScraper(t, path)
	waitFor(t, 30*time.Second, "job a", func() bool { v, ok := rec.value("up", `job="a"`); return ok && v == 1 })
	before, _ := target(s, "a", a.host)

	// A configuration that does not validate is refused; a keeps running.
	writeFile(t, path, conf(jobA, "  - job_name: b\n    relabel_configs: [{action: nonsense}]\n"))
	if _, err := s.Reload(Source{File: path}); err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("Reload with a bad relabel config = %v", err)
	}
	if !slices.Equal(s.Config().JobNames, []string{"a"}) {
		t.Errorf("JobNames after a failed reload = %v", s.Config().JobNames)
	}

	// Adding b leaves a's target alone: no staleness marker, and it keeps
	// being scraped.
	writeFile(t, path, conf(jobA, jobB))
	changed, err := s.Reload(Source{File: path})
	if err != nil || !changed {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	waitFor(t, 30*time.Second, "job b", func() bool { v, ok := rec.value("up", `job="b"`); return ok && v == 1 })
	waitFor(t, 30*time.Second, "a scrape of a after the reload", func() bool {
		tg, _ := target(s, "a", a.host)
		return tg.LastScrape.After(before.LastScrape) && tg.Health == web.TargetHealthGood
	})
	if n := rec.staleCount("requests_total", `job="a"`); n != 0 {
		t.Errorf("job a got %d staleness markers across a reload that kept it", n)
	}

	// Nothing changed: nothing to do.
	if changed, err := s.Reload(Source{File: path}); err != nil || changed {
		t.Errorf("Reload of the same file = %v, %v", changed, err)
	}

	// Removing a marks its series stale.
	writeFile(t, path, conf(jobB))
	if _, err := s.Reload(Source{File: path}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "job a's staleness markers", func() bool {
		v, _ := rec.value("requests_total", `job="a"`)
		return value.IsStaleNaN(v)
	})
	if _, ok := target(s, "a", ""); ok {
		t.Error("job a still has active targets")
	}
}

// The library never forgets a dropped target; /api/v1/targets must not
// list one that a reload made active or that the job no longer lists.
func TestDroppedTargetsAfterReload(t *testing.T) {
	x, y := newExporter(t), newExporter(t)
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	job := func(targets, relabel string) string {
		return "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: c\n    static_configs: [{targets: [" + targets + "]}]\n" + relabel
	}
	dropX := fmt.Sprintf("    relabel_configs: [{source_labels: [__address__], regex: %q, action: drop}]\n", x.host)
	both := fmt.Sprintf("%q, %q", x.host, y.host)
	writeFile(t, path, job(both, dropX))
	s, _ := startScraper(t, path)
	droppedAddrs := func() []string {
		drops, counts := s.DroppedTargets(s.ActiveTargets())
		var out []string
		for _, d := range drops {
			if d.ScrapePool == "c" {
				out = append(out, d.DiscoveredLabels.Get("__address__"))
			}
		}
		if counts["c"] != len(out) {
			t.Errorf("droppedTargetCounts[c] = %d, listed %d", counts["c"], len(out))
		}
		return out
	}

	waitFor(t, 30*time.Second, "x among the dropped targets", func() bool { return slices.Equal(droppedAddrs(), []string{x.host}) })

	// Without the relabel rule x is scraped, and no longer dropped.
	writeFile(t, path, job(both, ""))
	if _, err := s.Reload(Source{File: path}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "x active", func() bool { _, ok := target(s, "c", x.host); return ok })
	if d := droppedAddrs(); len(d) != 0 {
		t.Errorf("dropped targets after the reload that keeps x: %v", d)
	}

	// The rule back, and x gone from static_configs: nothing is dropped.
	writeFile(t, path, job(fmt.Sprintf("%q", y.host), dropX))
	if _, err := s.Reload(Source{File: path}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "x gone", func() bool { _, ok := target(s, "c", x.host); return !ok })
	if d := droppedAddrs(); len(d) != 0 {
		t.Errorf("dropped targets after x left static_configs: %v", d)
	}
}

func TestOneScraperPerProcess(t *testing.T) {
	startScraper(t, "")
	other := New(Options{Storage: newRecorder()})
	err := other.Start(Source{})
	if err == nil {
		other.Stop()
		t.Fatal("a second Scraper started")
	}
	if !strings.Contains(err.Error(), "once per process") {
		t.Errorf("error = %v", err)
	}
}

func TestMain(m *testing.M) {
	// As storage.Open does in the appliance: VictoriaMetrics' INFO lines
	// (every target added or removed) are not Vigil's log.
	flag.Parse()
	flag.Set("loggerLevel", "WARN")
	logger.InitNoLogFlags()
	os.Exit(m.Run())
}
