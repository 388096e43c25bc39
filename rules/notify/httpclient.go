package notify

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
)

// maxIdleConnsPerHost is how many idle connections a receiver keeps to
// one host (Alertmanager keeps up to 1,000).
const maxIdleConnsPerHost = 100

// newHTTPClient builds the client of a webhook, Slack or PagerDuty
// receiver from its http_config: TLS (CA, client certificate, server name,
// minimum version, skipping verification), proxy, redirects and HTTP/2.
// Authentication headers are added per request. A setting that cannot be
// used is an error, so a receiver never runs with less than it was told.
func newHTTPClient(h *HTTPConfig) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The groups of a receiver flush at the same tick, each with its own
	// request: keep a connection for each rather than Go's default of 2
	// per host, which has the others dial again every flush.
	tr.MaxIdleConnsPerHost = maxIdleConnsPerHost
	client := &http.Client{Transport: tr}
	if h == nil {
		return client, nil
	}
	if h.TLSConfig != nil {
		tc, err := tlsClientConfig(h.TLSConfig)
		if err != nil {
			return nil, fmt.Errorf("http_config.tls_config: %w", err)
		}
		tr.TLSClientConfig = tc
	}
	if h.ProxyURL != "" {
		u, err := url.Parse(h.ProxyURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("http_config.proxy_url %q is not an absolute URL such as http://proxy:3128", h.ProxyURL)
		}
		tr.Proxy = http.ProxyURL(u)
	}
	if h.FollowRedirects != nil && !*h.FollowRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	if h.EnableHTTP2 != nil && !*h.EnableHTTP2 {
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return client, nil
}

var tlsVersions = map[string]uint16{"TLS10": tls.VersionTLS10, "TLS11": tls.VersionTLS11, "TLS12": tls.VersionTLS12, "TLS13": tls.VersionTLS13}

// tlsClientConfig turns Prometheus' tls_config into a tls.Config.
func tlsClientConfig(c *TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	switch {
	case c.CertFile != "" && c.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cannot load cert_file and key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case c.CertFile != "" || c.KeyFile != "":
		return nil, errors.New("cert_file and key_file go together: give both or neither")
	}
	if c.MinVersion != "" {
		v, ok := tlsVersions[c.MinVersion]
		if !ok {
			return nil, fmt.Errorf("min_version %q is not one of TLS10, TLS11, TLS12, TLS13", c.MinVersion)
		}
		tc.MinVersion = v
	}
	return tc, nil
}
