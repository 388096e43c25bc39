package notify

import (
	"regexp"
	"time"

	"github.com/prometheus/common/model"
)

// Alert is one alert as the notifier keeps it: from Vigil's rules or
// posted to /api/v2/alerts.
type Alert struct {
	Labels       model.LabelSet
	Annotations  model.LabelSet
	StartsAt     time.Time
	EndsAt       time.Time // the alert is resolved from EndsAt on
	GeneratorURL string
	UpdatedAt    time.Time
	// Timeout says EndsAt was not given but set to arrival +
	// resolve_timeout: the alert resolves unless it is sent again.
	Timeout bool

	// fp is the labels' fingerprint, set when the dispatcher takes the
	// alert (its alerts are never modified after), 0 until then: a
	// flush needs it several times for each alert, and hashing the
	// sorted labels each time cost more than the rest of the flush.
	fp model.Fingerprint
}

// Fingerprint identifies the alert by its labels.
func (a *Alert) Fingerprint() model.Fingerprint {
	if a.fp != 0 {
		return a.fp
	}
	return a.Labels.Fingerprint()
}

// Resolved says whether a is resolved at now.
func (a *Alert) Resolved(now time.Time) bool { return !a.EndsAt.IsZero() && !a.EndsAt.After(now) }

// Status is "firing" or "resolved" at now.
func (a *Alert) Status(now time.Time) string {
	if a.Resolved(now) {
		return "resolved"
	}
	return "firing"
}

func kv(ls model.LabelSet) KV {
	out := make(KV, len(ls))
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}

// templateData builds the data of one notification of alerts, in
// the order given (the dispatcher's is Alertmanager's: alertmanagerOrder).
func templateData(receiver string, groupLabels model.LabelSet, alerts []*Alert, externalURL string, now time.Time) *Data {
	d := &Data{Receiver: regexp.QuoteMeta(receiver), Status: "resolved", GroupLabels: kv(groupLabels), CommonLabels: KV{}, CommonAnnotations: KV{},
		RouteLabels: KV{}, ExternalURL: externalURL}
	d.Alerts = make(TemplateAlerts, 0, len(alerts))
	for i, a := range alerts {
		st := a.Status(now)
		if st == "firing" {
			d.Status = "firing"
		}
		ta := TemplateAlert{Status: st, Labels: kv(a.Labels), Annotations: kv(a.Annotations),
			StartsAt: a.StartsAt, GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint().String()}
		if st == "resolved" { // a firing alert's end is not known yet: Alertmanager hides it
			ta.EndsAt = a.EndsAt
		}
		d.Alerts = append(d.Alerts, ta)
		if i == 0 {
			d.CommonLabels, d.CommonAnnotations = kv(a.Labels), kv(a.Annotations)
			continue
		}
		for k, v := range d.CommonLabels {
			if string(a.Labels[model.LabelName(k)]) != v {
				delete(d.CommonLabels, k)
			}
		}
		for k, v := range d.CommonAnnotations {
			if string(a.Annotations[model.LabelName(k)]) != v {
				delete(d.CommonAnnotations, k)
			}
		}
	}
	return d
}
