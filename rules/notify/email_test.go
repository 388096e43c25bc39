package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/common/model"
)

// smtpServer is a real SMTP server on 127.0.0.1 (go-smtp) offering
// STARTTLS and PLAIN auth; it keeps the messages it accepted.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	msgs [][]byte
	user string // the user who authenticated last
}

type smtpSession struct{ s *smtpServer }

func (ss smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "alerts" || pass != "hunter2" {
			return errors.New("invalid credentials")
		}
		ss.s.mu.Lock()
		ss.s.user = user
		ss.s.mu.Unlock()
		return nil
	}), nil
}
func (smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, b)
	ss.s.mu.Unlock()
	return err
}
func (smtpSession) Reset()        {}
func (smtpSession) Logout() error { return nil }

func startSMTP(t *testing.T) *smtpServer {
	s := &smtpServer{}
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler()) // for its 127.0.0.1 certificate
	t.Cleanup(tlsSrv.Close)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return smtpSession{s}, nil }))
	srv.Domain, srv.TLSConfig = "127.0.0.1", tlsSrv.TLS
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func TestEmailOverSTARTTLSWithAuth(t *testing.T) {
	s := startSMTP(t)
	tmpl, err := LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &EmailConfig{To: "oncall@panic.example.com", From: "Vigil <alerts@panic.example.com>", Smarthost: s.addr,
		AuthUsername: "alerts", AuthPassword: "hunter2", TLSConfig: &TLSConfig{InsecureSkipVerify: true}}
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	d := templateData("email-alerts", model.LabelSet{"alertname": "VerySlowPanicResponse"}, []*Alert{{
		Labels:      model.LabelSet{"alertname": "VerySlowPanicResponse", "zone": "downtown", "severity": "critical"},
		Annotations: model.LabelSet{"summary": "Panic responses in downtown take 17 minutes", "description": "p95 > 15m for 10m"},
		StartsAt:    start}}, "http://vigil.example", start)
	if err := newEmail(cfg, tmpl).Notify(context.Background(), "g", d); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) != 1 || s.user != "alerts" {
		t.Fatalf("%d messages, user %q", len(s.msgs), s.user)
	}
	m, err := mail.ReadMessage(bytes.NewReader(s.msgs[0]))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if subject != "[FIRING:1] VerySlowPanicResponse" || m.Header.Get("To") != cfg.To {
		t.Errorf("subject %q, to %q", subject, m.Header.Get("To"))
	}
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	mr := multipart.NewReader(m.Body, params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(quotedprintable.NewReader(p))
		parts[strings.Split(p.Header.Get("Content-Type"), ";")[0]] = strings.ReplaceAll(string(b), "\r\n", "\n")
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

	cfg.AuthPassword = "wrong"
	if err := newEmail(cfg, tmpl).Notify(context.Background(), "g", d); err == nil || !strings.Contains(err.Error(), "auth") {
		t.Errorf("a wrong password: err = %v", err)
	}
}

// Through the dispatcher: one email and one webhook per group, nothing
// more within repeat_interval, and the resolution by both.
func TestDispatchEmailAndWebhookOncePerGroup(t *testing.T) {
	s := startSMTP(t)
	h := newHook(t)
	c, err := Parse([]byte(`
global: {smtp_smarthost: '` + s.addr + `', smtp_from: 'alerts@panic.example.com', smtp_auth_username: alerts, smtp_auth_password: hunter2,
         smtp_tls_config: {insecure_skip_verify: true}}
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
		s.mu.Lock()
		defer s.mu.Unlock()
		var subjects []string
		for _, m := range s.msgs {
			msg, _ := mail.ReadMessage(bytes.NewReader(m))
			subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
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
