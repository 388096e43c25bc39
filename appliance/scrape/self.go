package scrape

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"gopkg.in/yaml.v2"
)

// selfTarget serves Vigil's own metrics to the self-scrape job.
//
// Vigil's /metrics requires a viewer's credentials, and the scraper has
// none: giving it a user or an API token would put a long-lived secret
// into the user store, and exempting loopback clients would open /metrics
// to every local user and to any proxy on the machine. Instead the
// self-scrape reads the same metrics (VictoriaMetrics/metrics' default
// set, as /metrics writes them) from a second listener on 127.0.0.1 that
// serves only them and only to a bearer token made at start, which lives
// in this process' memory and in the scraper's private configuration file
// (mode 0600). The target's instance label is relabelled to Vigil's public
// address, so the series look as if /metrics had been scraped.
//
// The targets of Options.Internal (the demo's exporter) are served the
// same way, each on a listener of its own behind the same token.
type selfTarget struct {
	token  string
	addr   string // host:port of the listener
	server *http.Server
}

func startSelfTarget(token string) (*selfTarget, error) {
	return startLocalTarget(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		metrics.WritePrometheus(w, true)
	}))
}

// startLocalTarget serves h at /metrics on 127.0.0.1, to token only.
func startLocalTarget(token string, h http.Handler) (*selfTarget, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cannot listen for a scrape of this process: %w", err)
	}
	st := &selfTarget{token: token, addr: ln.Addr().String()}
	want := []byte("Bearer " + token)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
	st.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go st.server.Serve(ln)
	return st, nil
}

// job is the self-scrape's scrape config.
func (st *selfTarget) job(interval time.Duration, instance string) yaml.MapSlice {
	job := yaml.MapSlice{
		{Key: "job_name", Value: SelfJob},
		{Key: "scrape_interval", Value: interval.String()},
		{Key: "honor_timestamps", Value: true},
		{Key: "authorization", Value: yaml.MapSlice{{Key: "credentials", Value: st.token}}},
		{Key: "static_configs", Value: []any{yaml.MapSlice{{Key: "targets", Value: []any{st.addr}}}}},
	}
	if instance != "" {
		job = append(job, yaml.MapItem{Key: "relabel_configs", Value: []any{yaml.MapSlice{
			{Key: "target_label", Value: "instance"},
			{Key: "replacement", Value: instance},
		}}})
	}
	return job
}

// internalJob is the scrape config of the internal targets ts of one job,
// each under its own instance label.
func internalJob(name string, interval time.Duration, token string, ts []*selfTarget, instances []string) yaml.MapSlice {
	var statics []any
	for i, t := range ts {
		statics = append(statics, yaml.MapSlice{
			{Key: "targets", Value: []any{t.addr}},
			{Key: "labels", Value: yaml.MapSlice{{Key: "instance", Value: instances[i]}}},
		})
	}
	return yaml.MapSlice{
		{Key: "job_name", Value: name},
		{Key: "scrape_interval", Value: interval.String()},
		{Key: "authorization", Value: yaml.MapSlice{{Key: "credentials", Value: token}}},
		{Key: "static_configs", Value: statics},
	}
}

func (st *selfTarget) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st.server.Shutdown(ctx)
}
