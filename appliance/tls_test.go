package appliance

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-monitoring/vigil/internal/testcert"
)

// testCert is a self-signed certificate for 127.0.0.1 and its key, in PEM.
type testCert struct {
	certPEM, keyPEM []byte
	cert            *x509.Certificate
}

func newTestCert(t *testing.T, cn string) testCert {
	cert, certPEM, keyPEM := testcert.New(t, cn)
	return testCert{certPEM: certPEM, keyPEM: keyPEM, cert: cert}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKeyPairErrors(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestCert(t, "a"), newTestCert(t, "b")
	files := map[string][]byte{
		"a.crt": a.certPEM, "a.key": a.keyPEM, "b.key": b.keyPEM,
		"empty": nil, "garbage": []byte("not pem at all\n"),
	}
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name, cert, key, want string
	}{
		{"good", "a.crt", "a.key", ""},
		{"missing cert", "nope.crt", "a.key", "--web.tls-cert-file=" + p("nope.crt") + ": no such file"},
		{"missing key", "a.crt", "nope.key", "--web.tls-key-file=" + p("nope.key") + ": no such file"},
		{"empty cert", "empty", "a.key", "the file is empty"},
		{"not PEM", "garbage", "a.key", "no PEM data in the file"},
		{"key as cert", "a.key", "a.key", "no certificate in the file (a private key?)"},
		{"cert as key", "a.crt", "a.crt", "no private key in the file (a certificate?)"},
		{"key of another certificate", "a.crt", "b.key", "the private key in " + p("b.key") + " does not belong to the certificate in " + p("a.crt")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadKeyPair(p(tt.cert), p(tt.key))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("loadKeyPair = %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("loadKeyPair = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// The reloader takes a new pair when the files change, at most once per
// certCheckEvery, and keeps the previous one while the new pair is bad.
func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	a, b, c := newTestCert(t, "first"), newTestCert(t, "second"), newTestCert(t, "third")
	writeFile(t, certFile, a.certPEM)
	writeFile(t, keyFile, a.keyPEM)

	var logBuf bytes.Buffer
	r, err := newCertReloader(certFile, keyFile, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.now = func() time.Time { return now }
	served := func() string {
		t.Helper()
		cert, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return cert.Leaf.Subject.CommonName
	}
	touch := func(path string, data []byte) {
		t.Helper()
		writeFile(t, path, data)
		// File systems with coarse timestamps: make the change visible.
		mod := now.Add(time.Duration(len(data)) * time.Millisecond)
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	if got := served(); got != "first" {
		t.Fatalf("serves %q, want first", got)
	}

	touch(certFile, b.certPEM)
	touch(keyFile, b.keyPEM)
	if got := served(); got != "first" {
		t.Errorf("right after the change serves %q; the files should be looked at only every %s", got, certCheckEvery)
	}
	now = now.Add(certCheckEvery)
	if got := served(); got != "second" {
		t.Errorf("after the change serves %q, want second", got)
	}

	// A new certificate whose key has not been written yet.
	touch(certFile, c.certPEM)
	now = now.Add(certCheckEvery)
	if got := served(); got != "second" {
		t.Errorf("with a mismatched pair serves %q, want the previous one, second", got)
	}
	if !strings.Contains(logBuf.String(), "still serving the previous one") {
		t.Errorf("the bad pair was not logged:\n%s", logBuf.String())
	}
	touch(keyFile, c.keyPEM)
	now = now.Add(certCheckEvery)
	if got := served(); got != "third" {
		t.Errorf("once the key is written too, serves %q, want third", got)
	}
	if !strings.Contains(logBuf.String(), "TLS certificate reloaded") {
		t.Errorf("the reload was not logged:\n%s", logBuf.String())
	}
}

// An appliance with a certificate serves HTTPS with HTTP/2 at an https://
// URL, and its session cookies are Secure.
func TestStartWithTLS(t *testing.T) {
	dir := t.TempDir()
	cert := newTestCert(t, "vigil")
	cfg := testConfig(t)
	cfg.Auth, cfg.AdminPasswordFile = AuthOn, filepath.Join(dir, "admin-password")
	writeFile(t, cfg.AdminPasswordFile, []byte("tls-test-password\n"))
	cfg.Web.TLSCertFile, cfg.Web.TLSKeyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFile(t, cfg.Web.TLSCertFile, cert.certPEM)
	writeFile(t, cfg.Web.TLSKeyFile, cert.keyPEM)
	a := startAppliance(t, cfg)
	if !strings.HasPrefix(a.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL() = %q, want https://127.0.0.1:<port>", a.URL())
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(a.URL() + "/-/ready")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("GET /-/ready = %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	// The login form's cookie (as the session's) is Secure over TLS.
	resp, err = client.Get(a.URL() + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cookies := resp.Cookies(); len(cookies) == 0 || !cookies[0].Secure {
		t.Errorf("GET /login sets the cookies %v, want Secure ones", resp.Header.Values("Set-Cookie"))
	}
	// Plain HTTP on the TLS port gets net/http's 400, never a page.
	if resp, err := http.Get("http://" + strings.TrimPrefix(a.URL(), "https://") + "/-/ready"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP is served on the TLS port")
		}
	}
}

func TestValidateTLS(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.pem")
	writeFile(t, file, []byte("x"))
	tests := []validateCase{
		{"tls pair", func(c *Config) { c.Web.TLSCertFile, c.Web.TLSKeyFile = file, file }, ""},
		{"cert without key", func(c *Config) { c.Web.TLSCertFile = file }, "--web.tls-cert-file=" + file + ": needs --web.tls-key-file too"},
		{"key without cert", func(c *Config) { c.Web.TLSKeyFile = file }, "--web.tls-key-file=" + file + ": needs --web.tls-cert-file too"},
		{"cert missing", func(c *Config) { c.Web.TLSCertFile, c.Web.TLSKeyFile = filepath.Join(dir, "nope"), file }, "--web.tls-cert-file=" + filepath.Join(dir, "nope") + ": no such file"},
		{"external url", func(c *Config) { c.Web.ExternalURL = "https://vigil.example.com/monitoring/" }, ""},
		{"external url http", func(c *Config) { c.Web.ExternalURL = "http://10.0.0.5:9595" }, ""},
		{"external url relative", func(c *Config) { c.Web.ExternalURL = "/vigil" }, "--web.external-url=/vigil: must be an absolute http:// or https:// URL"},
		{"external url scheme", func(c *Config) { c.Web.ExternalURL = "ftp://example.com" }, "must be an absolute http:// or https:// URL"},
		{"external url without scheme", func(c *Config) { c.Web.ExternalURL = "vigil.example.com" }, "must be an absolute http:// or https:// URL"},
		{"external url query", func(c *Config) { c.Web.ExternalURL = "https://example.com/?a=b" }, "must not hold a query"},
	}
	runValidateCases(t, tests)
}

func TestConfigFileTLSKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yml")
	writeFile(t, file, []byte("web:\n  tls_cert_file: tls/vigil.crt\n  tls_key_file: /etc/vigil/vigil.key\n  external_url: https://vigil.example.com\n"))
	cfg, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "tls", "vigil.crt"); cfg.Web.TLSCertFile != want {
		t.Errorf("tls_cert_file = %q, want %q (relative to the file)", cfg.Web.TLSCertFile, want)
	}
	if cfg.Web.TLSKeyFile != "/etc/vigil/vigil.key" || cfg.Web.ExternalURL != "https://vigil.example.com" {
		t.Errorf("web = %+v", cfg.Web)
	}
	flags, _, err := ParseArgs([]string{"--config=" + file, "--web.external-url=http://other:9595"})
	if err != nil {
		t.Fatal(err)
	}
	if flags.Web.ExternalURL != "http://other:9595" || flags.Web.TLSCertFile != cfg.Web.TLSCertFile {
		t.Errorf("flags over the file: %+v", flags.Web)
	}
}
