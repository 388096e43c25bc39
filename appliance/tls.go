package appliance

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// certCheckEvery bounds how often the certificate files are looked at for
// a change: at most once per this interval, on a TLS handshake.
const certCheckEvery = 2 * time.Second

// certReloader serves the certificate of --web.tls-cert-file and
// --web.tls-key-file and takes a new one when the files change, without a
// restart: certbot, cert-manager and the like replace the files in place.
// A new pair that does not load (a half-written file, a key that belongs
// to another certificate) is logged and the previous certificate kept
// until the files change again.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     fileStamps // of the files as last read, loaded or not
	lastCheck time.Time
}

// fileStamps identify a version of the certificate and key files.
type fileStamps struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// newCertReloader loads the pair, or explains why it cannot.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	stamp, err := r.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cert, r.stamp, r.lastCheck = cert, stamp, r.now()
	if leaf := cert.Leaf; leaf != nil && r.now().After(leaf.NotAfter) {
		log.Warn("the TLS certificate has expired; clients will refuse it", "file", certFile, "not_after", leaf.NotAfter)
	}
	return r, nil
}

// GetCertificate is the tls.Config callback.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.lastCheck) >= certCheckEvery {
		r.lastCheck = now
		r.maybeReload()
	}
	return r.cert, nil
}

// maybeReload loads the files again if they changed since they were last
// read; r.mu is held.
func (r *certReloader) maybeReload() {
	stamp, err := r.stamps()
	if err != nil {
		// Being replaced (removed, then written); look again next time.
		return
	}
	if stamp == r.stamp {
		return
	}
	r.stamp = stamp
	cert, err := loadKeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Error("cannot load the changed TLS certificate; still serving the previous one", "err", err)
		return
	}
	r.cert = cert
	if leaf := cert.Leaf; leaf != nil {
		r.log.Info("TLS certificate reloaded", "file", r.certFile, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	} else {
		r.log.Info("TLS certificate reloaded", "file", r.certFile)
	}
}

func (r *certReloader) stamps() (fileStamps, error) {
	ci, err := os.Stat(r.certFile)
	if err != nil {
		return fileStamps{}, fmt.Errorf("--web.tls-cert-file=%s: %w", r.certFile, unwrapPathError(err))
	}
	ki, err := os.Stat(r.keyFile)
	if err != nil {
		return fileStamps{}, fmt.Errorf("--web.tls-key-file=%s: %w", r.keyFile, unwrapPathError(err))
	}
	return fileStamps{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

// loadKeyPair reads a PEM certificate (chain) and its private key, with an
// error that says which file is wrong and how.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("--web.tls-cert-file=%s: %w", certFile, unwrapPathError(err))
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--web.tls-key-file=%s: %w", keyFile, unwrapPathError(err))
	}
	if err := checkPEM(certPEM, "CERTIFICATE"); err != nil {
		return nil, fmt.Errorf("--web.tls-cert-file=%s: %w; pass the PEM certificate (-----BEGIN CERTIFICATE-----), followed by its intermediates if any", certFile, err)
	}
	if err := checkPEM(keyPEM, "PRIVATE KEY"); err != nil {
		return nil, fmt.Errorf("--web.tls-key-file=%s: %w; pass the PEM private key (-----BEGIN PRIVATE KEY-----, or RSA/EC PRIVATE KEY) of the certificate", keyFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, fmt.Errorf("the private key in %s does not belong to the certificate in %s; pass the key the certificate was made for", keyFile, certFile)
		}
		return nil, fmt.Errorf("cannot load the TLS certificate %s with the key %s: %w", certFile, keyFile, err)
	}
	return &cert, nil
}

// checkPEM checks that data holds PEM blocks and that the first of the
// kind wanted ("CERTIFICATE", or any "... PRIVATE KEY") parses.
func checkPEM(data []byte, want string) error {
	rest := data
	sawPEM := false
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawPEM = true
		switch {
		case want == "CERTIFICATE" && block.Type == "CERTIFICATE":
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				return fmt.Errorf("the certificate does not parse: %w", err)
			}
			return nil
		case want == "PRIVATE KEY" && strings.HasSuffix(block.Type, "PRIVATE KEY"):
			return nil
		}
	}
	switch {
	case !sawPEM && len(bytes.TrimSpace(data)) == 0:
		return errors.New("the file is empty")
	case !sawPEM:
		return errors.New("no PEM data in the file (a DER or PKCS#12 file?)")
	case want == "CERTIFICATE":
		return errors.New("no certificate in the file (a private key?)")
	}
	return errors.New("no private key in the file (a certificate?)")
}

// newTLSConfig serves r's certificate with HTTP/2 and HTTP/1.1.
func newTLSConfig(r *certReloader) *tls.Config {
	return &tls.Config{
		GetCertificate: r.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// validateTLS checks the TLS and external URL settings for Validate.
func (c *Config) validateTLS(bad func(flag string, value any, format string, args ...any), checkReadable func(flag, path string)) {
	w := c.Web
	switch {
	case w.TLSCertFile != "" && w.TLSKeyFile == "":
		bad("web.tls-cert-file", w.TLSCertFile, "needs --web.tls-key-file too: the private key of the certificate")
	case w.TLSCertFile == "" && w.TLSKeyFile != "":
		bad("web.tls-key-file", w.TLSKeyFile, "needs --web.tls-cert-file too: the certificate of the key")
	default:
		checkReadable("web.tls-cert-file", w.TLSCertFile)
		checkReadable("web.tls-key-file", w.TLSKeyFile)
	}
	if w.ExternalURL != "" {
		if err := checkExternalURL(w.ExternalURL); err != nil {
			bad("web.external-url", w.ExternalURL, "%v", err)
		}
	}
}

// checkExternalURL accepts an absolute http or https URL without query
// or fragment.
func checkExternalURL(s string) error {
	const want = "must be an absolute http:// or https:// URL, such as https://vigil.example.com or https://example.com/vigil"
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%s (%v)", want, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return errors.New(want)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must not hold a query, a fragment or credentials; " + want)
	}
	return nil
}

// externalURL is the URL for links: --web.external-url without its
// trailing slash, or else the URL Vigil listens on.
func externalURL(cfg Config, listening string) string {
	if cfg.Web.ExternalURL == "" {
		return listening
	}
	return strings.TrimRight(cfg.Web.ExternalURL, "/")
}
