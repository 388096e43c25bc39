package notify

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// A webhook's http_config is applied: its CA makes a self-signed server
// trusted, HTTP/2 can be turned off, redirects can be refused, and a
// setting that cannot be used is an error rather than ignored.
func TestWebhookHTTPConfig(t *testing.T) {
	var proto string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto = r.Proto
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/", http.StatusFound)
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	no := false
	d := templateData("r", model.LabelSet{"alertname": "A"}, []*Alert{{Labels: model.LabelSet{"alertname": "A"}, StartsAt: time.Now()}}, "http://vigil", time.Now())
	send := func(url string, h *HTTPConfig) error {
		t.Helper()
		w, err := newWebhook(&WebhookConfig{URL: url, HTTPConfig: h})
		if err != nil {
			t.Fatal(err)
		}
		return w.Notify(context.Background(), "k", d)
	}

	if err := send(srv.URL, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v", err)
	}
	if err := send(srv.URL, &HTTPConfig{TLSConfig: &TLSConfig{CAFile: caFile}}); err != nil || proto != "HTTP/2.0" {
		t.Fatalf("with the CA: %v, %s", err, proto)
	}
	if err := send(srv.URL, &HTTPConfig{TLSConfig: &TLSConfig{CAFile: caFile}, EnableHTTP2: &no}); err != nil || proto != "HTTP/1.1" {
		t.Fatalf("HTTP/2 off: %v, %s", err, proto)
	}
	if err := send(srv.URL+"/moved", &HTTPConfig{TLSConfig: &TLSConfig{CAFile: caFile}, FollowRedirects: &no}); err == nil {
		t.Fatal("a refused redirect was taken as delivered")
	}

	for _, bad := range []*HTTPConfig{
		{TLSConfig: &TLSConfig{CAFile: filepath.Join(t.TempDir(), "missing.pem")}},
		{TLSConfig: &TLSConfig{CertFile: caFile}},
		{TLSConfig: &TLSConfig{MinVersion: "TLS9"}},
		{ProxyURL: "not a url"},
	} {
		if _, err := newWebhook(&WebhookConfig{URL: srv.URL, HTTPConfig: bad}); err == nil {
			t.Errorf("%+v was accepted", bad)
		}
	}
}
