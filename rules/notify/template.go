package notify

import (
	"fmt"
	"slices"
	"strings"
	"time"

	amtemplate "github.com/prometheus/alertmanager/template"
)

// This file is the data that notification templates and the webhook
// payload see, and the templates themselves. The webhook payload is
// Vigil's Data (Alertmanager's template.Data with the same field names and
// JSON order); templates are rendered by Alertmanager's own template
// package, so that they get exactly Alertmanager's functions (toUpper,
// join, reReplaceAll, safeHtml, safeUrl, urlUnescape, stringSlice, date,
// tz, since, humanizeDuration, toJson, list, dict, ...), its KV methods
// (SortedPairs with alertname first, Remove, Names, Values) and its
// default templates (__subject, __text_alert_list, __alertmanagerURL...).
// It costs seven packages beyond what Vigil builds: the template package,
// alertmanager/alert, featurecontrol, labelset, matcher/compat,
// matcher/parse and go.yaml.in/yaml/v2.

// KV is a label or annotation set.
type KV map[string]string

// TemplateAlert is one alert as templates and the webhook see it.
type TemplateAlert struct {
	Status       string    `json:"status"`
	Labels       KV        `json:"labels"`
	Annotations  KV        `json:"annotations"`
	StartsAt     time.Time `json:"startsAt"`
	EndsAt       time.Time `json:"endsAt"`
	GeneratorURL string    `json:"generatorURL"`
	Fingerprint  string    `json:"fingerprint"`
}

// TemplateAlerts is a list of alerts.
type TemplateAlerts []TemplateAlert

// Data is what a notification is rendered from (Alertmanager's
// template.Data); its JSON is the first part of the webhook payload, with
// Alertmanager v0.35's fields in Alertmanager's order.
type Data struct {
	// Receiver is the receiver's name regexp-quoted, as Alertmanager
	// gives it (its default __alertmanagerURL uses it as a filter).
	Receiver           string         `json:"receiver"`
	Status             string         `json:"status"`
	Alerts             TemplateAlerts `json:"alerts"`
	NotificationReason string         `json:"notification_reason"`
	GroupLabels        KV             `json:"groupLabels"`
	CommonLabels       KV             `json:"commonLabels"`
	CommonAnnotations  KV             `json:"commonAnnotations"`
	// RouteLabels are always empty: Vigil's routes have no labels.
	RouteLabels KV     `json:"routeLabels"`
	ExternalURL string `json:"externalURL"`
	// GroupKey identifies the aggregation group; the webhook sends it
	// next to the data, as Alertmanager does, and templates see it as
	// .GroupKey (Vigil's addition: Alertmanager's templates lack it).
	GroupKey string `json:"-"`
}

// tmplData is what templates see: Alertmanager's template data, and the
// group key.
type tmplData struct {
	*amtemplate.Data
	GroupKey string
}

// forTemplates converts d into Alertmanager's template data.
func (d *Data) forTemplates() tmplData {
	out := &amtemplate.Data{Receiver: d.Receiver, Status: d.Status, Alerts: make(amtemplate.Alerts, 0, len(d.Alerts)),
		NotificationReason: d.NotificationReason, GroupLabels: amtemplate.KV(d.GroupLabels), CommonLabels: amtemplate.KV(d.CommonLabels),
		CommonAnnotations: amtemplate.KV(d.CommonAnnotations), RouteLabels: amtemplate.KV{}, ExternalURL: d.ExternalURL}
	for _, a := range d.Alerts {
		out.Alerts = append(out.Alerts, amtemplate.Alert{Status: a.Status, Labels: amtemplate.KV(a.Labels), Annotations: amtemplate.KV(a.Annotations),
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint})
	}
	return tmplData{Data: out, GroupKey: d.GroupKey}
}

// Templates renders notification fields: Alertmanager's default
// templates, then Vigil's (defaultTemplates, which redefine the
// email.default.*, slack.default.* and pagerduty.default.* texts), then
// the config's template files; later definitions win, as in Alertmanager.
type Templates struct {
	t *amtemplate.Template
}

// LoadTemplates parses the built-in templates and then files.
func LoadTemplates(files []string) (*Templates, error) {
	t, err := amtemplate.FromGlobs(nil)
	if err != nil {
		return nil, fmt.Errorf("loading Alertmanager's default templates: %w", err)
	}
	if err := t.Parse(strings.NewReader(defaultTemplates)); err != nil {
		return nil, fmt.Errorf("built-in templates: %w", err)
	}
	for _, f := range files {
		// A file name is a glob that matches itself; its base name names
		// its errors, as in Alertmanager.
		if err := t.FromGlob(f); err != nil {
			return nil, fmt.Errorf("template %s: %w", f, err)
		}
	}
	return &Templates{t: t}, nil
}

