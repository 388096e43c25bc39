package appliance

import (
	"log/slog"
	"maps"
	"path/filepath"
	"reflect"

	"github.com/vigil-monitoring/vigil/appliance/remotewrite"
	"github.com/vigil-monitoring/vigil/appliance/scrape"
	"github.com/vigil-monitoring/vigil/web"
)

// remoteWriteRunner is remote_write as the appliance runs it: the entries
// of the Prometheus configuration (--config.prometheus, or the prometheus
// section of Vigil's config file), applied at start and on every reload.
// Its Manager is the storage's tap, so it sees every sample stored.
type remoteWriteRunner struct {
	m *remotewrite.Manager
	// prom returns the running Prometheus configuration (nil without
	// one); the scrape capability reads and reloads it.
	prom func() *scrape.PrometheusConfig

	sources  []remotewrite.Source
	external map[string]string
}

var (
	_ component               = (*remoteWriteRunner)(nil)
	_ web.RemoteWriteProvider = (*remoteWriteRunner)(nil)
)

// newRemoteWrite creates the manager, with no remote yet: it must be the
// storage's tap from the start (see start).
func newRemoteWrite(cfg Config, version string, log *slog.Logger) *remoteWriteRunner {
	return &remoteWriteRunner{m: remotewrite.NewManager(remotewrite.Options{DataDir: cfg.DataDir, Version: version, Logger: log})}
}

// start applies pc's remote_write (pc nil: none). It runs right after the
// storage opens and before anything ingests, so that no sample is stored
// unsent.
func (r *remoteWriteRunner) start(pc *scrape.PrometheusConfig) error {
	_, err := r.apply(pc)
	return err
}

// Reload applies the remote_write entries of the reloaded configuration;
// the scrape capability, which reloads before, has re-read it.
func (r *remoteWriteRunner) Reload(Config) (bool, error) {
	return r.apply(r.prom())
}

func (r *remoteWriteRunner) apply(pc *scrape.PrometheusConfig) (bool, error) {
	var sources []remotewrite.Source
	var external map[string]string
	if pc != nil {
		if len(pc.RemoteWrite) > 0 {
			sources = []remotewrite.Source{{File: pc.File, BaseDir: filepath.Dir(pc.File), Entries: pc.RemoteWrite}}
		}
		external = pc.Global.ExternalLabels
	}
	if reflect.DeepEqual(sources, r.sources) && maps.Equal(external, r.external) {
		return false, nil
	}
	if err := r.m.Apply(sources, external); err != nil {
		return false, err
	}
	r.sources, r.external = sources, external
	return true, nil
}

// RemoteWrites adapts the remotes' state to web's shape.
func (r *remoteWriteRunner) RemoteWrites() []web.RemoteWriteStatus {
	var out []web.RemoteWriteStatus
	for _, s := range r.m.Status() {
		out = append(out, web.RemoteWriteStatus{
			Name: s.Name, URL: s.URL, QueueDir: s.QueueDir,
			PendingBytes: s.PendingBytes, MaxPendingBytes: s.MaxPendingBytes,
			SamplesSent: s.SamplesSent, SamplesRetried: s.SamplesRetried,
			SamplesFiltered: s.SamplesFiltered, SamplesDropped: s.SamplesDropped,
			LastError: s.LastError, LastErrorTime: s.LastErrorTime, LastSendTime: s.LastSendTime,
			HighestSentTimestamp: s.HighestSentTimestamp, Shards: s.Shards,
		})
	}
	return out
}

// stop stops sending; call it after the storage has closed, so that
// every sample stored is queued.
func (r *remoteWriteRunner) stop() { r.m.Close() }

// externalLabels are global.external_labels of the Prometheus
// configuration in force, for /federate.
func (a *Appliance) externalLabels() map[string]string {
	if pc := a.scrape.s.Config(); pc != nil {
		return pc.Global.ExternalLabels
	}
	return nil
}
