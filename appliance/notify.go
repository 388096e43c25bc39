package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"go.etcd.io/bbolt"

	"github.com/vigil-monitoring/vigil/rules"
	"github.com/vigil-monitoring/vigil/rules/notify"
	"github.com/vigil-monitoring/vigil/web"
)

// defaultAlertmanagerConfig is the notifier's config without
// --config.alertmanager: alerts are kept, grouped and visible through the
// Alertmanager API, and silences work, but nothing is delivered.
const defaultAlertmanagerConfig = `
route:
  receiver: none
  group_by: [alertname]
receivers:
  - name: none
`

// AlertingConfig configures the forwarding of Vigil's alerts to the
// external Alertmanagers of --config.prometheus (its alerting section).
type AlertingConfig struct {
	// ResendDelay is how long an alert that did not change waits before
	// it is sent again (Prometheus' --rules.alert.resend-delay).
	ResendDelay Duration `yaml:"resend_delay"`
	// QueueCapacity bounds each Alertmanager's queue (Prometheus'
	// --alertmanager.notification-queue-capacity).
	QueueCapacity int `yaml:"queue_capacity"`
}

func (c AlertingConfig) validate(bad func(flag string, value any, format string, args ...any)) {
	if c.ResendDelay.Std() < time.Second {
		bad("alerting.resend-delay", c.ResendDelay, "must be at least 1s")
	}
	if c.QueueCapacity <= 0 {
		bad("alerting.queue-capacity", c.QueueCapacity, "must be greater than 0")
	}
}

// notifyRunner is the notification capability as the appliance runs it:
// the dispatcher, the forwarder to external Alertmanagers, their loops
// and their reload. It is the rules' Notifier.
type notifyRunner struct {
	d        *notify.Dispatcher
	fwd      *notify.Forwarder
	file     string
	promFile string
	log      *slog.Logger
	extURL   string
	resend   time.Duration

	cancel context.CancelFunc
	done   sync.WaitGroup

	// groups lists the rule groups (nil until watchRules); the longest
	// interval among them, looked up at most once a minute, bounds how
	// long a firing alert stays valid without being sent again. mu
	// guards the three.
	mu          sync.Mutex
	groups      func() []rules.GroupStatus
	maxInterval time.Duration
	checkedAt   time.Time
}

var (
	_ rules.Notifier            = (*notifyRunner)(nil)
	_ component                 = (*notifyRunner)(nil)
	_ web.AlertmanagersProvider = (*notifyRunner)(nil)
)

// loadAlertmanagerConfig reads the routing config: --config.alertmanager,
// or else the alertmanager section of the --config file, or else the
// default that delivers nothing.
func loadAlertmanagerConfig(cfg Config) (*notify.Config, error) {
	file := cfg.Files.Alertmanager
	if file == "" && cfg.Alertmanager.Set() {
		return cfg.Alertmanager.Parse()
	}
	if file == "" {
		return notify.Parse([]byte(defaultAlertmanagerConfig))
	}
	c, err := notify.LoadFile(file)
	if err == nil {
		_, err = notify.CheckTemplates(c)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot load the alertmanager config:\n%w", err)
	}
	return c, nil
}

// alertmanagerSource names where the routing config comes from, for the
// log.
func alertmanagerSource(cfg Config) string {
	switch {
	case cfg.Files.Alertmanager != "":
		return cfg.Files.Alertmanager
	case cfg.Alertmanager.Set():
		return fmt.Sprintf("%s:%d (the alertmanager section)", cfg.Alertmanager.File, cfg.Alertmanager.Line)
	}
	return ""
}

// loadAlerting reads the alerting section of --config.prometheus or of
// the prometheus section of the config file; without either, nothing is
// forwarded.
func loadAlerting(cfg Config) (*notify.AlertingConfig, error) {
	src := scrapeSource(cfg)
	switch {
	case src.File != "":
		c, err := notify.LoadAlertingFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("--config.prometheus: %w", err)
		}
		return c, nil
	case len(src.Section) > 0:
		c, err := notify.ParseAlerting(src.Section, filepath.Dir(src.In))
		if err != nil {
			return nil, fmt.Errorf("the prometheus section of %s (line %d): %w", src.In, src.Line, err)
		}
		c.File = src.In
		return c, nil
	}
	return nil, nil
}

