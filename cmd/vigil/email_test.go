//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/vigil-monitoring/vigil/internal/smtptest"
)

// The binary mails a group through a real SMTP server on 127.0.0.1 over
// STARTTLS, its certificate checked against tls_config.ca_file, logging
// in with CRAM-MD5 from smtp_auth_secret_file (the server offers it
// first); the subject, text and HTML come from a template file that uses
// Alertmanager's functions and data; the resolution is mailed too.
func TestEmailThroughTheBinary(t *testing.T) {
	smtp := smtptest.Start(t, smtptest.Options{Mechs: []string{"CRAM-MD5", "LOGIN"}})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "smtp-secret"), []byte(smtptest.Secret+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "panic.tmpl"), []byte(`
{{ define "email.default.subject" }}[{{ .Status | toUpper }}{{ if .Alerts.Firing }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname | reReplaceAll "([a-z])([A-Z])" "$1 $2" | title }}{{ end }}
{{ define "email.default.text" }}receiver={{ .Receiver }} group={{ .GroupKey }}
{{ range .Alerts }}{{ .Status }} {{ .Labels.zone | toUpper }} since {{ .StartsAt | tz "Europe/Paris" | date "2006-01-02 15:04 MST" }}{{ if eq .Status "resolved" }} after {{ humanizeDuration 600 }}{{ end }} {{ .GeneratorURL }} {{ len .Fingerprint }}
{{ end }}{{ .CommonAnnotations.summary | trimSpace }} {{ join "," (stringSlice "a" "b") }} {{ .ExternalURL }}{{ end }}
{{ define "email.default.html" }}<p>{{ .CommonAnnotations.summary }}</p>{{ "<b>bold</b>" | safeHtml }}{{ end }}
`), 0o644)
	amFile := filepath.Join(dir, "alertmanager.yml")
	os.WriteFile(amFile, []byte(`global:
  smtp_smarthost: '`+smtp.Addr+`'
  smtp_from: 'Vigil <alerts@panic.example.com>'
  smtp_auth_username: '`+smtptest.User+`'
  smtp_auth_secret_file: '`+filepath.Join(dir, "smtp-secret")+`'
  smtp_tls_config: {ca_file: '`+smtp.CAFile+`'}
templates: ['*.tmpl']
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
receivers:
  - name: oncall
    email_configs: [{to: 'oncall@panic.example.com', send_resolved: true}]
`), 0o644)
	p := startVigilProcess(t, "--config.alertmanager="+amFile, "--rules.builtin=false", "--web.external-url=https://vigil.example.com")
	defer p.Stop()
	cli := adminAMClient(p.BaseURL)
	start := time.Date(2026, 11, 27, 8, 15, 0, 0, time.UTC)
	post := func(endsAt time.Time) {
		t.Helper()
		_, err := cli.Alert.PostAlerts(alert.NewPostAlertsParams().WithAlerts(models.PostableAlerts{{
			Alert:       models.Alert{Labels: models.LabelSet{"alertname": "VerySlowPanicResponse", "zone": "harbor"}, GeneratorURL: "http://vigil.example.com/explore"},
			Annotations: models.LabelSet{"summary": " Panic responses in harbor take 17 minutes "},
			StartsAt:    strfmt.DateTime(start), EndsAt: strfmt.DateTime(endsAt)}}))
		if err != nil {
			t.Fatal(err)
		}
	}
	post(time.Now().Add(time.Hour))
	msgs := smtp.Wait(1, 20*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d emails, want 1", len(msgs))
	}
	m := msgs[0]
	if !m.TLS || m.Mech != "CRAM-MD5" || m.From != "alerts@panic.example.com" {
		t.Errorf("TLS %v, mechanism %q, from %q", m.TLS, m.Mech, m.From)
	}
	subject, _ := m.Subject()
	parts, err := m.Parts()
	if err != nil {
		t.Fatal(err)
	}
	wantText := `receiver=oncall group={}:{alertname="VerySlowPanicResponse"}
firing HARBOR since 2026-11-27 09:15 CET http://vigil.example.com/explore 16
Panic responses in harbor take 17 minutes a,b https://vigil.example.com`
	if subject != "[FIRING:1] Very Slow Panic Response" || parts["text/plain"] != wantText ||
		parts["text/html"] != "<p> Panic responses in harbor take 17 minutes </p><b>bold</b>" {
		t.Errorf("subject %q\ntext:\n%s\nhtml:\n%s", subject, parts["text/plain"], parts["text/html"])
	}

	post(time.Now())
	msgs = smtp.Wait(2, 20*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("%d emails, want the resolution too", len(msgs))
	}
	subject, _ = msgs[1].Subject()
	parts, _ = msgs[1].Parts()
	if subject != "[RESOLVED] Very Slow Panic Response" || !strings.Contains(parts["text/plain"], "resolved HARBOR since 2026-11-27 09:15 CET after 10m 0s") {
		t.Errorf("resolution: subject %q\n%s", subject, parts["text/plain"])
	}
}
