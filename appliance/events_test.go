package appliance

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateEvents(t *testing.T) {
	orders := CustomMetricConfig{Name: "orders_total", Type: "counter", Labels: []CustomLabelConfig{{Name: "channel", Values: []string{"web", "app"}}, {Name: "region", MaxValues: 20}}}
	runValidateCases(t, []validateCase{
		{"custom metrics", func(c *Config) {
			c.Events.Metrics = []CustomMetricConfig{orders, {Name: "dispatch_seconds", Type: "histogram", Buckets: []float64{10, 60, 300}}}
		}, ""},
		{"bad type", func(c *Config) {
			c.Events.Metrics = []CustomMetricConfig{orders, {Name: "x", Type: "Counter"}}
		}, `events.metrics[1].type: metric x: "Counter" is not a type: use counter, gauge or histogram`},
		{"label without values", func(c *Config) {
			c.Events.Metrics = []CustomMetricConfig{{Name: "x", Type: "gauge", Labels: []CustomLabelConfig{{Name: "zone"}}}}
		}, `events.metrics[0].labels[0]: metric x: give values`},
		{"no name", func(c *Config) { c.Events.Metrics = []CustomMetricConfig{{Type: "gauge"}} }, `events.metrics[0].name: metric "": "" is not a metric name`},
	})
}

func TestLoadFileEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yml")
	if err := os.WriteFile(path, []byte(`events:
  metrics:
    - name: orders_total
      type: counter
      help: Orders placed.
      labels:
        - {name: channel, values: [web, app]}
        - {name: region, max_value: 20}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), `:8: unknown key "max_value" in events.metrics.labels (did you mean "max_values"?)`) {
		t.Errorf("a misspelt key of a label: %v", err)
	}
}

// TestCustomMetricsAndJobsReload declares a custom metric and a schedule
// in a config file, records events over HTTP, then reloads a file that
// drops the metric, adds another and moves the schedule.
func TestCustomMetricsAndJobsReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`log: {level: error}
jobs:
  update_performance_metrics: {schedule: "*/10 * * * *"}
events:
  metrics:
    - name: orders_total
      type: counter
      help: Orders placed.
      labels: [{name: channel, values: [web, app]}]
`)
	cfg, _, err := ParseArgs([]string{"--config=" + file, "--listen=127.0.0.1:0", "--data-dir=" + filepath.Join(dir, "data"), "--auth=none"})
	if err != nil {
		t.Fatal(err)
	}
	a := startAppliance(t, cfg)
	post := func(metric, body string, want int) string {
		t.Helper()
		resp, err := http.Post(a.URL()+"/api/v1/events/custom/"+metric, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("POST %s %s = %d %s, want %d", metric, body, resp.StatusCode, b, want)
		}
		return string(b)
	}
	jobSchedule := func(name string) string {
		t.Helper()
		_, body := get(t, a.URL()+"/api/v1/status/jobs")
		var out struct {
			Jobs []struct{ Name, Schedule string }
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		for _, j := range out.Jobs {
			if j.Name == name {
				return j.Schedule
			}
		}
		t.Fatalf("no job %s in %s", name, body)
		return ""
	}

	post("orders_total", `{"channel":"web","inc":3}`, 200)
	if got := post("orders_total", `{"channel":"fax"}`, 400); !strings.Contains(got, `"field":"channel"`) || !strings.Contains(got, `"errorType":"bad_data"`) {
		t.Errorf("a value outside the declared set: %s", got)
	}
	if got := post("signups_total", `{}`, 400); !strings.Contains(got, `unknown metric \"signups_total\": the custom metrics are orders_total`) {
		t.Errorf("an undeclared metric: %s", got)
	}
	if s := jobSchedule("update-performance-metrics"); s != "*/10 * * * *" {
		t.Errorf("schedule from the file: %q", s)
	}
	a.storage.ForceFlush()
	_, body := get(t, a.URL()+"/api/v1/metrics/prometheus")
	if !strings.Contains(body, "# HELP orders_total Orders placed.\n# TYPE orders_total counter\norders_total{channel=\"web\"} 3\n") {
		t.Errorf("the exposition lacks orders_total:\n%.600s", body)
	}

	write(`log: {level: error}
jobs:
  update_performance_metrics: {schedule: "@hourly"}
events:
  metrics:
    - {name: signups_total, type: counter}
`)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	post("signups_total", `{}`, 200)
	post("orders_total", `{"channel":"web"}`, 400)
	if s := jobSchedule("update-performance-metrics"); s != "@hourly" {
		t.Errorf("schedule after the reload: %q", s)
	}

	// A bad declaration is refused and the running ones stay.
	write("events:\n  metrics:\n    - {name: bad, type: summary}\n")
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), `events.metrics[0].type: metric bad: "summary" is not a type`) {
		t.Errorf("a bad declaration: %v", err)
	}
	post("signups_total", `{}`, 200)
}
