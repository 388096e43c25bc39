//go:build unix

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The real Alertmanager and amtool, for the tests that check Vigil
// against them, built once into a cache that outlives the test run.

const alertmanagerModule = "github.com/prometheus/alertmanager"

const alertmanagerVersion = "v0.35.0"

var (
	amToolsOnce               sync.Once
	amToolsDir, amToolsReason string
)

// alertmanagerTools returns the paths of Alertmanager's alertmanager and
// amtool binaries (alertmanagerVersion), building them on first use into
// os.UserCacheDir()/vigil-test-tools. The test is skipped, with the
// reason, only if they cannot be built here (no Go module proxy).
func alertmanagerTools(t testing.TB) (alertmanager, amtool string) {
	t.Helper()
	amToolsOnce.Do(func() { amToolsDir, amToolsReason = buildAlertmanagerTools() })
	if amToolsReason != "" {
		t.Skipf("Alertmanager %s's binaries cannot be built here, so this test cannot run: %s", alertmanagerVersion, amToolsReason)
	}
	return filepath.Join(amToolsDir, "alertmanager"), filepath.Join(amToolsDir, "amtool")
}

// buildAlertmanagerTools builds the binaries unless the cache has them;
// it returns their folder, or why they could not be built.
func buildAlertmanagerTools() (dir, reason string) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err.Error()
	}
	dir = filepath.Join(cache, "vigil-test-tools", "alertmanager-"+alertmanagerVersion)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err.Error()
	}
	work, err := os.MkdirTemp("", "vigil-amtools-")
	if err != nil {
		return "", err.Error()
	}
	defer os.RemoveAll(work)
	goCmd := func(cwd string, env []string, args ...string) ([]byte, error) {
		cmd := exec.Command("go", args...)
		cmd.Dir = cwd
		cmd.Env = append(os.Environ(), append([]string{"GOFLAGS=-mod=mod", "GOWORK=off"}, env...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return out, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, lastLines(out, 5))
		}
		return out, nil
	}
	if !isFile(filepath.Join(dir, "amtool")) {
		if _, err := goCmd(work, []string{"GOBIN=" + dir, "GOFLAGS="}, "install", alertmanagerModule+"/cmd/amtool@"+alertmanagerVersion); err != nil {
			return "", err.Error()
		}
	}
	if !isFile(filepath.Join(dir, "alertmanager")) {
		// go install of cmd/alertmanager fails: ui/web.go embeds the built
		// web UI (ui/app/dist), which is generated at release time and
		// not part of the module. So the module's source is copied and
		// built with a one-page placeholder there; everything else (the
		// API, dispatch, silences) is Alertmanager's own code.
		out, err := goCmd(work, nil, "mod", "download", "-json", alertmanagerModule+"@"+alertmanagerVersion)
		if err != nil {
			return "", err.Error()
		}
		var mod struct{ Dir string }
		if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
			return "", fmt.Sprintf("go mod download gave no folder: %s", out)
		}
		src := filepath.Join(work, "alertmanager")
		if err := copyTree(mod.Dir, src); err != nil {
			return "", err.Error()
		}
		for _, app := range []string{"elm", "mantine"} {
			p := filepath.Join(src, "ui", "app", "dist", app, "index.html")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", err.Error()
			}
			if err := os.WriteFile(p, []byte("<p>Alertmanager's UI is not built in Vigil's tests.</p>\n"), 0o644); err != nil {
				return "", err.Error()
			}
		}
		tmp := filepath.Join(dir, fmt.Sprintf("alertmanager.%d.tmp", os.Getpid()))
		if _, err := goCmd(src, nil, "build", "-o", tmp, "./cmd/alertmanager"); err != nil {
			return "", err.Error()
		}
		if err := os.Rename(tmp, filepath.Join(dir, "alertmanager")); err != nil {
			return "", err.Error()
		}
	}
	return dir, ""
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// copyTree copies the regular files of src into dst, writable (the
// module cache is read-only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// realAlertmanager is a running Alertmanager binary.
type realAlertmanager struct {
	URL string // e.g. http://127.0.0.1:41234
	cmd *exec.Cmd
	out syncBuffer
}

// startAlertmanager runs the real Alertmanager on a free port of
// 127.0.0.1 with the config text and args, clustering off, until the test
// ends.
func startAlertmanager(t testing.TB, bin, config string, args ...string) *realAlertmanager {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	am := &realAlertmanager{URL: "http://" + addr}
	am.cmd = exec.Command(bin, append([]string{"--config.file=" + cfg, "--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--cluster.listen-address="}, args...)...)
	am.cmd.Stdout, am.cmd.Stderr = &am.out, &am.out
	if err := am.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		am.cmd.Process.Kill()
		am.cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", am.out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := adminClient().Get(am.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return am
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alertmanager at %s not ready within 30s:\n%s", am.URL, am.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr returns a 127.0.0.1 address no one listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runTool runs a binary with args and returns its output and exit code.
func runTool(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut syncBuffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	default:
		t.Fatalf("%s: %v", bin, err)
	}
	return out.String(), errOut.String(), code
}
