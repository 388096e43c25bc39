//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests run the real binary, built once by TestMain with
// the version set the way releases set it.

const testVersion = "0.0.0-e2e"

var vigilBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vigilBin = filepath.Join(dir, "vigil")
	build := exec.Command("go", "build",
		"-ldflags", "-X github.com/vigil-monitoring/vigil/appliance.Version="+testVersion,
		"-o", vigilBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building vigil for the end-to-end tests: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// vigilProcess is a running vigil binary.
type vigilProcess struct {
	BaseURL string // e.g. http://127.0.0.1:41234
	DataDir string

	t        testing.TB
	cmd      *exec.Cmd
	stdout   syncBuffer
	stderr   syncBuffer
	done     chan struct{} // closed when the process has exited
	exitCode int           // valid once done is closed
}

// startVigil starts the binary with args and waits until it is ready. By
// default it listens on a free port of 127.0.0.1, keeps its data in a
// temporary directory and runs with authentication on, its user admin
// having the password testAdminPassword (through --admin-password-file):
// talk to it with adminClient() or adminTransport(...), or create users
// and tokens with createUserViaAPI and createTokenViaAPI. Pass --listen,
// --data-dir, --auth=none or --admin-password-file to change that (an empty
// --admin-password-file= makes a first start generate and print the
// password). stop sends SIGTERM and fails the test unless Vigil exits with
// code 0 within 15s. The process is killed at the end of the test if still
// running.
func startVigil(t *testing.T, args ...string) (baseURL string, stop func()) {
	t.Helper()
	p := startVigilProcess(t, args...)
	return p.BaseURL, p.Stop
}

// startVigilProcess is startVigil for tests that need the process: its
// output, its signals and its exit code.
func startVigilProcess(t testing.TB, args ...string) *vigilProcess {
	t.Helper()
	p := &vigilProcess{t: t, done: make(chan struct{})}
	has := func(flag string) bool {
		for _, a := range args {
			if a == "--"+flag || a == "-"+flag || strings.HasPrefix(a, "--"+flag+"=") || strings.HasPrefix(a, "-"+flag+"=") {
				return true
			}
		}
		return false
	}
	if !has("data-dir") {
		p.DataDir = t.TempDir()
		args = append(args, "--data-dir="+p.DataDir)
	}
	if !has("listen") {
		args = append(args, "--listen=127.0.0.1:0")
	}
	if !has("admin-password-file") && !slices.Contains(args, "--auth=none") && !slices.Contains(args, "-auth=none") {
		file := filepath.Join(t.TempDir(), "admin-password")
		if err := os.WriteFile(file, []byte(testAdminPassword+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--admin-password-file="+file)
	}
	p.cmd = exec.Command(vigilBin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting vigil: %v", err)
	}
	go func() {
		err := p.cmd.Wait()
		p.exitCode = 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			p.exitCode = exitErr.ExitCode()
		} else if err != nil {
			p.exitCode = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("vigil %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), p.stdout.String(), p.stderr.String())
		}
	})

	listening := regexp.MustCompile(`listening on (https?://\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for p.BaseURL == "" {
		if m := listening.FindStringSubmatch(p.stdout.String()); m != nil {
			p.BaseURL = m[1]
			break
		}
		select {
		case <-p.done:
			t.Fatalf("vigil exited with code %d before listening", p.exitCode)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("vigil did not print where it listens within 30s")
		}
	}
	// Readiness only: with --web.tls-cert-file the tests bring their own
	// certificate and check it with their own clients.
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer probe.CloseIdleConnections()
	for {
		resp, err := probe.Get(p.BaseURL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil at %s was not ready within 30s (last: %v)", p.BaseURL, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stdout and Stderr return what the process has written so far.
func (p *vigilProcess) Stdout() string { return p.stdout.String() }
func (p *vigilProcess) Stderr() string { return p.stderr.String() }

// Signal sends sig to the process.
func (p *vigilProcess) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling vigil: %v", err)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// code; it fails the test on timeout.
func (p *vigilProcess) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exitCode
	case <-time.After(timeout):
		p.t.Fatalf("vigil did not exit within %s", timeout)
		return -1
	}
}

// Stop sends SIGTERM and requires a clean exit (code 0) within 15s.
func (p *vigilProcess) Stop() {
	p.t.Helper()
	select {
	case <-p.done:
		p.t.Fatalf("vigil had already exited with code %d", p.exitCode)
	default:
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(15 * time.Second); code != 0 {
		p.t.Fatalf("vigil exited with code %d after SIGTERM, want 0", code)
	}
}

// runVigil runs a command that exits by itself (vigil version, vigil
// check ...) and returns its output and exit code.
func runVigil(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runVigilWithInput(t, "", args...)
}

// runVigilWithInput is runVigil with stdin as the standard input.
func runVigilWithInput(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, vigilBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		code = exitErr.ExitCode()
	default:
		t.Fatalf("vigil %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
