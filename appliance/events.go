package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

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
// at each reload, and writes the event IDs to the state file once a
// second.
type eventsRunner struct {
	rec  *ingest.Recorder
	last string // the declarations applied, to tell a change
	log  *slog.Logger

	stop context.CancelFunc
	done sync.WaitGroup
}

// eventIDsFlushEvery is how often new event IDs are written to the state
// file: what a crash can lose of them, as of the samples.
const eventIDsFlushEvery = time.Second

// startEvents keeps the recorder's event IDs in db and starts writing new
// ones there.
func startEvents(rec *ingest.Recorder, db *bbolt.DB, log *slog.Logger) (*eventsRunner, error) {
	if err := rec.KeepIDs(db); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &eventsRunner{rec: rec, log: log.With("component", "events"), stop: cancel}
	e.done.Add(1)
	go func() {
		defer e.done.Done()
		tick := time.NewTicker(eventIDsFlushEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				e.flush()
			}
		}
	}()
	return e, nil
}

func (e *eventsRunner) flush() {
	if err := e.rec.FlushIDs(); err != nil {
		e.log.Warn("event IDs not saved; retries after a restart may count twice", "err", err)
	}
}

// close stops the writing and writes the last IDs; the HTTP server has
// stopped, so no more come.
func (e *eventsRunner) close() {
	e.stop()
	e.done.Wait()
	e.flush()
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
