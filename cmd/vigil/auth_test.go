//go:build unix

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// Authentication end to end: the real binary, real HTTP on 127.0.0.1 and
// real clients.

// statusOf sends one request with c (nil: no credentials) and returns the
// status and body.
func statusOf(t *testing.T, c *http.Client, method, url, contentType string, body []byte) (int, string) {
	t.Helper()
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if contentType == "application/x-protobuf" {
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var firstStartLine = regexp.MustCompile(`(?m)^First start: log in as admin with password (\S+) \(shown once; change it with "vigil user passwd admin"\)$`)

func TestFirstStartPrintsCredentialsOnce(t *testing.T) {
	dataDir := t.TempDir()
	// An empty --admin-password-file: the first start generates one.
	p := startVigilProcess(t, "--data-dir="+dataDir, "--admin-password-file=")
	lines := strings.Split(p.Stdout(), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "listening on") {
		t.Fatalf("stdout:\n%s", p.Stdout())
	}
	m := firstStartLine.FindStringSubmatch(lines[1])
	if m == nil {
		t.Fatalf("the line after the address is %q, want the generated credentials", lines[1])
	}
	password := m[1]
	if n := strings.Count(p.Stdout(), password); n != 1 {
		t.Errorf("the password appears %d times on stdout, want once", n)
	}
	if strings.Contains(p.Stderr(), password) {
		t.Error("the password appears in the log")
	}

	query := p.BaseURL + "/api/v1/query?query=vector(1)"
	if code, _ := statusOf(t, clientAs("admin", password), http.MethodGet, query, "", nil); code != http.StatusOK {
		t.Errorf("query as admin with the printed password = %d, want 200", code)
	}
	if code, body := statusOf(t, nil, http.MethodGet, query, "", nil); code != http.StatusUnauthorized ||
		!strings.Contains(body, "authentication required") {
		t.Errorf("anonymous query = %d %s, want 401", code, body)
	}
	if code, _ := statusOf(t, clientAs("admin", password+"x"), http.MethodGet, query, "", nil); code != http.StatusUnauthorized {
		t.Errorf("query with a wrong password = %d, want 401", code)
	}
	p.Stop()

	// Only a bcrypt hash is stored.
	state, err := os.ReadFile(filepath.Join(dataDir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(state, []byte(password)) {
		t.Error("state.db holds the password in clear")
	}

	q := startVigilProcess(t, "--data-dir="+dataDir, "--admin-password-file=")
	if strings.Contains(q.Stdout(), "First start") || strings.Contains(q.Stdout(), password) {
		t.Errorf("the second start prints credentials again:\n%s", q.Stdout())
	}
	if code, _ := statusOf(t, clientAs("admin", password), http.MethodGet, q.BaseURL+"/api/v1/query?query=vector(1)", "", nil); code != http.StatusOK {
		t.Errorf("after a restart, query as admin = %d, want 200", code)
	}
	q.Stop()
}

func TestAuthNoneIsAnnouncedAndOpen(t *testing.T) {
	p := startVigilProcess(t, "--auth=none")
	lines := strings.Split(p.Stdout(), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "Authentication is OFF (--auth=none): every endpoint is open") {
		t.Errorf("stdout does not say right after the address that authentication is off:\n%s", p.Stdout())
	}
	if !strings.Contains(p.Stderr(), "authentication is disabled") {
		t.Error("the log does not warn that authentication is disabled")
	}
	for _, tt := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/query?query=vector(1)", ""},
		{http.MethodPost, "/api/v1/import/prometheus", "e2e_open 1\n"},
		{http.MethodPost, "/-/reload", ""},
		{http.MethodGet, "/metrics", ""},
	} {
		if code, body := statusOf(t, nil, tt.method, p.BaseURL+tt.path, "text/plain", []byte(tt.body)); code >= 300 {
			t.Errorf("anonymous %s %s with --auth=none = %d %s", tt.method, tt.path, code, body)
		}
	}
	p.Stop()
}

// remoteWriteBody is a remote write 1.0 request of one sample.
func remoteWriteBody(t *testing.T, name string) []byte {
	t.Helper()
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: name}, {Name: "job", Value: "e2e"}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: time.Now().UnixMilli()}},
	}}}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