// startNotify loads --config.alertmanager and the alerting section of
// --config.prometheus (a bad file stops the start), restores the
// silences, the notification log, the alerts and the groups kept in db,
// and starts flushing aggregation groups and forwarding.
func startNotify(cfg Config, db *bbolt.DB, extURL string, build web.BuildInfo, log *slog.Logger) (*notifyRunner, error) {
	log = log.With("component", "notify")
	c, err := loadAlertmanagerConfig(cfg)
	if err != nil {
		return nil, err
	}
	alerting, err := loadAlerting(cfg)
	if err != nil {
		return nil, err
	}
	d, err := notify.New(notify.Options{Config: c, DB: db, ExternalURL: extURL, Logger: log})
	if err != nil {
		return nil, err
	}
	fwd := notify.NewForwarder(notify.ForwarderOptions{QueueCapacity: cfg.Alerting.QueueCapacity, ResendDelay: cfg.Alerting.ResendDelay.Std(),
		UserAgent: "Vigil/" + build.Version, Logger: log.With("component", "forward")})
	if err := fwd.ApplyConfig(alerting); err != nil {
		return nil, fmt.Errorf("--config.prometheus: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &notifyRunner{d: d, fwd: fwd, file: alertmanagerSource(cfg), promFile: cfg.Files.Prometheus, log: log, extURL: extURL,
		resend: cfg.Alerting.ResendDelay.Std(), cancel: cancel}
	r.done.Add(2)
	go func() {
		defer r.done.Done()
		d.Run(ctx)
	}()
	go func() {
		defer r.done.Done()
		fwd.Run(ctx)
	}()
	active, _ := fwd.Alertmanagers()
	log.Info("notifications started", "config", r.file, "receivers", len(c.Receivers), "forwarding_to", len(active))
	return r, nil
}

// Alertmanagers is web's AlertmanagersProvider: the rules' alerts go to
// Vigil's own Alertmanager API and to the external Alertmanagers of
// --config.prometheus.
func (r *notifyRunner) Alertmanagers() (active, dropped []string) {
	ext, dropped := r.fwd.Alertmanagers()
	return append([]string{strings.TrimSuffix(r.extURL, "/") + "/api/v2/alerts"}, ext...), dropped
}

// stop ends the flush loop and waits for the deliveries in flight (each
// gives up at its group_interval), and sends what the forwarding queues
// hold (for up to 5s).
func (r *notifyRunner) stop() {
	r.cancel()
	r.done.Wait()
}

// Reload re-reads the alertmanager config and the alerting section of
// --config.prometheus; if either does not load, both running ones stay.
func (r *notifyRunner) Reload(cfg Config) (bool, error) {
	c, err := loadAlertmanagerConfig(cfg)
	var alerting *notify.AlertingConfig
	if err == nil {
		alerting, err = loadAlerting(cfg)
	}
	if err == nil {
		err = r.d.ApplyConfig(c)
	}
	if err == nil {
		err = r.fwd.ApplyConfig(alerting)
	}
	if err != nil {
		r.log.Error("alertmanager config not reloaded; the running one stays", "err", err)
		return false, err
	}
	r.file, r.promFile = alertmanagerSource(cfg), cfg.Files.Prometheus
	active, _ := r.fwd.Alertmanagers()
	r.log.Info("alertmanager config reloaded", "config", r.file, "forwarding_to", len(active))
	return true, nil
}

// watchRules lets Send learn the rule groups' intervals.
func (r *notifyRunner) watchRules(m *rules.Manager) {
	r.mu.Lock()
	r.groups, r.checkedAt = m.Groups, time.Time{}
	r.mu.Unlock()
}

// validFor is how long a firing alert stays firing unless sent again:
// four times the longest group interval or the resend delay, whichever
// is longer, as Prometheus sets EndsAt for Alertmanager, so that a group
// evaluated every 10m does not resolve between two evaluations.
func (r *notifyRunner) validFor(now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.groups != nil && now.Sub(r.checkedAt) > time.Minute {
		r.maxInterval, r.checkedAt = 0, now
		for _, g := range r.groups() {
			r.maxInterval = max(r.maxInterval, g.Interval)
		}
	}
	return 4 * max(r.maxInterval, r.resend, time.Minute)
}

// Send is the rules' Notifier: firing alerts stay valid for validFor
// (the rules send them again at each evaluation); resolved ones carry
// their resolution time. They go to Vigil's own routing and to the
// forwarder, which sends them on to external Alertmanagers at most every
// resend delay.
func (r *notifyRunner) Send(alerts []rules.Alert) {
	now := time.Now()
	endsAt := now.Add(r.validFor(now))
	out := make([]*notify.Alert, 0, len(alerts))
	for _, a := range alerts {
		na := &notify.Alert{Labels: make(model.LabelSet, a.Labels.Len()), Annotations: make(model.LabelSet, a.Annotations.Len()), StartsAt: a.ActiveAt,
			EndsAt: endsAt, GeneratorURL: a.GeneratorURL}
		a.Labels.Range(func(l labels.Label) { na.Labels[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		a.Annotations.Range(func(l labels.Label) { na.Annotations[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		if a.State == rules.StateResolved {
			na.EndsAt = a.ResolvedAt
			if na.EndsAt.IsZero() {
				na.EndsAt = now
			}
		}
		out = append(out, na)
	}
	r.d.Put(out...)
	r.fwd.Send(out)
}
