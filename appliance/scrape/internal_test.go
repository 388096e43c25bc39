package scrape

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestInternalTargets: targets this process serves are scraped under
// their job with their own instance labels, a failing one is down, and a
// job of prometheus.yml with the same name takes their place.
func TestInternalTargets(t *testing.T) {
	rec := newRecorder()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# TYPE orders_total counter\norders_total{channel=\"web\"} 7\n")
	})
	worker := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the worker is down", http.StatusServiceUnavailable)
	})
	s := New(Options{Storage: rec, SelfInstance: "vigil.test:9595", Internal: []InternalTarget{
		{Job: "platform", Instance: "api:8000", Interval: time.Second, Handler: api},
		{Job: "platform", Instance: "worker:8001", Interval: time.Second, Handler: worker},
	}})
	if err := s.Start(Source{}); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	waitFor(t, 30*time.Second, "orders_total of the internal API target", func() bool {
		v, ok := rec.value("orders_total", `job="platform"`, `instance="api:8000"`, `channel="web"`)
		return ok && v == 7
	})
	waitFor(t, 30*time.Second, "up of the failing internal target", func() bool {
		v, ok := rec.value("up", `job="platform"`, `instance="worker:8001"`)
		return ok && v == 0
	})
	if v, _ := rec.value("up", `job="platform"`, `instance="api:8000"`); v != 1 {
		t.Errorf("up of the API target = %v, want 1", v)
	}
	if _, ok := target(s, "platform", ""); !ok {
		t.Errorf("the internal targets are not listed: %+v", s.ActiveTargets())
	}

	// A job of the same name in prometheus.yml takes their place.
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	writeFile(t, path, "scrape_configs:\n  - job_name: platform\n    static_configs: [{targets: ['127.0.0.1:1']}]\n")
	if _, err := s.Reload(Source{File: path}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the file's job in place of the internal one", func() bool {
		for _, tg := range s.ActiveTargets() {
			if tg.ScrapePool == "platform" && tg.Labels.Get("instance") != "127.0.0.1:1" {
				return false
			}
		}
		_, ok := target(s, "platform", "127.0.0.1:1")
		return ok
	})
}
