package appliance

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// testConfig is a valid configuration on a free port of 127.0.0.1 and a
// fresh data directory, logging only errors.
func testConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Auth = AuthNone
	cfg.Log.Level = "error"
	return cfg
}

func startAppliance(t *testing.T, cfg Config) *Appliance {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { a.Stop(context.Background()) })
	return a
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestStartServeStop(t *testing.T) {
	a := startAppliance(t, testConfig(t))
	if !a.Ready() {
		t.Error("Ready() = false after Start")
	}
	if !strings.HasPrefix(a.URL(), "http://127.0.0.1:") || strings.HasSuffix(a.URL(), ":0") {
		t.Errorf("URL() = %q, want http://127.0.0.1:<bound port>", a.URL())
	}
	if code, body := get(t, a.URL()+"/-/ready"); code != http.StatusOK {
		t.Errorf("/-/ready = %d %q, want 200", code, body)
	}

	var b strings.Builder
	metrics.WritePrometheus(&b, false)
	for _, want := range []string{
		`vigil_build_info{version="`,
		"vigil_start_time_seconds ",
		"vigil_config_last_reload_successful 1",
		"vigil_config_last_reload_success_timestamp_seconds ",
		"prometheus_engine_queries_concurrent_max 20",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("self-metrics lack %q", want)
		}
	}

	if err := a.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if a.Ready() {
		t.Error("Ready() = true after Stop")
	}
	if _, err := http.Get(a.URL() + "/-/ready"); err == nil {
		t.Error("the server still answers after Stop")
	}
	b.Reset()
	metrics.WritePrometheus(&b, false)
	if strings.Contains(b.String(), "vigil_build_info") {
		t.Error("self-metrics are still registered after Stop")
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Errorf("a second Stop = %v, want nil", err)
	}

	// The data directory is free again: another appliance may use it.
	cfg := a.Config()
	startAppliance(t, cfg)
}

func TestStartFailsClearly(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	running := startAppliance(t, testConfig(t))

	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"port in use", func(c *Config) { c.Listen = busy.Addr().String() },
			"another process listens on " + busy.Addr().String() + "; stop it, or pass --listen=:PORT"},
		{"data dir in use", func(c *Config) { c.DataDir = running.Config().DataDir },
			"the data directory " + running.Config().DataDir + " is in use by another Vigil process"},
		{"data dir is a file", func(c *Config) { c.DataDir = notADir },
			"cannot create the data directory " + notADir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.modify(&cfg)
			a, err := New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			err = a.Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start() = %v, want an error containing %q", err, tt.want)
			}
			if a.Ready() {
				t.Error("Ready() = true after a failed Start")
			}
		})
	}
	// The failed starts released what they took: the running appliance
	// still serves and its data directory is still locked.
	if code, _ := get(t, running.URL()+"/-/ready"); code != http.StatusOK {
		t.Errorf("the running appliance answers /-/ready with %d", code)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("retention: 30d\nlog:\n  level: error\n")
	cfg, _, err := ParseArgs([]string{
		"--config=" + file, "--listen=127.0.0.1:0", "--data-dir=" + filepath.Join(dir, "data"), "--auth=none",
		"--query.timeout=1m",
	})
	if err != nil {
		t.Fatal(err)
	}
	a := startAppliance(t, cfg)
	_, startedAt := a.LastReload()

	// Unchanged file: success.
	if err := a.Reload(); err != nil {
		t.Fatalf("Reload of an unchanged file = %v", err)
	}
	if ok, at := a.LastReload(); !ok || at.Before(startedAt) {
		t.Errorf("LastReload() = %v, %v after a good reload", ok, at)
	}

	// A changed setting is accepted; the flag still wins over the file.
	write("retention: 60d\nquery:\n  timeout: 5m\nlog:\n  level: error\n")
	if err := a.Reload(); err != nil {
		t.Fatalf("Reload of a changed file = %v", err)
	}
	next, _ := a.cfg.reread()
	if next.Query.Timeout != Duration(time.Minute) {
		t.Errorf("after reload query.timeout = %v, want the flag's 1m", next.Query.Timeout)
	}
	if got := changedSettings(a.Config(), next); strings.Join(got, ",") != "retention" {
		t.Errorf("changed settings = %q, want [retention]", got)
	}

	// A broken file is rejected and the running configuration kept.
	write("retention: 60d\nretension: 1d\n")
	err = a.Reload()
	if err == nil || !strings.Contains(err.Error(), file+`:2: unknown key "retension" (did you mean "retention"?)`) {
		t.Fatalf("Reload of a broken file = %v, want the unknown key with its line", err)
	}
	if ok, _ := a.LastReload(); ok {
		t.Error("LastReload() reports success after a failed reload")
	}
	var b strings.Builder
	metrics.WritePrometheus(&b, false)
	if !strings.Contains(b.String(), "vigil_config_last_reload_successful 0") {
		t.Error("vigil_config_last_reload_successful is not 0 after a failed reload")
	}
	if a.Config().Retention != Duration(30*24*time.Hour) {
		t.Errorf("the running retention changed to %v", a.Config().Retention)
	}

	// Over HTTP, as POST /-/reload.
	write("retention: 30d\n")
	resp, err := http.Post(a.URL()+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /-/reload = %d, want 200", resp.StatusCode)
	}
	if ok, _ := a.LastReload(); !ok {
		t.Error("LastReload() reports failure after a good reload over HTTP")
	}
}

func TestNotices(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Demo = true
	got := strings.Join(notices(cfg), "\n")
	if want := "demo: a simulated Panic platform"; !strings.Contains(got, want) {
		t.Errorf("notices lack %q:\n%s", want, got)
	}
	for _, mode := range []AuthMode{AuthOn, AuthNone} {
		cfg.Auth, cfg.Demo = mode, false
		if n := notices(cfg); len(n) != 0 {
			t.Errorf("notices with --auth=%s and no demo = %q, want none (authentication has its own notice)", mode, n)
		}
	}
}

func TestBrowseURL(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4zero, Port: 9595}
	tests := []struct{ listen, want string }{
		{":9595", "http://127.0.0.1:9595"},
		{"0.0.0.0:9595", "http://127.0.0.1:9595"},
		{"[::]:9595", "http://127.0.0.1:9595"},
		{"127.0.0.1:0", "http://127.0.0.1:9595"},
		{"localhost:9595", "http://localhost:9595"},
		{"[::1]:9595", "http://[::1]:9595"},
		{"192.0.2.7:9595", "http://192.0.2.7:9595"},
	}
	for _, tt := range tests {
		if got := browseURL(tt.listen, bound); got != tt.want {
			t.Errorf("browseURL(%q) = %q, want %q", tt.listen, got, tt.want)
		}
	}
}
