package appliance

import (
	"io"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/vigil-monitoring/vigil/web"
)

// selfMetrics are the appliance's own metrics (vigil_*), exposed with the
// rest of Vigil's on /metrics while the appliance runs.
type selfMetrics struct {
	set *metrics.Set

	reloadSuccessful *metrics.Gauge
	reloadTimestamp  *metrics.Gauge
}

// newSelfMetrics registers the appliance's metrics. promReg holds the
// metrics of the Prometheus libraries Vigil embeds (the PromQL engine's
// prometheus_engine_*), which are written out with Vigil's own.
func newSelfMetrics(build web.BuildInfo, start time.Time, promReg prometheus.Gatherer) *selfMetrics {
	m := &selfMetrics{set: metrics.NewSet()}
	m.set.NewGauge(`vigil_build_info{version="`+escapeLabel(build.Version)+
		`",revision="`+escapeLabel(build.Revision)+
		`",goversion="`+escapeLabel(build.GoVersion)+`"}`, func() float64 { return 1 })
	startSeconds := float64(start.UnixNano()) / 1e9
	m.set.NewGauge(`vigil_start_time_seconds`, func() float64 { return startSeconds })
	m.reloadSuccessful = m.set.NewGauge(`vigil_config_last_reload_successful`, nil)
	m.reloadTimestamp = m.set.NewGauge(`vigil_config_last_reload_success_timestamp_seconds`, nil)
	m.reloaded(true, start)
	if promReg != nil {
		m.set.RegisterMetricsWriter(func(w io.Writer) { writeGathered(w, promReg) })
	}
	metrics.RegisterSet(m.set)
	return m
}

// reloaded records the outcome of loading the configuration at t.
func (m *selfMetrics) reloaded(ok bool, t time.Time) {
	if !ok {
		m.reloadSuccessful.Set(0)
		return
	}
	m.reloadSuccessful.Set(1)
	m.reloadTimestamp.Set(float64(t.Unix()))
}

func (m *selfMetrics) unregister() {
	metrics.UnregisterSet(m.set, true)
}

// writeGathered writes the metrics of a client_golang registry in the text
// exposition format.
func writeGathered(w io.Writer, g prometheus.Gatherer) {
	families, _ := g.Gather() // a partial result is still worth exposing
	for _, mf := range families {
		_, _ = expfmt.MetricFamilyToText(w, mf)
	}
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
