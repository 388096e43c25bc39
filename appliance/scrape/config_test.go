package scrape

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v2"
)

func TestLoadPrometheusConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "prometheus.yml")
	writeFile(t, path, `
global:
  scrape_interval: 15s
  evaluation_interval: 30s
  external_labels:
    cluster: panic-prod
rule_files:
  - rules/*.yml
  - /etc/prometheus/alerts.yml
remote_write:
  - url: http://vm:8428/api/v1/write
    name: vm
    queue_config:
      capacity: 10000
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["alertmanager:9093"]
scrape_configs:
  - job_name: panic-api
    metrics_path: /api/v1/metrics/prometheus
    bearer_token_file: secrets/token
    static_configs:
      - targets: ["api:8000"]
  - job_name: nodes
    honor_timestamps: false
    file_sd_configs:
      - files: ["sd/*.json"]
        refresh_interval: 1m
`)
	writeFile(t, filepath.Join(dir, "secrets", "token"), "s3cret\n")
	pc, err := LoadPrometheusConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Global.EvaluationInterval != 30*time.Second || pc.Global.ExternalLabels["cluster"] != "panic-prod" {
		t.Errorf("Global = %+v", pc.Global)
	}
	if want := []string{filepath.Join(dir, "rules/*.yml"), "/etc/prometheus/alerts.yml"}; strings.Join(pc.RuleFiles, ",") != strings.Join(want, ",") {
		t.Errorf("RuleFiles = %q, want %q", pc.RuleFiles, want)
	}
	if len(pc.RemoteWrite) != 1 || pc.RemoteWrite[0].URL != "http://vm:8428/api/v1/write" || pc.RemoteWrite[0].Name != "vm" ||
		pc.RemoteWrite[0].QueueConfig.Capacity != 10000 {
		t.Errorf("RemoteWrite = %+v", pc.RemoteWrite)
	}
	if !strings.Contains(string(pc.Alerting), "alertmanager:9093") {
		t.Errorf("Alerting = %s", pc.Alerting)
	}
	if strings.Join(pc.JobNames, ",") != "panic-api,nodes" {
		t.Errorf("JobNames = %q", pc.JobNames)
	}

	// What the library reads: paths made absolute, Prometheus' default
	// for honor_timestamps written out, Vigil's own keys left out.
	out, err := yaml.Marshal(pc.jobs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"bearer_token_file: " + filepath.Join(dir, "secrets/token"),
		"- " + filepath.Join(dir, "sd/*.json"),
		"honor_timestamps: true",
		"honor_timestamps: false",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("library jobs lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "refresh_interval") {
		t.Errorf("refresh_interval reached the library:\n%s", out)
	}
	global, _ := yaml.Marshal(pc.libGlobal)
	if strings.Contains(string(global), "evaluation_interval") || strings.Contains(string(global), "external_labels") {
		t.Errorf("library global = %s", global)
	}
}

func TestLoadPrometheusConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"unsupported top-level section", "remote_read:\n  - url: http://x\n", []string{`prometheus.yml:1: unsupported option "remote_read" at the top level`}},
		{"unsupported job option", "scrape_configs:\n  - job_name: a\n    scrape_protocols: [PrometheusText0.0.4]\n    static_configs: [{targets: [a:1]}]\n",
			[]string{`prometheus.yml:3: unsupported option "scrape_protocols" in a scrape config`, "remove it"}},
		{"unsupported global option", "global:\n  query_log_file: q.log\n", []string{`prometheus.yml:2: unsupported option "query_log_file" in global`}},
		{"several at once", "global:\n  query_log_file: q.log\nstorage: {}\n", []string{`"query_log_file"`, `"storage"`}},
		{"bad relabel regex", "scrape_configs:\n  - job_name: a\n    relabel_configs: [{source_labels: [x], regex: '('}]\n",
			[]string{`scrape_configs[0] (job_name "a"): relabel_configs:`}},
		{"bad metric relabel action", "scrape_configs:\n  - job_name: a\n    metric_relabel_configs: [{action: nonsense}]\n",
			[]string{`metric_relabel_configs:`, "nonsense"}},
		{"duplicate job", "scrape_configs:\n  - job_name: a\n  - job_name: a\n", []string{`job_name "a" is used twice`}},
		{"missing job name", "scrape_configs:\n  - static_configs: [{targets: [a:1]}]\n", []string{"job_name is missing"}},
		{"timeout above interval", "scrape_configs:\n  - job_name: a\n    scrape_interval: 1s\n    scrape_timeout: 5s\n", []string{"scrape_timeout 5s is greater than scrape_interval 1s"}},
		{"unknown discovery option", "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: pod, bogus: 1}]\n",
			[]string{`prometheus.yml:3: unsupported option "bogus" in kubernetes_sd_configs`, "remove it"}},
		{"discovery refresh interval", "scrape_configs:\n  - job_name: a\n    http_sd_configs:\n      - url: http://127.0.0.1:1/sd\n        refresh_interval: 30s\n",
			[]string{`prometheus.yml:5: unsupported option "refresh_interval" in http_sd_configs: Vigil's scraper re-reads http_sd_configs every 1m0s, whatever a job says; remove it`}},
		{"Prometheus' spelling of the Vultr discovery", "scrape_configs:\n  - job_name: a\n    vultr_sd_configs: [{}]\n",
			[]string{`prometheus.yml:3: unsupported option "vultr_sd_configs" in a scrape config`, "under vultr_configs; rename it"}},
		{"unknown discovery", "scrape_configs:\n  - job_name: a\n    scaleway_sd_configs: [{role: instance}]\n",
			[]string{`prometheus.yml:3: unsupported option "scaleway_sd_configs" in a scrape config`}},
		{"stream parsing", "scrape_configs:\n  - job_name: a\n    stream_parse: true\n", []string{"stream_parse: Vigil parses each response whole"}},
		{"bad scheme", "scrape_configs:\n  - job_name: a\n    scheme: ftp\n", []string{`scheme "ftp": must be http or https`}},
		{"two passwords", "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: f}\n", []string{"HTTP client options"}},
		{"scrape_config_files", "scrape_config_files: [more.yml]\n", []string{`unsupported option "scrape_config_files"`}},
		{"not yaml", "scrape_configs: [\n", []string{"prometheus.yml: yaml:"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "prometheus.yml")
			writeFile(t, path, tt.yaml)
			_, err := LoadPrometheusConfig(path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Written to the side and renamed, so that a reader polling the file
	// never sees it half-written.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// The service discoveries of lib/promscrape, as README lists them, are
// accepted in Prometheus' spelling (Vultr's excepted: vultr_configs).
func TestServiceDiscoveries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	writeFile(t, path, `
scrape_configs:
  - job_name: every-discovery
    static_configs: [{targets: ["127.0.0.1:9100"]}]
    file_sd_configs: [{files: [sd/*.json]}]
    http_sd_configs: [{url: "http://127.0.0.1:8000/sd"}]
    dns_sd_configs: [{names: [_metrics._tcp.example.org], type: SRV}]
    kubernetes_sd_configs: [{role: pod, namespaces: {names: [panic]}}]
    consul_sd_configs: [{server: "127.0.0.1:8500", services: [api]}]
    consulagent_sd_configs: [{server: "127.0.0.1:8500"}]
    docker_sd_configs: [{host: "unix:///var/run/docker.sock"}]
    dockerswarm_sd_configs: [{host: "unix:///var/run/docker.sock", role: tasks}]
    ec2_sd_configs: [{region: eu-west-1, port: 9100}]
    azure_sd_configs: [{subscription_id: s, tenant_id: t, client_id: c, client_secret: x}]
    gce_sd_configs: [{project: p, zone: europe-west1-b}]
    digitalocean_sd_configs: [{port: 9100}]
    hetzner_sd_configs: [{role: hcloud}]
    eureka_sd_configs: [{server: "http://127.0.0.1:8761/eureka"}]
    kuma_sd_configs: [{server: "http://127.0.0.1:5676"}]
    linode_sd_configs: [{port: 9100}]
    marathon_sd_configs: [{servers: ["http://127.0.0.1:8080"]}]
    nomad_sd_configs: [{server: "http://127.0.0.1:4646"}]
    openstack_sd_configs: [{role: instance, region: r}]
    ovhcloud_sd_configs: [{service: vps, application_key: k, application_secret: s, consumer_key: c}]
    puppetdb_sd_configs: [{url: "http://127.0.0.1:8080", query: "resources { type = \"Class\" }"}]
    vultr_configs: [{port: 9100}]
    yandexcloud_sd_configs: [{service: compute}]
`)
	pc, err := LoadPrometheusConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.jobs) != 1 {
		t.Fatalf("jobs = %v", pc.JobNames)
	}
}

// A prometheus: section of Vigil's config file is read as a prometheus.yml
// would be: it comes at the file's own lines, so errors name them.
func TestSourceSection(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "vigil.yml")
	section := "\n\n  global:\n    scrape_interval: 10s\n  rule_files: [alerts.yml]\n  scrape_configs:\n    - job_name: api\n      static_configs: [{targets: [\"api:8000\"]}]\n"
	pc, err := Source{Section: []byte(section), In: in, Line: 2}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pc.JobNames, ",") != "api" || pc.globalInterval != 10*time.Second || pc.RuleFiles[0] != filepath.Join(dir, "alerts.yml") {
		t.Errorf("config = %+v", pc)
	}

	bad := section + "      scrape_protocols: [PrometheusText0.0.4]\n"
	_, err = Source{Section: []byte(bad), In: in, Line: 2}.Load()
	if err == nil || !strings.Contains(err.Error(), `the prometheus section (line 2): `+in+`: vigil.yml:9: unsupported option "scrape_protocols" in a scrape config`) {
		t.Errorf("error = %v", err)
	}
	if pc, err := (Source{}).Load(); pc != nil || err != nil {
		t.Errorf("the zero Source = %v, %v", pc, err)
	}
}
