//go:build unix

package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-monitoring/vigil/internal/testcert"
)

// replaceFile writes data to path the way certificate tools do: to a new
// file, renamed over the old one.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tlsClient acts as admin over TLS, trusting roots, with HTTP/2 and
// HTTP/1.1 (or HTTP/1.1 only), and opens a new connection for every
// request, so that each one sees the certificate served now.
func tlsClient(http1Only bool, roots ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
		DisableKeepAlives: true,
	}
	if http1Only {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP1(true)
	}
	return &http.Client{Transport: adminTransport(tr), Timeout: 30 * time.Second}
}

func TestTLSServesHTTP2AndReloadsTheCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "vigil.crt"), filepath.Join(dir, "vigil.key")
	first, certPEM, keyPEM := testcert.New(t, "vigil-first")
	replaceFile(t, certFile, certPEM)
	replaceFile(t, keyFile, keyPEM)

	p := startVigilProcess(t, "--web.tls-cert-file="+certFile, "--web.tls-key-file="+keyFile, "--web.external-url=https://vigil.example.com/")
	if !regexp.MustCompile(`^Vigil \S+ listening on https://127\.0\.0\.1:\d+ `).MatchString(p.Stdout()) {
		t.Errorf("the first line does not give an https:// URL:\n%s", p.Stdout())
	}

	get := func(c *http.Client) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(p.BaseURL + "/api/v1/query?query=vector(1)")
		if err != nil {
			t.Fatalf("GET over TLS: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get(tlsClient(false, first))
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("query over TLS: %d over %s, want 200 over HTTP/2: %s", resp.StatusCode, resp.Proto, body)
	}
	if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "vigil-first" {
		t.Errorf("serves %q, want vigil-first", cn)
	}
	// The HTTP/1.1 clients that some tools still are get served too.
	if resp, _ := get(tlsClient(true, first)); resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
		t.Errorf("query over TLS with HTTP/1.1: %d over %s", resp.StatusCode, resp.Proto)
	}

	// Replace the pair in place: the new certificate is served without a
	// restart.
	second, certPEM, keyPEM := testcert.New(t, "vigil-second")
	replaceFile(t, keyFile, keyPEM)
	replaceFile(t, certFile, certPEM)
	replaced := time.Now()
	both := tlsClient(false, first, second)
	for {
		resp, _ := get(both)
		if resp.TLS.PeerCertificates[0].Subject.CommonName == "vigil-second" {
			break
		}
		if time.Since(replaced) > 15*time.Second {
			t.Fatalf("the new certificate is not served 15s after the files changed:\n%s", p.Stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the new certificate was served %s after the files changed", time.Since(replaced).Round(10*time.Millisecond))
	if !strings.Contains(p.Stderr(), `msg="TLS certificate reloaded"`) || !strings.Contains(p.Stderr(), "CN=vigil-second") {
		t.Errorf("the reload is not logged:\n%s", p.Stderr())
	}
	if resp, _ := get(tlsClient(false, second)); resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("after the reload: %d over %s", resp.StatusCode, resp.Proto)
	}

	p.Stop()
}

func TestTLSStartErrors(t *testing.T) {
	dir := t.TempDir()
	_, certA, keyA := testcert.New(t, "a")
	_, _, keyB := testcert.New(t, "b")
	for name, data := range map[string][]byte{"a.crt": certA, "a.key": keyA, "b.key": keyB, "garbage.crt": []byte("hello\n")} {
		replaceFile(t, filepath.Join(dir, name), data)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing certificate", []string{"--web.tls-cert-file=" + f("nope.crt"), "--web.tls-key-file=" + f("a.key")}, 2,
			"vigil: --web.tls-cert-file=" + f("nope.crt") + ": no such file; check the path"},
		{"key without certificate", []string{"--web.tls-key-file=" + f("a.key")}, 2,
			"vigil: --web.tls-key-file=" + f("a.key") + ": needs --web.tls-cert-file too"},
		{"not a certificate", []string{"--web.tls-cert-file=" + f("garbage.crt"), "--web.tls-key-file=" + f("a.key")}, 1,
			"vigil: --web.tls-cert-file=" + f("garbage.crt") + ": no PEM data in the file"},
		{"the key of another certificate", []string{"--web.tls-cert-file=" + f("a.crt"), "--web.tls-key-file=" + f("b.key")}, 1,
			"vigil: the private key in " + f("b.key") + " does not belong to the certificate in " + f("a.crt")},
		{"external URL", []string{"--web.external-url=vigil.example.com"}, 2,
			"vigil: --web.external-url=vigil.example.com: must be an absolute http:// or https:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runVigil(t, append(tt.args, "--listen=127.0.0.1:0", "--data-dir="+t.TempDir())...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d; stderr does not say %q:\n%s", code, tt.code, tt.want, stderr)
			}
		})
	}
}