// Who may do what, over real HTTP: viewers read, writers ingest, admins
// do everything, strangers nothing but the probes.
func TestRoleAccessMatrix(t *testing.T) {
	baseURL, stop := startVigil(t)
	defer stop()
	clients := map[string]*http.Client{
		"anonymous": nil,
		"viewer":    clientAs("vera", createUserViaAPI(t, baseURL, "vera", "viewer")),
		"writer":    clientAs("walt", createUserViaAPI(t, baseURL, "walt", "writer")),
		"admin":     adminClient(),
	}
	const (
		ok   = 200 // any 2xx
		deny = 403
		anon = 401
	)
	tests := []struct {
		method, path, contentType string
		body                      []byte
		want                      map[string]int // by principal
	}{
		{"GET", "/-/healthy", "", nil, map[string]int{"anonymous": ok, "viewer": ok, "writer": ok, "admin": ok}},
		{"GET", "/-/ready", "", nil, map[string]int{"anonymous": ok, "viewer": ok, "writer": ok, "admin": ok}},
		{"GET", "/api/v1/query?query=vector(1)", "", nil, map[string]int{"anonymous": anon, "viewer": ok, "writer": deny, "admin": ok}},
		{"POST", "/api/v1/query", "application/x-www-form-urlencoded", []byte("query=vector(1)"), map[string]int{"anonymous": anon, "viewer": ok, "writer": deny, "admin": ok}},
		{"GET", "/api/v1/labels", "", nil, map[string]int{"anonymous": anon, "viewer": ok, "writer": deny, "admin": ok}},
		{"GET", "/api/v1/status/buildinfo", "", nil, map[string]int{"anonymous": anon, "viewer": ok, "writer": deny, "admin": ok}},
		{"GET", "/federate?match[]=up", "", nil, map[string]int{"anonymous": anon, "viewer": ok, "writer": deny, "admin": ok}},
		{"GET", "/metrics", "", nil, map[string]int{"anonymous": anon, "viewer": ok, "writer": deny, "admin": ok}},
		{"POST", "/api/v1/import/prometheus", "text/plain", []byte("e2e_matrix_import 1\n"), map[string]int{"anonymous": anon, "viewer": deny, "writer": ok, "admin": ok}},
		{"POST", "/api/v1/write", "application/x-protobuf", remoteWriteBody(t, "e2e_matrix_rw"), map[string]int{"anonymous": anon, "viewer": deny, "writer": ok, "admin": ok}},
		{"PUT", "/metrics/job/e2e-matrix", "text/plain", []byte("e2e_matrix_push 1\n"), map[string]int{"anonymous": anon, "viewer": deny, "writer": ok, "admin": ok}},
		{"POST", "/-/reload", "", nil, map[string]int{"anonymous": anon, "viewer": deny, "writer": deny, "admin": ok}},
		{"GET", "/internal/force_flush", "", nil, map[string]int{"anonymous": anon, "viewer": deny, "writer": deny, "admin": ok}},
		{"POST", "/api/v1/admin/tsdb/snapshot", "", nil, map[string]int{"anonymous": anon, "viewer": deny, "writer": deny, "admin": ok}},
		{"POST", "/api/v1/admin/backup", "application/x-www-form-urlencoded", []byte("to=" + url.QueryEscape(filepath.Join(t.TempDir(), "matrix-backup"))), map[string]int{"anonymous": anon, "viewer": deny, "writer": deny, "admin": ok}},
		{"GET", "/api/v1/admin/users", "", nil, map[string]int{"anonymous": anon, "viewer": deny, "writer": deny, "admin": ok}},
		{"GET", "/api/v1/tokens", "", nil, map[string]int{"anonymous": anon, "viewer": ok, "writer": ok, "admin": ok}},
		{"GET", "/no/such/page", "", nil, map[string]int{"anonymous": anon, "viewer": 404, "writer": 404, "admin": 404}},
	}
	for _, tt := range tests {
		for who, want := range tt.want {
			t.Run(tt.method+" "+tt.path+" as "+who, func(t *testing.T) {
				code, body := statusOf(t, clients[who], tt.method, baseURL+tt.path, tt.contentType, tt.body)
				if want == ok && code/100 == 2 || code == want {
					return
				}
				t.Errorf("status %d, want %d: %s", code, want, strings.TrimSpace(body))
			})
		}
	}
}

