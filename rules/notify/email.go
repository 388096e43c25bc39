package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// email sends a notification over SMTP: STARTTLS when the server offers
// it (required unless require_tls is false), PLAIN/LOGIN-less auth with
// auth_username, and a multipart/alternative text + HTML body rendered
// from the templates.
type email struct {
	cfg  *EmailConfig
	tmpl *Templates
}

func newEmail(c *EmailConfig, t *Templates) *email { return &email{cfg: c, tmpl: t} }

func (e *email) Kind() string { return "email" }

func (e *email) SendResolved() bool { return e.cfg.SendResolved != nil && *e.cfg.SendResolved }

func (e *email) render(d *Data) (headers map[string]string, text, html string, err error) {
	headers = map[string]string{"Subject": `{{ template "email.default.subject" . }}`, "To": e.cfg.To, "From": e.cfg.From}
	for k, v := range e.cfg.Headers {
		headers[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	for k, v := range headers {
		if headers[k], err = e.tmpl.Text(v, d); err != nil {
			return nil, "", "", fmt.Errorf("header %s: %w", k, err)
		}
	}
	textT, htmlT := `{{ template "email.default.text" . }}`, `{{ template "email.default.html" . }}`
	if e.cfg.Text != nil {
		textT = *e.cfg.Text
	}
	if e.cfg.HTML != nil {
		htmlT = *e.cfg.HTML
	}
	if text, err = e.tmpl.Text(textT, d); err != nil {
		return nil, "", "", fmt.Errorf("text body: %w", err)
	}
	if htmlT != "" {
		if html, err = e.tmpl.HTML(htmlT, d); err != nil {
			return nil, "", "", fmt.Errorf("html body: %w", err)
		}
	}
	return headers, text, html, nil
}

func (e *email) Notify(ctx context.Context, _ string, d *Data) error {
	headers, text, html, err := e.render(d)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(e.cfg.Smarthost)
	if err != nil {
		return fmt.Errorf("smarthost %q: %w", e.cfg.Smarthost, err)
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(time.Minute)
	}
	conn, err := (&net.Dialer{Deadline: dl}).DialContext(ctx, "tcp", e.cfg.Smarthost)
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(dl)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if e.cfg.Hello != "" {
		if err := c.Hello(e.cfg.Hello); err != nil {
			return err
		}
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		tc := &tls.Config{ServerName: host}
		if t := e.cfg.TLSConfig; t != nil {
			tc.InsecureSkipVerify = t.InsecureSkipVerify
			if t.ServerName != "" {
				tc.ServerName = t.ServerName
			}
		}
		if err := c.StartTLS(tc); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	} else if e.cfg.RequireTLS == nil || *e.cfg.RequireTLS {
		return fmt.Errorf("%s does not offer STARTTLS and require_tls is on (set require_tls: false for a server without TLS)", e.cfg.Smarthost)
	}
	if e.cfg.AuthUsername != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("%s does not offer AUTH but auth_username is set", e.cfg.Smarthost)
		}
		pw, err := readSecret(e.cfg.AuthPassword, e.cfg.AuthPasswordFile)
		if err != nil {
			return fmt.Errorf("auth_password_file: %w", err)
		}
		if err := c.Auth(smtp.PlainAuth(e.cfg.AuthIdentity, e.cfg.AuthUsername, pw, host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(addrOnly(headers["From"])); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, to := range strings.Split(headers["To"], ",") {
		if err := c.Rcpt(addrOnly(to)); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	msg, err := buildMessage(headers, text, html)
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func addrOnly(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		return strings.TrimSuffix(s[i+1:], ">")
	}
	return s
}

func buildMessage(headers map[string]string, text, html string) ([]byte, error) {
	var b bytes.Buffer
	for _, k := range sortedNames(headers) {
		v := headers[k]
		if k == "Subject" {
			v = mime.QEncoding.Encode("utf-8", v)
		}
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	fmt.Fprintf(&b, "Date: %s\r\nMessage-Id: <%x@vigil>\r\nMIME-Version: 1.0\r\n", time.Now().Format(time.RFC1123Z), id)
	mw := multipart.NewWriter(&b)
	fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=%s\r\n\r\n", mw.Boundary())
	for _, part := range []struct{ typ, body string }{{"text/plain", text}, {"text/html", html}} {
		if part.body == "" {
			continue
		}
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.typ + "; charset=UTF-8"}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	if b.Len() == 0 {
		return nil, errors.New("empty message")
	}
	return b.Bytes(), nil
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	qw := quotedprintable.NewWriter(w)
	if _, err := qw.Write([]byte(s)); err != nil {
		return err
	}
	return qw.Close()
}
