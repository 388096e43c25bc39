package notify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vigil-monitoring/vigil/internal/smtptest"
)

// Email over STARTTLS or implicit TLS with each auth mechanism
// Alertmanager supports, chosen as Alertmanager chooses; require_tls,
// auth_identity, auth_password_file and auth_secret_file; and the errors
// of what cannot work.
func TestEmailTLSAndAuth(t *testing.T) {
	tmpl, err := LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "smtp-password")
	secretFile := filepath.Join(dir, "smtp-secret")
	os.WriteFile(pwFile, []byte(smtptest.Password+"\n"), 0o600)
	os.WriteFile(secretFile, []byte(smtptest.Secret+"\n"), 0o600)
	d := templateData("email-alerts", model.LabelSet{"alertname": "DatabaseConnectionLost"}, []*Alert{{
		Labels: model.LabelSet{"alertname": "DatabaseConnectionLost", "severity": "critical"}, StartsAt: time.Now()}}, "", time.Now())

	for _, tc := range []struct {
		name    string
		server  smtptest.Options
		global  string // global: section, with {{addr}} and {{ca}}
		email   string // the email_configs entry
		mech    string // the mechanism the server must see
		ident   string
		tls     bool
		wantErr string
	}{
		{name: "STARTTLS and PLAIN with auth_identity", server: smtptest.Options{Mechs: []string{"PLAIN"}},
			email: `{to: oncall@panic.example.com, auth_username: alerts, auth_password: hunter2, auth_identity: panic-platform, tls_config: {ca_file: '{{ca}}', server_name: 127.0.0.1}}`,
			mech:  "PLAIN", ident: "panic-platform", tls: true},
		{name: "STARTTLS and LOGIN with auth_password_file", server: smtptest.Options{Mechs: []string{"LOGIN"}},
			email: `{to: oncall@panic.example.com, auth_username: alerts, auth_password_file: '` + pwFile + `', tls_config: {ca_file: '{{ca}}'}}`,
			mech:  "LOGIN", tls: true},
		{name: "STARTTLS and CRAM-MD5 with auth_secret", server: smtptest.Options{Mechs: []string{"CRAM-MD5"}},
			email: `{to: oncall@panic.example.com, auth_username: alerts, auth_secret: cram-s3cret, tls_config: {ca_file: '{{ca}}'}}`,
			mech:  "CRAM-MD5", tls: true},
		{name: "the global smtp_* settings, CRAM-MD5 from smtp_auth_secret_file", server: smtptest.Options{Mechs: []string{"CRAM-MD5", "PLAIN"}},
			global: `{smtp_smarthost: '{{addr}}', smtp_from: alerts@panic.example.com, smtp_auth_username: alerts, smtp_auth_secret_file: '` + secretFile + `', smtp_tls_config: {ca_file: '{{ca}}'}}`,
			email:  `{to: oncall@panic.example.com}`, mech: "CRAM-MD5", tls: true},
		{name: "CRAM-MD5 offered first but no secret: PLAIN, as Alertmanager chooses", server: smtptest.Options{Mechs: []string{"CRAM-MD5", "PLAIN"}},
			email: `{to: oncall@panic.example.com, auth_username: alerts, auth_password: hunter2, tls_config: {ca_file: '{{ca}}'}}`,
			mech:  "PLAIN", tls: true},
		{name: "implicit TLS (SMTPS) with force_implicit_tls", server: smtptest.Options{ImplicitTLS: true, NoTLS: true, InsecureAuth: true, Mechs: []string{"LOGIN"}},
			email: `{to: oncall@panic.example.com, force_implicit_tls: true, auth_username: alerts, auth_password: hunter2, tls_config: {ca_file: '{{ca}}'}}`,
			mech:  "LOGIN", tls: true},
		{name: "require_tls false: no STARTTLS, PLAIN on 127.0.0.1", server: smtptest.Options{NoTLS: true, InsecureAuth: true},
			email: `{to: oncall@panic.example.com, require_tls: false, auth_username: alerts, auth_password: hunter2}`, mech: "PLAIN"},
		{name: "smtp_require_tls false from global, no auth", server: smtptest.Options{NoTLS: true},
			global: `{smtp_require_tls: false}`, email: `{to: oncall@panic.example.com}`},
		{name: "require_tls (the default) and a server without STARTTLS", server: smtptest.Options{NoTLS: true},
			email: `{to: oncall@panic.example.com}`, wantErr: "does not offer STARTTLS and require_tls is on"},
		{name: "a certificate not trusted", server: smtptest.Options{},
			email: `{to: oncall@panic.example.com, auth_username: alerts, auth_password: hunter2}`, wantErr: "STARTTLS: tls: failed to verify certificate"},
		{name: "a wrong password", server: smtptest.Options{Mechs: []string{"LOGIN"}},
			email: `{to: oncall@panic.example.com, auth_username: alerts, auth_password: wrong, tls_config: {ca_file: '{{ca}}'}}`, wantErr: "auth as alerts: 454"},
		{name: "a missing auth_password_file", server: smtptest.Options{},
			email:   `{to: oncall@panic.example.com, auth_username: alerts, auth_password_file: '` + filepath.Join(dir, "nope") + `', tls_config: {ca_file: '{{ca}}'}}`,
			wantErr: "auth_password_file: open"},
		{name: "CRAM-MD5 only and no secret", server: smtptest.Options{Mechs: []string{"CRAM-MD5"}},
			email:   `{to: oncall@panic.example.com, auth_username: alerts, auth_password: hunter2, tls_config: {ca_file: '{{ca}}'}}`,
			wantErr: "no mechanism the server offers (CRAM-MD5) can be used: CRAM-MD5 needs auth_secret or auth_secret_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.Start(t, tc.server)
			expand := strings.NewReplacer("{{addr}}", s.Addr, "{{ca}}", s.CAFile).Replace
			global := tc.global
			if global == "" {
				global = `{smtp_smarthost: '{{addr}}', smtp_from: alerts@panic.example.com}`
			} else if !strings.Contains(global, "smtp_smarthost") {
				global = strings.Replace(global, "{", `{smtp_smarthost: '{{addr}}', smtp_from: alerts@panic.example.com, `, 1)
			}
			c, err := Parse([]byte(expand("global: " + global + "\nroute: {receiver: mail}\nreceivers: [{name: mail, email_configs: [" + tc.email + "]}]\n")))
			if err != nil {
				t.Fatal(err)
			}
			e, err := newEmail(c.Receivers[0].EmailConfigs[0], tmpl)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = e.Notify(ctx, "g", d)
			msgs := s.Messages()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if len(msgs) != 0 {
					t.Fatalf("%d messages accepted despite the error", len(msgs))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 1 {
				t.Fatalf("%d messages", len(msgs))
			}
			m := msgs[0]
			if m.Mech != tc.mech || m.Identity != tc.ident || m.TLS != tc.tls {
				t.Errorf("mechanism %q identity %q TLS %v, want %q %q %v", m.Mech, m.Identity, m.TLS, tc.mech, tc.ident, tc.tls)
			}
			if m.From != "alerts@panic.example.com" || len(m.To) != 1 || m.To[0] != "oncall@panic.example.com" {
				t.Errorf("envelope from %q to %q", m.From, m.To)
			}
			if subj, err := m.Subject(); err != nil || subj != "[FIRING:1] DatabaseConnectionLost" {
				t.Errorf("subject %q, %v", subj, err)
			}
		})
	}
}

// Validation of the SMTP settings names what is wrong.
func TestEmailConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{`global: {smtp_auth_password: a, smtp_auth_password_file: /x}`, "global: give smtp_auth_password or smtp_auth_password_file, not both"},
		{`global: {smtp_auth_secret: a, smtp_auth_secret_file: /x}`, "global: give smtp_auth_secret or smtp_auth_secret_file, not both"},
		{`receivers: [{name: mail, email_configs: [{to: a@b.c, from: a@b.c, smarthost: 'mail:25', auth_secret: a, auth_secret_file: /x}]}]`,
			`receiver "mail": email_configs[0]: give auth_secret or auth_secret_file, not both`},
		{`receivers: [{name: mail, email_configs: [{to: a@b.c, from: a@b.c, smarthost: mail.example.com}]}]`,
			`receiver "mail": email_configs[0]: smarthost "mail.example.com" is not host:port (e.g. mail.example.com:587)`},
	} {
		yml := "route: {receiver: mail}\n" + tc.yaml + "\n"
		if !strings.Contains(tc.yaml, "receivers:") {
			yml += "receivers: [{name: mail}]\n"
		}
		_, err := Parse([]byte(yml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
