//go:build unix

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Real peers for the remote write tests: a VictoriaMetrics single-node
// and a Prometheus, installed with go install into the same cache as
// Alertmanager's tools (amtools_test.go), so that the build happens once
// per machine.

// peerTool is a binary installed on demand from a Go module.
type peerTool struct {
	name    string // the binary
	pkg     string // what go install builds, with @version
	version string
	// timeout bounds the install; past it the tests skip.
	timeout time.Duration
	// requiredInCI makes a failed install fail the tests under CI=true,
	// where the Go module proxy is reachable: the tests that need it are
	// the proof of a feature, not an extra.
	requiredInCI bool
	// optIn names an environment variable that must be 1 before the tool
	// is built; without it only an already installed binary is used. For
	// tools whose build would take most of a CI run.
	optIn string

	once sync.Once
	path string
	err  error
}

var (
	// About 2 minutes to build on a two-core machine.
	victoriaMetricsTool = &peerTool{name: "victoria-metrics", pkg: "github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@v1.151.0", version: "v1.151.0", timeout: 15 * time.Minute, requiredInCI: true}
	// Heavy: about 1 minute with a warm module cache, 10 or more on a
	// fresh machine, longer than the rest of the suite. Its test is an
	// extra: it runs where Prometheus is already in the cache or with
	// VIGIL_TEST_PROMETHEUS=1, and skips past 5 minutes of building.
	prometheusTool = &peerTool{name: "prometheus", pkg: "github.com/prometheus/prometheus/cmd/prometheus@v0.316.0", version: "v0.316.0", timeout: 5 * time.Minute, optIn: "VIGIL_TEST_PROMETHEUS"}
)

// binary returns the tool's path, installing it the first time. When it
// cannot be installed the test is skipped with the reason, or, for a tool
// requiredInCI, fails under CI=true.
func (p *peerTool) binary(t *testing.T) string {
	t.Helper()
	p.once.Do(func() { p.path, p.err = p.install() })
	if p.err != nil {
		if p.requiredInCI && os.Getenv("CI") == "true" {
			t.Fatalf("%s %s is needed and could not be installed: %v", p.name, p.version, p.err)
		}
		t.Skipf("%s %s could not be installed (go install %s): %v", p.name, p.version, p.pkg, p.err)
	}
	return p.path
}

func (p *peerTool) install() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "vigil-test-tools", p.name+"-"+p.version)
	bin := filepath.Join(dir, p.name)
	if isFile(bin) {
		return bin, nil
	}
	if p.optIn != "" && os.Getenv(p.optIn) != "1" {
		return "", fmt.Errorf("not built, as that takes too long for every run; set %s=1 to build it once into %s", p.optIn, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", p.pkg)
	cmd.Dir = os.TempDir() // outside Vigil's module
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, lastLines(out, 10))
	}
	return bin, nil
}

// peerProcess is a peer server started by a test. It can be stopped and
// started again on the same address and data directory.
type peerProcess struct {
	t       *testing.T
	name    string
	bin     string
	args    []string
	addr    string
	ready   string // the path answering 200 once it serves
	cmd     *exec.Cmd
	done    chan struct{}
	output  syncBuffer
	running bool
}

// URL is the peer's base URL.
func (p *peerProcess) URL() string { return "http://" + p.addr }

// start runs the peer and waits until it is ready.
func (p *peerProcess) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.output, &p.output
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(p.cmd, p.done)
	p.running = true
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.URL() + p.ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			p.t.Fatalf("%s exited while starting:\n%s", p.name, lastLines([]byte(p.output.String()), 20))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s was not ready within 60s: %v", p.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the peer gracefully and waits for it to exit.
func (p *peerProcess) stop() {
	p.t.Helper()
	if !p.running {
		return
	}
	p.running = false
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// startVictoriaMetrics starts a VictoriaMetrics single-node on a free
// address of 127.0.0.1 with a fresh data directory. Freshly written
// samples are searchable at once (no latency offset, no cache);
// extra adds flags.
func startVictoriaMetrics(t *testing.T, extra ...string) *peerProcess {
	t.Helper()
	p := &peerProcess{t: t, name: "victoria-metrics", bin: victoriaMetricsTool.binary(t), addr: freeAddr(t), ready: "/health"}
	p.args = append([]string{
		"-storageDataPath=" + t.TempDir(),
		"-httpListenAddr=" + p.addr,
		"-retentionPeriod=100y",
		"-search.latencyOffset=0s",
		"-search.disableCache",
		"-loggerLevel=WARN",
	}, extra...)
	p.start()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("victoria-metrics output:\n%s", lastLines([]byte(p.output.String()), 30))
		}
	})
	return p
}

// startPrometheus starts a Prometheus that takes remote write
// (--web.enable-remote-write-receiver) on a free address of 127.0.0.1,
// with no scrape jobs.
func startPrometheus(t *testing.T) *peerProcess {
	t.Helper()
	bin := prometheusTool.binary(t)
	cfg := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &peerProcess{t: t, name: "prometheus", bin: bin, addr: freeAddr(t), ready: "/-/ready"}
	p.args = []string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + t.TempDir(),
		"--web.listen-address=" + p.addr,
		"--web.enable-remote-write-receiver",
		"--log.level=warn",
	}
	p.start()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", lastLines([]byte(p.output.String()), 30))
		}
	})
	return p
}
