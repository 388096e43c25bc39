package remotewrite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v2"
)

func parseEntries(t *testing.T, text string) []Config {
	t.Helper()
	var cfgs []Config
	if err := yaml.UnmarshalStrict([]byte(text), &cfgs); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return cfgs
}

func TestCheckDefaultsAndOptions(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgs := parseEntries(t, `
- url: https://vminsert:8480/insert/0/prometheus/api/v1/write
  name: central
  remote_timeout: 10s
  basic_auth: {username: vigil, password_file: password}
  headers: {X-Scope-OrgID: panic}
  write_relabel_configs:
    - {source_labels: [__name__], regex: "go_.*", action: drop}
  queue_config: {capacity: 5000, max_shards: 8, max_samples_per_send: 1000, batch_send_deadline: 2s, min_backoff: 100ms, max_backoff: 10s, sample_age_limit: 1h}
  metadata_config: {send: false}
  protobuf_message: prometheus.WriteRequest
  vigil_max_disk_usage: 2GiB
- url: http://mimir:9009/api/v1/push
`)
	all, err := checkAll([]Source{{File: "prometheus.yml", BaseDir: dir, Entries: cfgs}}, map[string]string{"replica": "a", "cluster": "panic"})
	if err != nil {
		t.Fatal(err)
	}
	s := all[0]
	if s.key != "central" || s.timeout != 10*time.Second || s.capacity != 5000 || s.maxShards != 8 || s.minShards != 1 ||
		s.maxSamplesPerSend != 1000 || s.batchSendDeadline != 2*time.Second || s.minBackoff != 100*time.Millisecond ||
		s.maxBackoff != 10*time.Second || s.sampleAgeLimit != time.Hour || s.maxDiskBytes != 2<<30 || s.relabel.Len() != 1 {
		t.Errorf("settings = %+v", s)
	}
	if len(s.externalLabels) != 2 || s.externalLabels[0].Name != "cluster" || s.externalLabels[1].Name != "replica" {
		t.Errorf("external labels = %v, want sorted cluster, replica", s.externalLabels)
	}
	d := all[1]
	if !strings.HasPrefix(d.key, "url-") || d.timeout != DefaultRemoteTimeout || d.capacity != DefaultCapacity ||
		d.maxShards != DefaultMaxShards || d.maxSamplesPerSend != DefaultMaxSamplesPerSend ||
		d.batchSendDeadline != DefaultBatchSendDeadline || d.maxDiskBytes != DefaultMaxDiskUsage {
		t.Errorf("defaults = %+v", d)
	}
	// The queue of a remote without a name follows its URL.
	again, _ := checkAll([]Source{{File: "x", Entries: cfgs[1:]}}, nil)
	if again[0].key != d.key {
		t.Errorf("the key of the same URL changed: %s, %s", again[0].key, d.key)
	}
}

func TestCheckErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"no url", `[{name: x}]`, []string{`prometheus.yml: remote_write[0] (name "x"): url is missing`}},
		{"bad url", `[{url: "vm:8428"}]`, []string{`must be an absolute http:// or https:// URL`}},
		{"sigv4", `[{url: "http://a/", sigv4: {region: eu-west-1}}]`, []string{`remote_write[0] (url "http://a/"): unsupported option "sigv4": Vigil cannot sign requests for AWS`}},
		{"azuread", `[{url: "http://a/", azuread: {cloud: AzurePublic}}]`, []string{`unsupported option "azuread"`}},
		{"metadata send", `[{url: "http://a/", metadata_config: {send_interval: 1m}}]`, []string{`unsupported option "metadata_config: send: true"`}},
		{"remote write 2.0", `[{url: "http://a/", protobuf_message: io.prometheus.write.v2.Request}]`, []string{`unsupported option "protobuf_message: io.prometheus.write.v2.Request"`}},
		{"exemplars", `[{url: "http://a/", send_exemplars: true}]`, []string{`unsupported option "send_exemplars"`}},
		{"no retry on 429", `[{url: "http://a/", queue_config: {retry_on_http_429: false}}]`, []string{`retry_on_http_429: false is not supported`}},
		{"capacity", `[{url: "http://a/", queue_config: {capacity: 100, max_samples_per_send: 500}}]`, []string{`capacity 100 is smaller than max_samples_per_send 500`}},
		{"shards", `[{url: "http://a/", queue_config: {min_shards: 5, max_shards: 2}}]`, []string{`min_shards 5 is greater than max_shards 2`}},
		{"backoff", `[{url: "http://a/", queue_config: {min_backoff: 10s, max_backoff: 1s}}]`, []string{`min_backoff 10s is greater than max_backoff 1s`}},
		{"disk usage", `[{url: "http://a/", vigil_max_disk_usage: lots}]`, []string{`vigil_max_disk_usage "lots": not a size`}},
		{"tiny disk usage", `[{url: "http://a/", vigil_max_disk_usage: 1KiB}]`, []string{`must be at least 1MiB`}},
		{"reserved header", `[{url: "http://a/", headers: {authorization: "Bearer x"}}]`, []string{`headers: "authorization" is set by Vigil itself`}},
		{"missing password file", `[{url: "http://a/", basic_auth: {username: u, password_file: nope}}]`, []string{`basic_auth: password_file "nope": no such file`}},
		{"two auths", `[{url: "http://a/", basic_auth: {username: u, password: p}, bearer_token: t}]`, []string{`credentials or TLS:`}},
		{"bad relabel", `[{url: "http://a/", write_relabel_configs: [{action: nonsense}]}]`, []string{`write_relabel_configs:`}},
		{"unsafe name", `[{url: "http://a/", name: "../x"}]`, []string{`name "../x": Vigil names the remote's queue directory after it`}},
		{"duplicate name", `[{url: "http://a/", name: x}, {url: "http://b/", name: x}]`, []string{`remote_write[1] (name "x"): the name "x" is already used by prometheus.yml: remote_write[0]`}},
		{"duplicate url", `[{url: "http://a/"}, {url: "http://a/"}]`, []string{`remote_write[1] (url "http://a/"): the url is already sent to by`}},
		{"every problem", `[{url: "http://a/", sigv4: {}, google_iam: {}, round_robin_dns: true}]`, []string{`"sigv4"`, `"google_iam"`, `"round_robin_dns"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]Source{{File: "prometheus.yml", BaseDir: t.TempDir(), Entries: parseEntries(t, tt.yaml)}}, nil)
			if err == nil {
				t.Fatalf("Check passed, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	if got := redactURL("https://user:pass@vm:8428/api/v1/write"); strings.Contains(got, "pass") {
		t.Errorf("redactURL kept the password: %s", got)
	}
	if got := redactURL("http://vm:8428/api/v1/write"); got != "http://vm:8428/api/v1/write" {
		t.Errorf("redactURL changed a URL without a password: %s", got)
	}
}