// A bearer token in Prometheus' own client, as Grafana and scripts use it;
// revoking it locks the client out.
func TestBearerTokenWithPrometheusClient(t *testing.T) {
	baseURL, stop := startVigil(t)
	defer stop()
	createUserViaAPI(t, baseURL, "grafana", "viewer")
	id, secret := createTokenViaAPI(t, baseURL, "grafana", "grafana", "")

	if code, body := statusOf(t, adminClient(), http.MethodPost, baseURL+"/api/v1/import/prometheus", "text/plain", []byte("e2e_token_metric{zone=\"north\"} 42\n")); code != http.StatusNoContent {
		t.Fatalf("import as admin = %d %s", code, body)
	}
	if code, _ := statusOf(t, adminClient(), http.MethodGet, baseURL+"/internal/force_flush", "", nil); code != http.StatusOK {
		t.Fatalf("force_flush as admin = %d", code)
	}

	c, err := api.NewClient(api.Config{Address: baseURL, RoundTripper: bearerTransport(api.DefaultRoundTripper, secret)})
	if err != nil {
		t.Fatal(err)
	}
	prom := promv1.NewAPI(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, _, _, err := prom.Query(ctx, `e2e_token_metric`, time.Now())
	if err != nil {
		t.Fatalf("query with the bearer token: %v", err)
	}
	if vec, ok := res.(model.Vector); !ok || len(vec) != 1 || vec[0].Value != 42 {
		t.Errorf("query with the bearer token = %v, want e2e_token_metric 42", res)
	}
	if _, err := prom.Buildinfo(ctx); err != nil {
		t.Errorf("buildinfo with the bearer token: %v", err)
	}

	// The same secret as the password of basic auth, with any user name.
	if code, _ := statusOf(t, clientAs("grafana-datasource", secret), http.MethodGet, baseURL+"/api/v1/query?query=vector(1)", "", nil); code != http.StatusOK {
		t.Errorf("query with the token as basic auth password = %d, want 200", code)
	}
	// A viewer's token cannot write.
	tokenClient := &http.Client{Transport: bearerTransport(nil, secret)}
	if code, _ := statusOf(t, tokenClient, http.MethodPost, baseURL+"/api/v1/import/prometheus", "text/plain", []byte("x 1\n")); code != http.StatusForbidden {
		t.Errorf("import with a viewer's token = %d, want 403", code)
	}

	// Without the token, or once it is revoked, the client is refused.
	anon, err := api.NewClient(api.Config{Address: baseURL})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := promv1.NewAPI(anon).Query(ctx, "vector(1)", time.Now()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("query without a token = %v, want a 401 error", err)
	}
	adminAPI(t, adminClient(), http.MethodDelete, baseURL+"/api/v1/admin/users/grafana/tokens/"+id, nil, http.StatusNoContent, nil)
	if _, _, _, err = prom.Query(ctx, "vector(1)", time.Now()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("query with a revoked token = %v, want a 401 error", err)
	}
	if code, body := statusOf(t, tokenClient, http.MethodGet, baseURL+"/api/v1/query?query=vector(1)", "", nil); code != http.StatusUnauthorized ||
		!strings.Contains(body, "invalid, expired or revoked API token") {
		t.Errorf("query with a revoked token = %d %s, want 401 naming a revoked token", code, body)
	}
}

// A user creates and revokes its own token through /api/v1/tokens.
func TestOwnTokenAPI(t *testing.T) {
	baseURL, stop := startVigil(t)
	defer stop()
	walt := clientAs("walt", createUserViaAPI(t, baseURL, "walt", "writer"))
	var tok struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	adminAPI(t, walt, http.MethodPost, baseURL+"/api/v1/tokens", map[string]string{"name": "remote-write"}, http.StatusCreated, &tok)
	writer := &http.Client{Transport: bearerTransport(nil, tok.Secret)}
	if code, body := statusOf(t, writer, http.MethodPost, baseURL+"/api/v1/write", "application/x-protobuf", remoteWriteBody(t, "e2e_own_token")); code != http.StatusNoContent {
		t.Errorf("remote write with the writer's token = %d %s, want 204", code, body)
	}
	// A writer cannot mint an admin token.
	adminAPI(t, walt, http.MethodPost, baseURL+"/api/v1/tokens", map[string]string{"name": "escalate", "role": "admin"}, http.StatusForbidden, nil)
	adminAPI(t, walt, http.MethodDelete, baseURL+"/api/v1/tokens/"+tok.ID, nil, http.StatusNoContent, nil)
	if code, _ := statusOf(t, writer, http.MethodPost, baseURL+"/api/v1/write", "application/x-protobuf", remoteWriteBody(t, "e2e_own_token")); code != http.StatusUnauthorized {
		t.Errorf("remote write with a revoked token = %d, want 401", code)
	}
}

// A first start with --admin-password-file says it created admin, and
// never prints the password.
func TestAuthOnStartOutput(t *testing.T) {
	p := startVigilProcess(t)
	out := p.Stdout()
	if !strings.Contains(out, "First start: created user admin with the password from --admin-password-file") {
		t.Errorf("the first start with a password file does not say it created admin:\n%s", out)
	}
	if strings.Contains(out, testAdminPassword) {
		t.Error("the password from the file is printed")
	}
	p.Stop()
}

// A browser logs in at /login and reads with its session cookie; a
// state-changing request without the session's CSRF token is refused.
func TestBrowserLogin(t *testing.T) {
	baseURL, stop := startVigil(t)
	defer stop()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	code, page := statusOf(t, browser, http.MethodGet, baseURL+"/login?next=/api/v1/labels", "", nil)
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("GET /login = %d without a CSRF token:\n%s", code, page)
	}
	form := url.Values{"username": {testAdminUser}, "password": {testAdminPassword}, "csrf_token": {m[1]}, "next": {"/api/v1/labels"}}
	resp, err := browser.PostForm(baseURL+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/api/v1/labels" {
		t.Fatalf("POST /login = %d to %q, want 303 to /api/v1/labels", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, body := statusOf(t, browser, http.MethodGet, baseURL+"/api/v1/labels", "", nil); code != http.StatusOK {
		t.Errorf("GET /api/v1/labels with the session = %d %s, want 200", code, body)
	}
	if code, body := statusOf(t, browser, http.MethodPost, baseURL+"/-/reload", "", nil); code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("POST /-/reload with the session but no CSRF token = %d %s, want 403", code, body)
	}
}
