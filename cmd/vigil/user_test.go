//go:build unix

package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// vigil user ... on the data directory of a stopped Vigil, and the lock
// while it runs.
func TestUserCommands(t *testing.T) {
	dataDir := t.TempDir()
	dd := "--data-dir=" + dataDir
	user := func(t *testing.T, stdin string, wantCode int, args ...string) (stdout, stderr string) {
		t.Helper()
		stdout, stderr, code := runVigilWithInput(t, stdin, append([]string{"user"}, append(args, dd)...)...)
		if code != wantCode {
			t.Fatalf("vigil user %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, stdout, stderr)
		}
		return stdout, stderr
	}

	// Before the first start there is no state, and nothing is created.
	_, stderr := user(t, "", 1, "list")
	if !strings.Contains(stderr, "no Vigil state in "+dataDir) {
		t.Errorf("list before the first start: %s", stderr)
	}

	// While Vigil runs, the data directory is locked.
	p := startVigilProcess(t, dd)
	_, stderr = user(t, "", 1, "list")
	if want := "vigil user: Vigil is running with this data dir (" + dataDir + "); stop it or use the admin API at /api/v1/admin/users"; !strings.Contains(stderr, want) {
		t.Errorf("list on a running Vigil says %q, want %q", stderr, want)
	}
	p.Stop()

	pwFile := filepath.Join(t.TempDir(), "alice")
	if err := os.WriteFile(pwFile, []byte("alice-password-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	user(t, "", 0, "add", "alice", "--role=viewer", "--password-file="+pwFile)
	user(t, "writer-password\n", 0, "add", "walt", "--role=writer")
	if _, stderr := user(t, "", 1, "add", "alice", "--role=admin", "--password-file="+pwFile); !strings.Contains(stderr, `user "alice" already exists`) {
		t.Errorf("adding alice twice: %s", stderr)
	}
	for _, tt := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"add", "bob", "--role=superuser", "--password-file=" + pwFile}, `--role=superuser: unknown role`},
		{"", []string{"add", "bob", "--password-file=" + pwFile}, "--role=viewer|writer|admin is required"},
		{"", []string{"add", "--role=viewer"}, "missing the user NAME"},
		{"short\n", []string{"add", "bob", "--role=viewer"}, "password has 5 characters; use at least 8"},
		{"", []string{"add", "bob", "--role=viewer"}, "no password"},
		{"", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"", []string{"token", "create", "alice"}, "--name=CLIENT is required"},
		{"", []string{"list", "--bogus"}, "unknown flag --bogus"},
	} {
		if _, stderr := user(t, tt.stdin, 2, tt.args...); !strings.Contains(stderr, tt.want) {
			t.Errorf("vigil user %s: stderr %q, want %q", strings.Join(tt.args, " "), stderr, tt.want)
		}
	}

	stdout, _ := user(t, "", 0, "list")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^NAME\s+ROLE\s+TOKENS`),
		regexp.MustCompile(`(?m)^admin\s+admin\s+0\s`),
		regexp.MustCompile(`(?m)^alice\s+viewer\s+0\s`),
		regexp.MustCompile(`(?m)^walt\s+writer\s+0\s`),
	} {
		if !want.MatchString(stdout) {
			t.Errorf("user list does not match %s:\n%s", want, stdout)
		}
	}

	secret, stderr := user(t, "", 0, "token", "create", "alice", "--name=grafana")
	secret = strings.TrimSuffix(secret, "\n")
	if !regexp.MustCompile(`^vgl_[0-9A-Za-z]+$`).MatchString(secret) {
		t.Fatalf("token create printed %q on stdout, want only the secret", secret)
	}
	if !strings.Contains(stderr, "shown only this once") {
		t.Errorf("token create does not say the secret is shown once: %s", stderr)
	}
	stdout, _ = user(t, "", 0, "token", "list", "alice")
	m := regexp.MustCompile(`(?m)^([0-9a-f]{16})\s+alice\s+grafana\s`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("token list does not show alice's token:\n%s", stdout)
	}
	tokenID := m[1]
	if strings.Contains(stdout, secret) {
		t.Error("token list shows the secret")
	}

	// The running Vigil honours what the commands did.
	p = startVigilProcess(t, dd)
	const query, imp = "/api/v1/query?query=vector(1)", "/api/v1/import/prometheus"
	check := func(what string, c *http.Client, method, path string, want int) {
		t.Helper()
		if code, body := statusOf(t, c, method, p.BaseURL+path, "text/plain", []byte("e2e_cli 1\n")); code != want {
			t.Errorf("%s: %d %s, want %d", what, code, strings.TrimSpace(body), want)
		}
	}
	check("alice queries", clientAs("alice", "alice-password-1"), http.MethodGet, query, 200)
	check("alice imports", clientAs("alice", "alice-password-1"), http.MethodPost, imp, 403)
	check("alice's token queries", &http.Client{Transport: bearerTransport(nil, secret)}, http.MethodGet, query, 200)
	check("walt imports", clientAs("walt", "writer-password"), http.MethodPost, imp, 204)
	check("walt queries", clientAs("walt", "writer-password"), http.MethodGet, query, 403)
	p.Stop()

	user(t, "alice-password-2\n", 0, "passwd", "alice")
	user(t, "", 0, "token", "revoke", tokenID)
	if _, stderr := user(t, "", 1, "token", "revoke", tokenID); !strings.Contains(stderr, "no token with ID") {
		t.Errorf("revoking twice: %s", stderr)
	}
	user(t, "", 0, "role", "walt", "--role=admin")

	p = startVigilProcess(t, dd)
	check("alice's old password", clientAs("alice", "alice-password-1"), http.MethodGet, query, 401)
	check("alice's new password", clientAs("alice", "alice-password-2"), http.MethodGet, query, 200)
	check("the revoked token", &http.Client{Transport: bearerTransport(nil, secret)}, http.MethodGet, query, 401)
	check("walt, now admin, queries", clientAs("walt", "writer-password"), http.MethodGet, query, 200)
	p.Stop()

	user(t, "", 0, "del", "alice")
	if _, stderr := user(t, "", 1, "del", "alice"); !strings.Contains(stderr, `no user "alice"`) {
		t.Errorf("deleting alice twice: %s", stderr)
	}
	user(t, "", 0, "role", "walt", "--role=writer")
	if _, stderr := user(t, "", 1, "del", "admin"); !strings.Contains(stderr, "the last admin cannot be removed") {
		t.Errorf("deleting the last admin: %s", stderr)
	}
	stdout, _ = user(t, "", 0, "list")
	if strings.Contains(stdout, "alice") {
		t.Errorf("alice is still listed:\n%s", stdout)
	}

	if stdout, _, code := runVigil(t, "user", "--help"); code != 0 || !strings.Contains(stdout, "vigil user token create NAME --name=CLIENT") {
		t.Errorf("vigil user --help: code %d\n%s", code, stdout)
	}
}
