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

// email sends a notification over SMTP as Alertmanager does: TLS from
// the start on port 465 (or with force_implicit_tls), otherwise STARTTLS
// when require_tls is on (the default; the server must offer it), and the
// first auth mechanism the server offers that the config can answer:
// CRAM-MD5 with auth_secret, PLAIN (with auth_identity) or LOGIN with
// auth_password. The body is multipart/alternative, text and HTML
// rendered from the templates.
type email struct {
	cfg  *EmailConfig
	tmpl *Templates
	tls  *tls.Config // from tls_config; ServerName defaults to the smarthost's host
}

func newEmail(c *EmailConfig, t *Templates) (*email, error) {
	tc := &tls.Config{}
	if c.TLSConfig != nil {
		var err error
		if tc, err = tlsClientConfig(c.TLSConfig); err != nil {
			return nil, fmt.Errorf("tls_config: %w", err)
		}
	}
	if tc.ServerName == "" {
		tc.ServerName, _, _ = net.SplitHostPort(c.Smarthost)
	}
	return &email{cfg: c, tmpl: t, tls: tc}, nil
}

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

func (e *email) implicitTLS() bool {
	if e.cfg.ForceImplicitTLS != nil {
		return *e.cfg.ForceImplicitTLS
	}
	_, port, _ := net.SplitHostPort(e.cfg.Smarthost)
	return port == "465"
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
	dialer := &net.Dialer{Deadline: dl}
	var conn net.Conn
	if e.implicitTLS() {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: e.tls}).DialContext(ctx, "tcp", e.cfg.Smarthost)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", e.cfg.Smarthost)
	}
	if err != nil {
		return fmt.Errorf("connect to %s: %w", e.cfg.Smarthost, err)
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
			return fmt.Errorf("EHLO: %w", err)
		}
	}
	if (e.cfg.RequireTLS == nil || *e.cfg.RequireTLS) && !e.implicitTLS() {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("%s does not offer STARTTLS and require_tls is on (the default); set require_tls: false to send without TLS", e.cfg.Smarthost)
		}
		if err := c.StartTLS(e.tls); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if ok, mechs := c.Extension("AUTH"); ok {
		auth, err := e.auth(mechs)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		if auth != nil {
			if err := c.Auth(auth); err != nil {
				return fmt.Errorf("auth as %s: %w", e.cfg.AuthUsername, err)
			}
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

// auth picks, among the mechanisms the server offers (in its order), the
// first that the config can answer, as Alertmanager does; without
// auth_username it sends without authenticating.
func (e *email) auth(mechs string) (smtp.Auth, error) {
	if e.cfg.AuthUsername == "" {
		return nil, nil
	}
	var errs []error
	for mech := range strings.FieldsSeq(mechs) {
		switch mech {
		case "CRAM-MD5":
			secret, err := readSecret(e.cfg.AuthSecret, e.cfg.AuthSecretFile)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("auth_secret_file: %w", err))
			case secret == "":
				errs = append(errs, errors.New("CRAM-MD5 needs auth_secret or auth_secret_file"))
			default:
				return smtp.CRAMMD5Auth(e.cfg.AuthUsername, secret), nil
			}
		case "PLAIN", "LOGIN":
			pw, err := readSecret(e.cfg.AuthPassword, e.cfg.AuthPasswordFile)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("auth_password_file: %w", err))
			case pw == "":
				errs = append(errs, fmt.Errorf("%s needs auth_password or auth_password_file", mech))
			case mech == "PLAIN":
				host, _, _ := net.SplitHostPort(e.cfg.Smarthost)
				return smtp.PlainAuth(e.cfg.AuthIdentity, e.cfg.AuthUsername, pw, host), nil
			default:
				return loginAuth{e.cfg.AuthUsername, pw}, nil
			}
		default:
			errs = append(errs, fmt.Errorf("unsupported mechanism %s", mech))
		}
	}
	return nil, fmt.Errorf("no mechanism the server offers (%s) can be used: %w", mechs, errors.Join(errs...))
}

// loginAuth is the LOGIN mechanism, which net/smtp lacks: the user name
// and the password, each when the server asks for it.
type loginAuth struct{ username, password string }

func (a loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return "LOGIN", nil, nil }

func (a loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(fromServer))) {
	case "username:":
		return []byte(a.username), nil
	case "password:":
		return []byte(a.password), nil
	}
	return nil, fmt.Errorf("unexpected LOGIN challenge %q", fromServer)
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
