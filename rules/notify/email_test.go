package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vigil-monitoring/vigil/internal/smtptest"
)

// The message: subject, headers, and a text and an HTML part rendered
// from the built-in templates.
func TestEmailMessage(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	tmpl, err := LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &EmailConfig{To: "oncall@panic.example.com", From: "Vigil <alerts@panic.example.com>", Smarthost: s.Addr,
		AuthUsername: "alerts", AuthPassword: "hunter2", TLSConfig: &TLSConfig{CAFile: s.CAFile}}
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	d := templateData("email-alerts", model.LabelSet{"alertname": "VerySlowPanicResponse"}, []*Alert{{
		Labels:      model.LabelSet{"alertname": "VerySlowPanicResponse", "zone": "downtown", "severity": "critical"},
		Annotations: model.LabelSet{"summary": "Panic responses in downtown take 17 minutes", "description": "p95 > 15m for 10m"},
		StartsAt:    start}}, "http://vigil.example", start)
	e, err := newEmail(cfg, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Notify(context.Background(), "g", d); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].Mech != "PLAIN" {
		t.Fatalf("%d messages, %+v", len(msgs), msgs)
	}
	if subject, err := msgs[0].Subject(); err != nil || subject != "[FIRING:1] VerySlowPanicResponse" || msgs[0].Header("To") != cfg.To {
		t.Errorf("subject %q (%v), to %q", subject, err, msgs[0].Header("To"))
	}
	parts, err := msgs[0].Parts()
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]string{
		"text/plain": "- Panic responses in downtown take 17 minutes\n  p95 &gt; 15m",
		"text/html":  "<b>Panic responses in downtown take 17 minutes</b> (firing)",
	} {
		if typ == "text/plain" {
			want = strings.ReplaceAll(want, "&gt;", ">")
		}
		if !strings.Contains(parts[typ], want) {
			t.Errorf("%s part does not contain %q:\n%s", typ, want, parts[typ])
		}
	}
}

// Through the dispatcher: one email and one webhook per group, nothing
// more within repeat_interval, and the resolution by both.
func TestDispatchEmailAndWebhookOncePerGroup(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	h := newHook(t)
	c, err := Parse([]byte(`
global: {smtp_smarthost: '` + s.Addr + `', smtp_from: 'alerts@panic.example.com', smtp_auth_username: alerts, smtp_auth_password: hunter2,
         smtp_tls_config: {ca_file: '` + s.CAFile + `'}}
route: {receiver: oncall, group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 4h}
receivers:
  - name: oncall
    email_configs: [{to: 'oncall@panic.example.com', send_resolved: true}]
    webhook_configs: [{url: '` + h.URL + `'}]
`))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	d, err := New(Options{Config: c, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	valid := clk.Now().Add(time.Hour)
	d.Put(&Alert{Labels: model.LabelSet{"alertname": "HighErrorRate", "endpoint": "/panic"}, EndsAt: valid},
		&Alert{Labels: model.LabelSet{"alertname": "HighErrorRate", "endpoint": "/login"}, EndsAt: valid})
	step(d, clk, 30*time.Second)
	step(d, clk, 5*time.Minute)
	mails := func() []string {
		var subjects []string
		for _, m := range s.Messages() {
			subj, _ := m.Subject()
			subjects = append(subjects, subj)
		}
		return subjects
	}
	if got := mails(); len(got) != 1 || got[0] != "[FIRING:2] HighErrorRate" {
		t.Fatalf("emails = %q", got)
	}
	if got := h.take(t); len(got) != 1 || len(got[0].Alerts) != 2 {
		t.Fatalf("webhooks = %+v", got)
	}
	d.Put(&Alert{Labels: model.LabelSet{"alertname": "HighErrorRate", "endpoint": "/panic"}, EndsAt: clk.Now()},
		&Alert{Labels: model.LabelSet{"alertname": "HighErrorRate", "endpoint": "/login"}, EndsAt: clk.Now()})
	step(d, clk, 5*time.Minute)
	if got := mails(); len(got) != 2 || got[1] != "[RESOLVED] HighErrorRate" {
		t.Fatalf("emails = %q", got)
	}
	if got := h.take(t); len(got) != 1 || got[0].Status != "resolved" {
		t.Fatalf("webhooks = %+v", got)
	}
}
