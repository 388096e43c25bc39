package appliance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrometheusSection(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`listen: 127.0.0.1:9700
# Scraping, as a prometheus.yml would say it.
prometheus:
  global:
    scrape_interval: 10s
  # the API
  scrape_configs:
    - job_name: api
      static_configs: [{targets: ["api:8000"]}]
  rule_files: [alerts.yml]
  alerting:
    alertmanagers: [{static_configs: [{targets: ["am:9093"]}]}]
retention: 60d
`)
	cfg, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Prometheus.Line != 3 || cfg.Retention.String() != "60d" {
		t.Errorf("section at line %d, retention %s after it", cfg.Prometheus.Line, cfg.Retention)
	}
	pc, err := scrapeSource(cfg).Load()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pc.JobNames, ",") != "api" || pc.RuleFiles[0] != filepath.Join(dir, "alerts.yml") {
		t.Errorf("the section as a prometheus.yml: jobs %v, rule files %v", pc.JobNames, pc.RuleFiles)
	}
	// Its alerting section is forwarded to, as prometheus.yml's is.
	if al, err := loadAlerting(cfg); err != nil || al == nil || len(al.Alertmanagers) != 1 {
		t.Errorf("loadAlerting = %+v, %v", al, err)
	}
	// The rendered configuration does not repeat it: it may hold secrets.
	out, err := cfg.MarshalFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "api:8000") || !strings.Contains(string(out), "prometheus: <the prometheus.yml section at line 3 of the config file>") {
		t.Errorf("MarshalFile:\n%s", out)
	}
	// --config.prometheus on the command line wins over it.
	cfg.Files.Prometheus = filepath.Join("testdata", "prometheus.yml")
	if src := scrapeSource(cfg); src.File != cfg.Files.Prometheus || src.Section != nil {
		t.Errorf("scrapeSource with the flag = %+v", src)
	}

	for _, tt := range []struct{ name, file, want string }{
		{"both in the file", "config: {prometheus: p.yml}\nprometheus:\n  scrape_configs: []\n",
			"vigil.yml:2: both a prometheus section and config: {prometheus: " + filepath.Join(dir, "p.yml") + "}"},
		{"not a mapping", "prometheus: [a]\n", "prometheus must be a mapping"},
	} {
		write(tt.file)
		if _, err := LoadFile(file); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want %q", tt.name, err, tt.want)
		}
	}
	// Errors in the section name the config file's lines.
	write("listen: 127.0.0.1:9700\nprometheus: {scrape_configs: [{job_name: a, scrape_protocols: [x]}]}\n")
	if cfg, err = LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if err := cfg.CheckScrape(); err == nil || !strings.Contains(err.Error(), `vigil.yml:2: unsupported option "scrape_protocols"`) {
		t.Errorf("a flow section with an unsupported option: %v", err)
	}
}
