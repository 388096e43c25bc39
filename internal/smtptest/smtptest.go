// Package smtptest runs a real SMTP server on 127.0.0.1 for tests
// (github.com/emersion/go-smtp): STARTTLS or implicit TLS with a
// certificate from internal/testcert, and the auth mechanisms PLAIN,
// LOGIN and CRAM-MD5 checked against one account. It keeps every message
// it accepts with how it came (mechanism, identity, TLS, envelope), and
// parses them back (subject, text and HTML parts).
package smtptest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/vigil-monitoring/vigil/internal/testcert"
)

// The account the server accepts.
const (
	User     = "alerts"
	Password = "hunter2"
	Secret   = "cram-s3cret" // CRAM-MD5's shared secret
)

// Options shape a server.
type Options struct {
	Mechs        []string // auth mechanisms offered, in order (default PLAIN)
	NoTLS        bool     // no STARTTLS
	ImplicitTLS  bool     // TLS from the first byte (SMTPS)
	InsecureAuth bool     // offer AUTH before TLS
}

// Server is a running SMTP server.
type Server struct {
	Addr   string // host:port on 127.0.0.1
	CAFile string // its certificate in PEM, for tls_config.ca_file

	mu   sync.Mutex
	msgs []Message
}

// Message is one accepted message and how it came.
type Message struct {
	Data     []byte   // the message as sent after DATA
	Mech     string   // the auth mechanism used, "" without auth
	Identity string   // PLAIN's authorization identity
	TLS      bool     // whether the session was encrypted
	From     string   // MAIL FROM
	To       []string // RCPT TO
}

// Start starts a server that stops at the end of the test.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	_, certPEM, keyPEM := testcert.New(t, "smtp.test")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{CAFile: filepath.Join(t.TempDir(), "smtp-ca.pem")}
	if err := os.WriteFile(s.CAFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c, opts: opts}, nil
	}))
	srv.Domain, srv.AllowInsecureAuth = "127.0.0.1", opts.InsecureAuth
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	if !opts.NoTLS {
		srv.TLSConfig = tlsConfig
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.ImplicitTLS {
		l = tls.NewListener(l, tlsConfig)
	}
	s.Addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait returns the messages accepted, waiting up to timeout for at least n.
func (s *Server) Wait(n int, timeout time.Duration) []Message {
	deadline := time.Now().Add(timeout)
	for {
		got := s.Messages()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Subject returns the decoded Subject header.
func (m Message) Subject() (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return "", err
	}
	return new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
}

// Header returns a header of the message.
func (m Message) Header(name string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	return msg.Header.Get(name)
}

// Parts returns the decoded bodies of a multipart message by media type
// (text/plain, text/html), with CRLF turned into LF.
func (m Message) Parts() (map[string]string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return nil, err
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return parts, nil
		}
		if err != nil {
			return nil, err
		}
		var r io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			r = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		typ, _, _ := strings.Cut(p.Header.Get("Content-Type"), ";")
		parts[typ] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
}

type session struct {
	s    *Server
	conn *smtp.Conn
	cur  Message
	opts Options
}

func (ss *session) AuthMechanisms() []string {
	if len(ss.opts.Mechs) == 0 {
		return []string{sasl.Plain}
	}
	return ss.opts.Mechs
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	done := func(identity string) error {
		ss.cur.Mech, ss.cur.Identity = mech, identity
		return nil
	}
	check := func(user, pass string) error {
		if user != User || pass != Password {
			return errors.New("invalid credentials")
		}
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if err := check(user, pass); err != nil {
				return err
			}
			return done(identity)
		}), nil
	case sasl.Login:
		return &loginServer{check: func(user, pass string) error {
			if err := check(user, pass); err != nil {
				return err
			}
			return done("")
		}}, nil
	case "CRAM-MD5":
		return &cramServer{challenge: fmt.Sprintf("<%d.smtptest@127.0.0.1>", time.Now().UnixNano()), check: func(user string) error {
			if user != User {
				return errors.New("invalid credentials")
			}
			return done("")
		}}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.cur.From = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := ss.cur
	m.Data = b
	_, m.TLS = ss.conn.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, m)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset() { ss.cur.From, ss.cur.To = "", nil }

func (ss *session) Logout() error { return nil }

// loginServer is the server side of LOGIN, which go-sasl does not have.
type loginServer struct {
	user  string
	step  int
	check func(user, pass string) error
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(response))
	}
}

// cramServer is the server side of CRAM-MD5 (RFC 2195), which go-sasl
// does not have either.
type cramServer struct {
	challenge string
	sent      bool
	check     func(user string) error
}

func (c *cramServer) Next(response []byte) ([]byte, bool, error) {
	if !c.sent {
		c.sent = true
		return []byte(c.challenge), false, nil
	}
	user, digest, _ := strings.Cut(string(response), " ")
	mac := hmac.New(md5.New, []byte(Secret))
	mac.Write([]byte(c.challenge))
	if !hmac.Equal([]byte(digest), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		return nil, true, errors.New("invalid credentials")
	}
	return nil, true, c.check(user)
}
