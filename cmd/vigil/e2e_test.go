//go:build unix

package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHelpListsVigilFlagsOnly(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		stdout, stderr, code := runVigil(t, arg)
		if code != 0 {
			t.Errorf("vigil %s exited with %d, want 0; stderr:\n%s", arg, code, stderr)
		}
		for _, want := range []string{
			"--listen=ADDR", "(default :9595)", "--data-dir=DIR", "--retention=DURATION", "(default 30d)",
			"--config=FILE", "--config.prometheus=FILE", "--config.alertmanager=FILE",
			"--auth=on|none", "--admin-password-file=FILE", "--demo",
			"--query.timeout=DURATION", "--query.max-samples=N", "--query.max-series=N",
			"--query.lookback-delta=DURATION", "--query.slow-log-threshold=DURATION",
			"--query.max-concurrency=N", "--enable-feature=NAME,...", "promql-experimental-functions",
			"--web.max-request-bytes=SIZE", "--memory.allowed-bytes=SIZE",
			"--log.level=LEVEL", "--log.format=FORMAT",
			"vigil check config FILE", "vigil user add|passwd|del|list|token", "vigil version",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("vigil %s does not mention %q", arg, want)
			}
		}
		// VictoriaMetrics' and client libraries' flags live on
		// flag.CommandLine and must never reach the user.
		for _, foreign := range []string{
			"memory.allowedPercent", "memory.allowedBytes", "loggerLevel", "loggerFormat",
			"retentionPeriod", "storageDataPath", "search.", "dedup.minScrapeInterval",
			"httpListenAddr", "fs.disableMmap", "test.v",
		} {
			if strings.Contains(stdout, foreign) {
				t.Errorf("vigil %s shows the foreign flag %q", arg, foreign)
			}
		}
	}
}

func TestStartServeAndShutDown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dataDir := t.TempDir()
			p := startVigilProcess(t, "--data-dir="+dataDir, "--auth=on")

			first := strings.SplitN(p.Stdout(), "\n", 2)[0]
			want := regexp.MustCompile(`^Vigil ` + regexp.QuoteMeta(testVersion) +
				` listening on http://127\.0\.0\.1:\d+ \(data: ` + regexp.QuoteMeta(dataDir) + `, retention 30d\)$`)
			if !want.MatchString(first) {
				t.Errorf("the first line is %q, want it to match %s", first, want)
			}
			if strings.Contains(p.Stdout(), "not yet available") {
				t.Errorf("start-up still says something is not available:\n%s", p.Stdout())
			}
			for _, path := range []string{"/-/ready", "/-/healthy"} {
				resp, err := http.Get(p.BaseURL + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
				}
			}

			start := time.Now()
			p.Signal(sig)
			if code := p.Wait(15 * time.Second); code != 0 {
				t.Fatalf("vigil exited with code %d after %s, want 0", code, sig)
			}
			t.Logf("clean exit %s after %s", time.Since(start).Round(time.Millisecond), sig)
			for _, step := range []string{"draining HTTP requests", "storage closed", "msg=stopped"} {
				if !strings.Contains(p.Stderr(), step) {
					t.Errorf("the shutdown log lacks %q", step)
				}
			}
			if _, err := os.Stat(filepath.Join(dataDir, "tsdb")); err != nil {
				t.Errorf("no storage in the data directory: %v", err)
			}
		})
	}
}

func TestStartHelperStops(t *testing.T) {
	baseURL, stop := startVigil(t)
	resp, err := http.Get(baseURL + "/-/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop()
}

func TestStartFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()

	running := startVigilProcess(t)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"listen address in use", []string{"--listen=" + addr, "--data-dir=" + t.TempDir()},
			"vigil: another process listens on " + addr + "; stop it, or pass --listen=:PORT with a free port"},
		{"data dir in use", []string{"--listen=127.0.0.1:0", "--data-dir=" + running.DataDir},
			"vigil: the data directory " + running.DataDir + " is in use by another Vigil process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runVigil(t, tt.args...)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr)
			}
		})
	}
	running.Stop()
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(badConfig, []byte("listen: :9595\nretension: 30d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--bogus"}, "vigil: unknown flag --bogus"},
		{"VictoriaMetrics flag", []string{"-memory.allowedPercent=50"}, "vigil: unknown flag --memory.allowedPercent"},
		{"bad duration", []string{"--retention=forever"}, `"forever" is not a duration`},
		{"invalid value", []string{"--retention=1h"}, "vigil: --retention=1h: the minimum retention is 1d"},
		{"unknown config key", []string{"--config=" + badConfig}, badConfig + `:2: unknown key "retension" (did you mean "retention"?)`},
		{"missing config", []string{"--config=" + filepath.Join(dir, "nope.yml")}, "does not exist"},
		{"stray argument", []string{"run", "extra"}, `unexpected argument "extra"`},
		{"unknown command", []string{"serve"}, `unknown command "serve"`},
		{"check alertmanager without files", []string{"check", "alertmanager"}, "vigil check alertmanager: name the file(s) to check"},
		{"check config without files", []string{"check", "config"}, "name the file(s) to check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runVigil(t, tt.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr)
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "vigil.yml")
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(good, []byte("retention: 90d\nquery:\n  timeout: 1m\nenable_feature: [no-such-feature]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("retention: 90d\nquery:\n  timout: 1m\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := runVigil(t, "check", "config", good)
	if code != 0 || !strings.Contains(stdout, "SUCCESS: "+good+" is valid") {
		t.Errorf("check config %s: code %d, stdout:\n%s\nstderr:\n%s", good, code, stdout, stderr)
	}
	if !strings.Contains(stdout, `WARNING: unknown option for --enable-feature: "no-such-feature"`) {
		t.Errorf("check config does not warn about the unknown feature:\n%s", stdout)
	}

	_, stderr, code = runVigil(t, "check", "config", good, bad)
	if code != 1 {
		t.Errorf("check config with a bad file: exit code %d, want 1", code)
	}
	if want := bad + `:3: unknown key "timout" in query (did you mean "timeout"?)`; !strings.Contains(stderr, want) {
		t.Errorf("check config does not report %q:\n%s", want, stderr)
	}
}

func TestVersion(t *testing.T) {
	stdout, _, code := runVigil(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "vigil, version "+testVersion) || !strings.Contains(stdout, "go version:") {
		t.Errorf("vigil version: code %d, output:\n%s", code, stdout)
	}
}
