package appliance

import (
	"context"
	"fmt"
	"log/slog"
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

// notifyRunner is the notification capability as the appliance runs it:
// the dispatcher, its clock loop and its reload. It is the rules'
// Notifier.
type notifyRunner struct {
	d      *notify.Dispatcher
	file   string
	log    *slog.Logger
	extURL string

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

func loadAlertmanagerConfig(file string) (*notify.Config, error) {
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

// startNotify loads --config.alertmanager (a bad file stops the start),
// restores the silences and the notification log kept in db and starts
// flushing aggregation groups.
func startNotify(cfg Config, db *bbolt.DB, extURL string, log *slog.Logger) (*notifyRunner, error) {
	log = log.With("component", "notify")
	c, err := loadAlertmanagerConfig(cfg.Files.Alertmanager)
	if err != nil {
		return nil, err
	}
	d, err := notify.New(notify.Options{Config: c, DB: db, ExternalURL: extURL, Logger: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &notifyRunner{d: d, file: cfg.Files.Alertmanager, log: log, extURL: extURL, cancel: cancel}
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		d.Run(ctx)
	}()
	log.Info("notifications started", "config", cfg.Files.Alertmanager, "receivers", len(c.Receivers))
	return r, nil
}

// Alertmanagers is web's AlertmanagersProvider: the rules' alerts go to
// Vigil's own Alertmanager API.
func (r *notifyRunner) Alertmanagers() (active, dropped []string) {
	return []string{strings.TrimSuffix(r.extURL, "/") + "/api/v2/alerts"}, nil
}

// stop ends the flush loop and waits for the deliveries in flight (each
// gives up at its group_interval).
func (r *notifyRunner) stop() {
	r.cancel()
	r.done.Wait()
}

// Reload re-reads the alertmanager config; a file that does not load
// keeps the running one.
func (r *notifyRunner) Reload(cfg Config) (bool, error) {
	c, err := loadAlertmanagerConfig(cfg.Files.Alertmanager)
	if err == nil {
		err = r.d.ApplyConfig(c)
	}
	if err != nil {
		r.log.Error("alertmanager config not reloaded; the running one stays", "err", err)
		return false, err
	}
	r.file = cfg.Files.Alertmanager
	r.log.Info("alertmanager config reloaded", "config", r.file)
	return true, nil
}

// watchRules lets Send learn the rule groups' intervals.
func (r *notifyRunner) watchRules(m *rules.Manager) {
	r.mu.Lock()
	r.groups, r.checkedAt = m.Groups, time.Time{}
	r.mu.Unlock()
}

// validFor is how long a firing alert stays firing unless sent again:
// four times the longest group interval (at least a minute), as
// Prometheus sets EndsAt for Alertmanager, so that a group evaluated
// every 10m does not resolve between two evaluations.
func (r *notifyRunner) validFor(now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.groups != nil && now.Sub(r.checkedAt) > time.Minute {
		r.maxInterval, r.checkedAt = 0, now
		for _, g := range r.groups() {
			r.maxInterval = max(r.maxInterval, g.Interval)
		}
	}
	return 4 * max(r.maxInterval, time.Minute)
}

// Send is the rules' Notifier: firing alerts stay valid for validFor
// (the rules send them again at each evaluation); resolved ones carry
// their resolution time.
func (r *notifyRunner) Send(alerts []rules.Alert) {
	now := time.Now()
	endsAt := now.Add(r.validFor(now))
	out := make([]*notify.Alert, 0, len(alerts))
	for _, a := range alerts {
		na := &notify.Alert{Labels: make(model.LabelSet, a.Labels.Len()), Annotations: make(model.LabelSet, a.Annotations.Len()), StartsAt: a.ActiveAt, EndsAt: endsAt}
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
}
