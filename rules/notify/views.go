package notify

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"
)

// This file is what the Alertmanager API shows of the dispatcher: the
// alerts with their receivers and why they are muted, the aggregation
// groups, the receivers and the config.

// AlertState is an alert's state as Alertmanager's API reports it.
type AlertState string

// The alert states: suppressed when a silence or an inhibition mutes
// it, active otherwise. Vigil routes an alert as it arrives, so none is
// ever unprocessed.
const (
	AlertActive      AlertState = "active"
	AlertSuppressed  AlertState = "suppressed"
	AlertUnprocessed AlertState = "unprocessed"
)

// AlertView is one alert with its status.
type AlertView struct {
	Alert
	Fingerprint string
	Receivers   []string
	State       AlertState
	SilencedBy  []string
	InhibitedBy []string
	MutedBy     []string // the time intervals muting it
}

// GroupView is one aggregation group.
type GroupView struct {
	Labels   model.LabelSet
	Receiver string
	RouteKey string
	Alerts   []AlertView
}

// Alerts returns the alerts that have not resolved, each with the
// receivers its routes send it to and what mutes it, sorted by labels.
func (d *Dispatcher) Alerts() []AlertView {
	now := d.opts.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []AlertView
	ix := d.inhibitIndexLocked(now)
	for _, a := range d.alerts {
		if a.Resolved(now) {
			continue
		}
		out = append(out, d.viewLocked(a, ix, now))
	}
	slices.SortFunc(out, func(a, b AlertView) int { return strings.Compare(a.Labels.String(), b.Labels.String()) })
	return out
}

func (d *Dispatcher) viewLocked(a *Alert, ix *inhibitIndex, t time.Time) AlertView {
	v := AlertView{Alert: *a, Fingerprint: a.Fingerprint().String(), State: AlertActive,
		SilencedBy: d.silences.Mutes(a.Labels, t), InhibitedBy: d.inhibitedBy(ix, a.Labels)}
	for _, r := range d.route.Match(a.Labels) {
		if !slices.Contains(v.Receivers, r.Receiver) {
			v.Receivers = append(v.Receivers, r.Receiver)
		}
		for _, n := range r.MuteIntervals {
			if intervalsContain(d.intervals, []string{n}, t) && !slices.Contains(v.MutedBy, n) {
				v.MutedBy = append(v.MutedBy, n)
			}
		}
	}
	if len(v.SilencedBy)+len(v.InhibitedBy) > 0 {
		v.State = AlertSuppressed
	}
	return v
}

// Groups returns the aggregation groups with their alerts that have not
// resolved, sorted by receiver and labels.
func (d *Dispatcher) Groups() []GroupView {
	now := d.opts.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []GroupView
	ix := d.inhibitIndexLocked(now)
	for _, g := range d.groups {
		gv := GroupView{Labels: g.labels, Receiver: g.route.Receiver, RouteKey: g.route.Key()}
		for _, a := range g.alerts {
			if !a.Resolved(now) {
				gv.Alerts = append(gv.Alerts, d.viewLocked(a, ix, now))
			}
		}
		if len(gv.Alerts) == 0 {
			continue
		}
		slices.SortFunc(gv.Alerts, func(a, b AlertView) int { return strings.Compare(a.Labels.String(), b.Labels.String()) })
		out = append(out, gv)
	}
	slices.SortFunc(out, func(a, b GroupView) int {
		if c := strings.Compare(a.Receiver, b.Receiver); c != 0 {
			return c
		}
		return strings.Compare(a.Labels.String(), b.Labels.String())
	})
	return out
}

// Receivers returns the names of the receivers in the config's order.
func (d *Dispatcher) Receivers() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.cfg.Receivers))
	for _, r := range d.cfg.Receivers {
		out = append(out, r.Name)
	}
	return out
}

// ConfigYAML returns the running config (with the receivers' defaults
// from global filled in) as YAML, every secret replaced by "<secret>" as
// Alertmanager's status shows it: viewers read it. Vigil's additions to
// the format (a webhook's hmac_secret) are left out, so that amtool,
// which reads the config from there (amtool config routes), can parse
// it.
func (d *Dispatcher) ConfigYAML() string {
	d.mu.Lock()
	c := d.cfg
	d.mu.Unlock()
	return redactedYAML(c, true)
}

// vigilOnlyKeys are the keys Vigil adds to Alertmanager's format.
var vigilOnlyKeys = map[string]bool{"hmac_secret": true, "hmac_secret_file": true}

// RedactedYAML returns c as YAML with every secret replaced by
// "<secret>".
func RedactedYAML(c *Config) string { return redactedYAML(c, false) }

func redactedYAML(c *Config, alertmanagerOnly bool) string {
	b, err := yaml.Marshal(c)
	if err != nil {
		return ""
	}
	var tree yaml.MapSlice
	if err := yaml.Unmarshal(b, &tree); err != nil {
		return ""
	}
	out, _ := yaml.Marshal(redact(tree, alertmanagerOnly))
	return string(out)
}

// secretKeys are the fields whose values the status API hides; webhook
// URLs often carry tokens, so they are hidden too, as in Alertmanager.
var secretKeys = map[string]bool{
	"smtp_auth_password": true, "smtp_auth_secret": true, "auth_password": true, "auth_secret": true,
	"password": true, "credentials": true, "bearer_token": true, "hmac_secret": true,
	"url": true, "slack_api_url": true, "api_url": true, "routing_key": true, "service_key": true,
}

// redact hides the secrets of a parsed YAML tree, and drops Vigil's own
// keys when alertmanagerOnly is set.
func redact(v any, alertmanagerOnly bool) any {
	switch v := v.(type) {
	case yaml.MapSlice:
		out := v[:0]
		for _, it := range v {
			k, _ := it.Key.(string)
			if alertmanagerOnly && vigilOnlyKeys[k] {
				continue
			}
			if s, ok := it.Value.(string); ok && s != "" && secretKeys[k] {
				it.Value = "<secret>"
			} else {
				it.Value = redact(it.Value, alertmanagerOnly)
			}
			out = append(out, it)
		}
		return out
	case []any:
		for i := range v {
			v[i] = redact(v[i], alertmanagerOnly)
		}
		return v
	}
	return v
}
