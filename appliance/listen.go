package appliance

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// listen opens the HTTP listener, explaining the usual failures.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("another process listens on %s; stop it, or pass --listen=:PORT with a free port", addr)
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("not allowed to listen on %s: ports below 1024 need root or CAP_NET_BIND_SERVICE; pass --listen=%s or another port above 1023", addr, DefaultListen)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return nil, fmt.Errorf("cannot listen on %s: no network interface of this machine has that address; pass --listen=:PORT to listen on every interface", addr)
	case errors.As(err, &dnsErr):
		return nil, fmt.Errorf("cannot listen on %s: the host name does not resolve (%v); pass an IP address, or --listen=:PORT for every interface", addr, dnsErr)
	}
	return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
}

// ClientURL is where a command on this machine reaches a Vigil that runs
// with cfg: https once --web.tls-cert-file is set, and 127.0.0.1 for a
// Vigil that listens on every interface.
func ClientURL(cfg Config) string {
	scheme := "http"
	if cfg.Web.TLSCertFile != "" {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return scheme + "://" + cfg.Listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// browseURL is the address a browser on this machine opens to reach a
// server bound to listenAddr, as it was actually bound (port 0 resolved).
// An unspecified host (:9595, 0.0.0.0, ::) becomes 127.0.0.1.
func browseURL(listenAddr string, bound net.Addr) string {
	host, _, _ := net.SplitHostPort(listenAddr)
	_, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "http://" + bound.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
