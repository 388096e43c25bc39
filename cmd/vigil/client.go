package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-monitoring/vigil/appliance"
	"github.com/vigil-monitoring/vigil/web/auth"
)

// The commands that talk to a running Vigil over HTTP (vigil backup,
// vigil demo) find it and authenticate the same way.

// clientFlags are the flags that say where Vigil is and who is asking.
type clientFlags struct {
	url, config, listen, caFile          string
	token, tokenFile, user, passwordFile string
}

// register defines the flags on fs.
func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "")
	fs.StringVar(&f.config, "config", "", "")
	fs.StringVar(&f.listen, "listen", "", "")
	fs.StringVar(&f.caFile, "ca-file", "", "")
	fs.StringVar(&f.token, "token", "", "")
	fs.StringVar(&f.tokenFile, "token-file", "", "")
	fs.StringVar(&f.user, "user", "", "")
	fs.StringVar(&f.passwordFile, "password-file", "", "")
}

// resolve returns Vigil's base URL, the Authorization header to send ("",
// none) and an HTTP client that trusts the certificate to trust.
func (f *clientFlags) resolve(getenv func(string) string) (base, authorization string, client *http.Client, err error) {
	base, defaultCA, err := serverURL(f.url, f.config, f.listen)
	if err != nil {
		return "", "", nil, err
	}
	caFile := f.caFile
	if caFile == "" {
		caFile = defaultCA
	}
	if authorization, err = f.credentials(getenv); err != nil {
		return "", "", nil, err
	}
	if client, err = httpClient(caFile); err != nil {
		return "", "", nil, err
	}
	return base, authorization, client, nil
}

// serverURL is the base URL of the Vigil to talk to, and the certificate
// to trust for it when that comes from its config.
func serverURL(rawURL, configFile, listenAddr string) (base, caFile string, err error) {
	if rawURL != "" {
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", "", usageErrorf("--url=%s: not an http:// or https:// URL, such as http://127.0.0.1:9595", rawURL)
		}
		return strings.TrimRight(rawURL, "/"), "", nil
	}
	cfg := appliance.DefaultConfig()
	if configFile != "" {
		if cfg, err = appliance.LoadFile(configFile); err != nil {
			return "", "", err
		}
	}
	if listenAddr != "" {
		cfg.Listen = listenAddr
	}
	return appliance.ClientURL(cfg), cfg.Web.TLSCertFile, nil
}

// credentials returns the Authorization header to send.
func (f *clientFlags) credentials(getenv func(string) string) (string, error) {
	token, user, passwordFile := f.token, f.user, f.passwordFile
	if f.tokenFile != "" {
		if token != "" {
			return "", usageErrorf("pass --token or --token-file, not both")
		}
		t, err := auth.ReadPasswordFile(f.tokenFile)
		if err != nil {
			return "", usageErrorf("--token-file=%s: %v", f.tokenFile, err)
		}
		token = strings.TrimSpace(t)
	}
	switch {
	case token != "" && (user != "" || passwordFile != ""):
		return "", usageErrorf("pass either a token (--token, --token-file) or --user and --password-file, not both")
	case token != "":
		return "Bearer " + token, nil
	case user != "" || passwordFile != "":
		if user == "" || passwordFile == "" {
			return "", usageErrorf("--user and --password-file go together")
		}
		password, err := auth.ReadPasswordFile(passwordFile)
		if err != nil {
			return "", usageErrorf("--password-file=%s: %v", passwordFile, err)
		}
		req := http.Request{Header: http.Header{}}
		req.SetBasicAuth(user, password)
		return req.Header.Get("Authorization"), nil
	case getenv("VIGIL_TOKEN") != "":
		return "Bearer " + getenv("VIGIL_TOKEN"), nil
	}
	return "", nil
}

// httpClient is an HTTP client without an overall timeout (a backup
// takes the time it takes) that trusts caFile, if given, for https.
func httpClient(caFile string) (*http.Client, error) {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usageErrorf("--ca-file=%s: %v", caFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--ca-file=%s: no PEM certificate in the file", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}, nil
}

// reachError explains a failed request.
func reachError(base string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // without the method and URL
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach Vigil at %s: is it running? pass --url (connection refused)", base)
	case errors.As(err, &unknownCA), errors.As(err, &hostname):
		return fmt.Errorf("cannot trust the certificate of Vigil at %s (%v); pass --ca-file=FILE with its certificate or CA", base, err)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%s serves plain HTTP; pass --url=http://", base)
	}
	return fmt.Errorf("cannot reach Vigil at %s: is it running? pass --url (%v)", base, err)
}
