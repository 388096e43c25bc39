package notify

import (
	"bytes"
	"fmt"
	htmltpl "html/template"
	"os"
	"regexp"
	"slices"
	"strings"
	texttpl "text/template"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// This file is the data that notification templates and the webhook
// payload see — Alertmanager's template.Data, with the same field names
// and JSON order — and the template functions Alertmanager defines.

// KV is a label or annotation set.
type KV map[string]string

// SortedPairs returns the pairs sorted by name.
func (kv KV) SortedPairs() Pairs {
	out := make(Pairs, 0, len(kv))
	for _, k := range kv.Names() {
		out = append(out, Pair{Name: k, Value: kv[k]})
	}
	return out
}

// Names returns the sorted names.
func (kv KV) Names() []string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Values returns the values in the order of Names.
func (kv KV) Values() []string {
	var out []string
	for _, k := range kv.Names() {
		out = append(out, kv[k])
	}
	return out
}

// Remove returns a copy without the given names.
func (kv KV) Remove(names []string) KV {
	out := KV{}
	for k, v := range kv {
		if !slices.Contains(names, k) {
			out[k] = v
		}
	}
	return out
}

// Pair is one name and value of a KV.
type Pair struct{ Name, Value string }

// Pairs is a list of pairs, as KV.SortedPairs returns it.
type Pairs []Pair

// Names returns the names in order.
func (ps Pairs) Names() []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// Values returns the values in order.
func (ps Pairs) Values() []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Value
	}
	return out
}

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

// TemplateAlerts is a list of alerts with the Firing/Resolved views.
type TemplateAlerts []TemplateAlert

// Firing returns the firing alerts.
func (as TemplateAlerts) Firing() []TemplateAlert { return as.with("firing") }

// Resolved returns the resolved alerts.
func (as TemplateAlerts) Resolved() []TemplateAlert { return as.with("resolved") }

func (as TemplateAlerts) with(status string) []TemplateAlert {
	var out []TemplateAlert
	for _, a := range as {
		if a.Status == status {
			out = append(out, a)
		}
	}
	return out
}

// Data is what a notification is rendered from (Alertmanager's
// template.Data); its JSON is the first part of the webhook payload.
type Data struct {
	Receiver          string         `json:"receiver"`
	Status            string         `json:"status"`
	Alerts            TemplateAlerts `json:"alerts"`
	GroupLabels       KV             `json:"groupLabels"`
	CommonLabels      KV             `json:"commonLabels"`
	CommonAnnotations KV             `json:"commonAnnotations"`
	ExternalURL       string         `json:"externalURL"`
}

var titleCaser = cases.Title(language.AmericanEnglish)

// funcs are Alertmanager's default template functions.
var funcs = map[string]any{
	"toUpper":   strings.ToUpper,
	"toLower":   strings.ToLower,
	"title":     titleCaser.String,
	"trimSpace": strings.TrimSpace,
	"join":      func(sep string, s []string) string { return strings.Join(s, sep) },
	"match":     regexp.MatchString,
	"safeHtml":  func(s string) htmltpl.HTML { return htmltpl.HTML(s) },
	"reReplaceAll": func(pattern, repl, text string) string {
		return regexp.MustCompile(pattern).ReplaceAllString(text, repl)
	},
	"stringSlice": func(s ...string) []string { return s },
	"date":        func(layout string, t time.Time) string { return t.Format(layout) },
	"tz": func(name string, t time.Time) (time.Time, error) {
		loc, err := time.LoadLocation(name)
		if err != nil {
			return time.Time{}, err
		}
		return t.In(loc), nil
	},
	"since":            func(t time.Time) time.Duration { return time.Since(t) },
	"humanizeDuration": func(d time.Duration) string { return d.Round(time.Second).String() },
}

// Templates renders notification fields: the built-in defaults
// (defaultTemplates) overridden by the config's template files.
type Templates struct {
	text *texttpl.Template
	html *htmltpl.Template
}

