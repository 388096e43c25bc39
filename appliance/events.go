package appliance

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// EventsConfig configures the event API: the custom metrics recorded
// through POST /api/v1/events/custom/<metric>, declared here instead of
// in the application's code.
type EventsConfig struct {
	Metrics []CustomMetricConfig `yaml:"metrics,omitempty"`
}

// CustomMetricConfig declares one custom metric.
type CustomMetricConfig struct {
	Name string `yaml:"name"`
	// Type is counter, gauge or histogram.
	Type string `yaml:"type"`
	Help string `yaml:"help,omitempty"`
	// Labels are the metric's labels: every event gives each of them.
	Labels []CustomLabelConfig `yaml:"labels,omitempty"`
	// Buckets are a histogram's upper bounds (+Inf is added); none
	// means the Prometheus clients' defaults, .005 to 10.
	Buckets []float64 `yaml:"buckets,omitempty,flow"`
}

// CustomLabelConfig is a label of a custom metric, with the values it may
// take or a cap on its distinct values.
type CustomLabelConfig struct {
	Name      string   `yaml:"name"`
	Values    []string `yaml:"values,omitempty,flow"`
	MaxValues int      `yaml:"max_values,omitempty"`
}

// customMetrics turns the declarations into the recorder's.
func (c EventsConfig) customMetrics() []ingest.CustomMetric {
	out := make([]ingest.CustomMetric, 0, len(c.Metrics))
	for _, m := range c.Metrics {
		cm := ingest.CustomMetric{Name: m.Name, Type: ingest.MetricType(m.Type), Help: m.Help, Buckets: m.Buckets}
		for _, l := range m.Labels {
			cm.Labels = append(cm.Labels, ingest.CustomLabel{Name: l.Name, Values: l.Values, MaxValues: l.MaxValues})
		}
		out = append(out, cm)
	}
	return out
}

// validate checks the declarations for Validate, naming each problem by
// its place in the file (events.metrics[2].labels[0]: ...).
func (c EventsConfig) validate(badKey func(key string, format string, args ...any)) {
	for _, err := range ingest.CheckCustomMetrics(c.customMetrics()) {
		var ce *ingest.CustomMetricError
		if !errors.As(err, &ce) {
			badKey("events.metrics", "%v", err)
			continue
		}
		name := ce.Metric
		if strings.TrimSpace(name) == "" {
			name = `""`
		}
		badKey(fmt.Sprintf("events.metrics[%d].%s", ce.Index, ce.Field), "metric %s: %v", name, ce.Err)
	}
}

// eventsRunner applies the event settings to the recorder, at start and
// at each reload.
type eventsRunner struct {
	rec  *ingest.Recorder
	last string // the declarations applied, to tell a change
}

var _ component = (*eventsRunner)(nil)

func (e *eventsRunner) Reload(cfg Config) (bool, error) {
	if err := e.rec.SetCustomMetrics(cfg.Events.customMetrics()); err != nil {
		return false, fmt.Errorf("the custom metrics: %w", err)
	}
	now := fmt.Sprint(cfg.Events.Metrics)
	changed := now != e.last
	e.last = now
	return changed, nil
}