// CheckTemplates loads c's template files and returns their paths.
func CheckTemplates(c *Config) ([]string, error) {
	files, err := c.TemplateFiles()
	if err != nil {
		return nil, err
	}
	if _, err := LoadTemplates(files); err != nil {
		return nil, err
	}
	return files, nil
}

// Text renders tmpl (a template text such as `{{ template "x" . }}`) with
// text/template.
func (t *Templates) Text(tmpl string, d *Data) (string, error) {
	return t.t.ExecuteTextString(tmpl, d.forTemplates())
}

// HTML renders tmpl with html/template (values escaped).
func (t *Templates) HTML(tmpl string, d *Data) (string, error) {
	return t.t.ExecuteHTMLString(tmpl, d.forTemplates())
}

// sortedNames returns the keys of m in order.
func sortedNames(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// defaultTemplates are short enough to read on a phone: a subject line
// with the status, count and group, then one block per alert with its
// summary, description and labels. Their helpers are named vigil.* so
// that Alertmanager's own (__subject...) stay as Alertmanager defines
// them for the config's templates.
const defaultTemplates = `
{{ define "vigil.subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }}{{ end }}
{{ define "vigil.alert_text" }}{{ range . }}- {{ if .Annotations.summary }}{{ .Annotations.summary }}{{ else }}{{ .Labels.alertname }}{{ end }}
{{ if .Annotations.description }}  {{ .Annotations.description }}
{{ end }}  since {{ .StartsAt.UTC.Format "2006-01-02 15:04 MST" }}{{ if .GeneratorURL }} · {{ .GeneratorURL }}{{ end }}
{{ range .Labels.SortedPairs }}  {{ .Name }}={{ .Value }}
{{ end }}{{ end }}{{ end }}
{{ define "slack.default.title" }}{{ template "vigil.subject" . }}{{ end }}
{{ define "slack.default.titlelink" }}{{ if .ExternalURL }}{{ .ExternalURL }}/alerts{{ end }}{{ end }}
{{ define "slack.default.text" }}{{ range .Alerts }}{{ if eq .Status "resolved" }}✅{{ else }}🔥{{ end }} *{{ if .Annotations.summary }}{{ .Annotations.summary }}{{ else }}{{ .Labels.alertname }}{{ end }}*{{ if .Annotations.description }}
{{ .Annotations.description }}{{ end }}
{{ end }}{{ end }}
{{ define "pagerduty.default.description" }}{{ template "vigil.subject" . }}{{ end }}
{{ define "pagerduty.default.instances" }}{{ range . }}{{ if .Annotations.summary }}{{ .Annotations.summary }}{{ else }}{{ .Labels.alertname }}{{ end }} ({{ range .Labels.SortedPairs }}{{ .Name }}={{ .Value }} {{ end }})
{{ end }}{{ end }}
{{ define "email.default.subject" }}{{ template "vigil.subject" . }}{{ end }}
{{ define "email.default.text" }}{{ if .Alerts.Firing }}Firing ({{ .Alerts.Firing | len }}):
{{ template "vigil.alert_text" .Alerts.Firing }}{{ end }}{{ if .Alerts.Resolved }}Resolved ({{ .Alerts.Resolved | len }}):
{{ template "vigil.alert_text" .Alerts.Resolved }}{{ end }}{{ if .ExternalURL }}
{{ .ExternalURL }}/alerts
{{ end }}{{ end }}
{{ define "email.default.html" }}<!DOCTYPE html><html><body style="font-family:sans-serif;font-size:15px;max-width:600px">
<h2 style="color:{{ if eq .Status "firing" }}#c0392b{{ else }}#27ae60{{ end }}">{{ template "vigil.subject" . }}</h2>
{{ range .Alerts }}<div style="border-left:4px solid {{ if eq .Status "firing" }}#c0392b{{ else }}#27ae60{{ end }};padding:4px 8px;margin:8px 0">
<b>{{ if .Annotations.summary }}{{ .Annotations.summary }}{{ else }}{{ .Labels.alertname }}{{ end }}</b> ({{ .Status }})<br>
{{ if .Annotations.description }}{{ .Annotations.description }}<br>{{ end }}
<small>since {{ .StartsAt.UTC.Format "2006-01-02 15:04 MST" }}{{ range .Labels.SortedPairs }} · {{ .Name }}={{ .Value }}{{ end }}</small>
</div>{{ end }}{{ if .ExternalURL }}<p><a href="{{ .ExternalURL }}/alerts">Open Vigil</a></p>{{ end }}
</body></html>{{ end }}
`