// LoadTemplates parses the built-in templates and then files (later
// definitions win, as in Alertmanager).
func LoadTemplates(files []string) (*Templates, error) {
	t := &Templates{
		text: texttpl.New("").Option("missingkey=zero").Funcs(funcs),
		html: htmltpl.New("").Option("missingkey=zero").Funcs(funcs),
	}
	if _, err := t.text.Parse(defaultTemplates); err != nil {
		return nil, fmt.Errorf("built-in templates: %w", err)
	}
	if _, err := t.html.Parse(defaultTemplates); err != nil {
		return nil, fmt.Errorf("built-in templates: %w", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if _, err := t.text.New(f).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("template %s: %w", f, err)
		}
		if _, err := t.html.New(f).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("template %s: %w", f, err)
		}
	}
	return t, nil
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
	c, err := t.text.Clone()
	if err != nil {
		return "", err
	}
	p, err := c.New("").Parse(tmpl)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = p.Execute(&b, d)
	return b.String(), err
}

// HTML renders tmpl with html/template (values escaped).
func (t *Templates) HTML(tmpl string, d *Data) (string, error) {
	c, err := t.html.Clone()
	if err != nil {
		return "", err
	}
	p, err := c.New("").Parse(tmpl)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = p.Execute(&b, d)
	return b.String(), err
}

// defaultTemplates are short enough to read on a phone: a subject line
// with the status, count and group, then one block per alert with its
// summary, description and labels.
const defaultTemplates = `
{{ define "__subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }}{{ end }}
{{ define "__alert_text" }}{{ range . }}- {{ if .Annotations.summary }}{{ .Annotations.summary }}{{ else }}{{ .Labels.alertname }}{{ end }}
{{ if .Annotations.description }}  {{ .Annotations.description }}
{{ end }}  since {{ .StartsAt.UTC.Format "2006-01-02 15:04 MST" }}{{ if .GeneratorURL }} · {{ .GeneratorURL }}{{ end }}
{{ range .Labels.SortedPairs }}  {{ .Name }}={{ .Value }}
{{ end }}{{ end }}{{ end }}
{{ define "slack.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "slack.default.titlelink" }}{{ if .ExternalURL }}{{ .ExternalURL }}/alerts{{ end }}{{ end }}
{{ define "slack.default.text" }}{{ range .Alerts }}{{ if eq .Status "resolved" }}✅{{ else }}🔥{{ end }} *{{ if .Annotations.summary }}{{ .Annotations.summary }}{{ else }}{{ .Labels.alertname }}{{ end }}*{{ if .Annotations.description }}
{{ .Annotations.description }}{{ end }}
{{ end }}{{ end }}
{{ define "pagerduty.default.description" }}{{ template "__subject" . }}{{ end }}
{{ define "pagerduty.default.instances" }}{{ range . }}{{ if .Annotations.summary }}{{ .Annotations.summary }}{{ else }}{{ .Labels.alertname }}{{ end }} ({{ range .Labels.SortedPairs }}{{ .Name }}={{ .Value }} {{ end }})
{{ end }}{{ end }}
{{ define "email.default.subject" }}{{ template "__subject" . }}{{ end }}
{{ define "email.default.text" }}{{ if .Alerts.Firing }}Firing ({{ .Alerts.Firing | len }}):
{{ template "__alert_text" .Alerts.Firing }}{{ end }}{{ if .Alerts.Resolved }}Resolved ({{ .Alerts.Resolved | len }}):
{{ template "__alert_text" .Alerts.Resolved }}{{ end }}{{ if .ExternalURL }}
{{ .ExternalURL }}/alerts
{{ end }}{{ end }}
{{ define "email.default.html" }}<!DOCTYPE html><html><body style="font-family:sans-serif;font-size:15px;max-width:600px">
<h2 style="color:{{ if eq .Status "firing" }}#c0392b{{ else }}#27ae60{{ end }}">{{ template "__subject" . }}</h2>
{{ range .Alerts }}<div style="border-left:4px solid {{ if eq .Status "firing" }}#c0392b{{ else }}#27ae60{{ end }};padding:4px 8px;margin:8px 0">
<b>{{ if .Annotations.summary }}{{ .Annotations.summary }}{{ else }}{{ .Labels.alertname }}{{ end }}</b> ({{ .Status }})<br>
{{ if .Annotations.description }}{{ .Annotations.description }}<br>{{ end }}
<small>since {{ .StartsAt.UTC.Format "2006-01-02 15:04 MST" }}{{ range .Labels.SortedPairs }} · {{ .Name }}={{ .Value }}{{ end }}</small>
</div>{{ end }}{{ if .ExternalURL }}<p><a href="{{ .ExternalURL }}/alerts">Open Vigil</a></p>{{ end }}
</body></html>{{ end }}
`
