package auth

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"regexp"
	"testing"
	"time"
)

var tokenRE = regexp.MustCompile(`^vgl_[0-9A-Za-z]{43}$`)

func TestCreateToken(t *testing.T) {
	env := newTestStore(t, Options{})
	s := env.store
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	env.mustAddUser(t, "viewer", "viewer-password", RoleViewer)

	secret, tok, err := s.CreateToken("admin", " grafana ", TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !tokenRE.MatchString(secret) {
		t.Errorf("secret %q does not look like vgl_<43 base62>", secret)
	}
	if tok.ID == "" || tok.User != "admin" || tok.Name != "grafana" || tok.Role != "" || !tok.CreatedAt.Equal(env.clock.Now()) {
		t.Errorf("token = %+v", tok)
	}
	other, _, _ := s.CreateToken("admin", "other", TokenOptions{})
	if other == secret {
		t.Error("two tokens with the same secret")
	}

	errorCases := []struct {
		user, name string
		opts       TokenOptions
		want       error
	}{
		{"admin", "", TokenOptions{}, ErrInvalidInput},
		{"admin", "x", TokenOptions{Role: "root"}, ErrInvalidInput},
		{"admin", "x", TokenOptions{ExpiresAt: env.clock.Now().Add(-time.Second)}, ErrInvalidInput},
		{"viewer", "x", TokenOptions{Role: RoleAdmin}, ErrInvalidInput},
		{"viewer", "x", TokenOptions{Role: RoleWriter}, ErrInvalidInput},
		{"nobody", "x", TokenOptions{}, ErrUserNotFound},
	}
	for _, tc := range errorCases {
		if _, _, err := s.CreateToken(tc.user, tc.name, tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("CreateToken(%q, %q, %+v) = %v, want %v", tc.user, tc.name, tc.opts, err, tc.want)
		}
	}

	toks, err := s.ListTokens("admin")
	if err != nil || len(toks) != 2 {
		t.Fatalf("ListTokens(admin) = %+v, %v", toks, err)
	}
	if toks, _ := s.ListTokens("viewer"); len(toks) != 0 {
		t.Errorf("ListTokens(viewer) = %+v", toks)
	}
}

// The bbolt file must hold the SHA-256 of a token, never the token, and
// no password in clear.
func TestSecretsAreNotStored(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "admin", "admin-password-in-clear", RoleAdmin)
	secret, _ := env.mustToken(t, "admin", TokenOptions{})
	sid, _, err := env.store.Login("admin", "admin-password-in-clear", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.db.Sync(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(env.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte(secret))
	if !bytes.Contains(file, hash[:]) {
		t.Fatal("token hash not found in the bbolt file; is the file being read correctly?")
	}
	for what, needle := range map[string]string{
		"token secret":       secret,
		"token without vgl_": secret[len(TokenPrefix):],
		"password":           "admin-password-in-clear",
		"session ID":         sid,
	} {
		if bytes.Contains(file, []byte(needle)) {
			t.Errorf("%s found in the bbolt file", what)
		}
	}
}

func TestTokenAuthentication(t *testing.T) {
	env := newTestStore(t, Options{})
	s := env.store
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	env.mustAddUser(t, "w", "writer-password", RoleWriter)

	full, fullTok := env.mustToken(t, "admin", TokenOptions{})
	limited, _ := env.mustToken(t, "admin", TokenOptions{Role: RoleViewer})
	expiring, _ := env.mustToken(t, "w", TokenOptions{ExpiresAt: env.clock.Now().Add(time.Hour)})

	check := func(secret string, wantRole Role) {
		t.Helper()
		p, err := s.authenticateToken(secret)
		if wantRole == "" {
			if err == nil {
				t.Errorf("token authenticated as %+v, want failure", p)
			}
			return
		}
		if err != nil || p.Role != wantRole {
			t.Errorf("token principal = %+v, %v; want role %s", p, err, wantRole)
		}
	}
	check(full, RoleAdmin)
	check(limited, RoleViewer)
	check(expiring, RoleWriter)
	check("vgl_doesnotexist", "")
	check("not-a-token", "")
	check(full+"x", "")

	env.clock.Advance(time.Hour)
	check(expiring, "")

	// Demoting the user demotes the tokens.
	env.mustAddUser(t, "admin2", "admin2-password", RoleAdmin)
	if err := s.SetRole("admin", RoleWriter); err != nil {
		t.Fatal(err)
	}
	check(full, RoleWriter)
	check(limited, "") // viewer token of a writer: nothing in common

	if err := s.RevokeToken(fullTok.ID); err != nil {
		t.Fatal(err)
	}
	check(full, "")
	if err := s.RevokeToken(fullTok.ID); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("second revoke = %v, want ErrTokenNotFound", err)
	}
}

// last_used is written at most once a minute.
func TestTokenLastUsedThrottled(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	secret, tok := env.mustToken(t, "admin", TokenOptions{})
	lastUsed := func() time.Time {
		t.Helper()
		got, err := env.store.GetToken(tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.LastUsed
	}
	writes := func() int64 { st := env.db.Stats(); return st.TxStats.GetWrite() }

	start := env.clock.Now()
	if _, err := env.store.authenticateToken(secret); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(start) {
		t.Errorf("last_used after first use = %v, want %v", got, start)
	}
	before := writes()
	for range 50 {
		env.clock.Advance(time.Second)
		if _, err := env.store.authenticateToken(secret); err != nil {
			t.Fatal(err)
		}
	}
	if got := lastUsed(); !got.Equal(start) {
		t.Errorf("last_used within the minute = %v, want unchanged %v", got, start)
	}
	if w := writes() - before; w != 0 {
		t.Errorf("%d bbolt page writes for 50 uses within a minute, want 0", w)
	}
	env.clock.Advance(10 * time.Second)
	if _, err := env.store.authenticateToken(secret); err != nil {
		t.Fatal(err)
	}
	if writes() == before {
		t.Error("no bbolt write after a minute; is the write counter meaningful?")
	}
	if got := lastUsed(); !got.Equal(env.clock.Now()) {
		t.Errorf("last_used after a minute = %v, want %v", got, env.clock.Now())
	}
}
