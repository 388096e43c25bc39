package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"alice", ""},
		{"ops-team.bot_1", ""},
		{"José", ""},
		{strings.Repeat("x", 64), ""},
		{strings.Repeat("é", 64), ""},
		{"", "empty"},
		{strings.Repeat("x", 65), "limit is 64"},
		{"a:b", "contains ':'"},
		{" alice", "white space"},
		{"alice\n", "white space"},
		{"al\x00ice", "control"},
		{"\xff", "UTF-8"},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("ValidateName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidInput mentioning %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		password string
		wantErr  string
	}{
		{"12345678", ""},
		{"correct horse battery staple", ""},
		{strings.Repeat("p", 72), ""},
		{"", "at least 8"},
		{"1234567", "at least 8"},
		{"ééééééé", "at least 8"}, // 7 characters, 14 bytes
		{strings.Repeat("p", 73), "at most 72"},
		{"vgl_abcdefgh", "API tokens"},
	}
	for _, tt := range tests {
		err := ValidatePassword(tt.password)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("ValidatePassword(%q) = %v, want nil", tt.password, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ValidatePassword(%q) = %v, want ErrInvalidInput mentioning %q", tt.password, err, tt.wantErr)
		}
	}
}

func TestUsersLifecycle(t *testing.T) {
	env := newTestStore(t, Options{})
	s := env.store
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	env.mustAddUser(t, "bob", "bob-password", RoleViewer)

	if err := s.AddUser("bob", "other-password", RoleViewer); !errors.Is(err, ErrUserExists) {
		t.Errorf("AddUser(duplicate) = %v, want ErrUserExists", err)
	}
	if err := s.AddUser("carol", "carol-password", "root"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("AddUser(bad role) = %v, want ErrInvalidInput", err)
	}
	if err := s.AddUser("carol", "short", RoleViewer); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("AddUser(short password) = %v, want ErrInvalidInput", err)
	}

	if u, err := s.Authenticate("bob", "bob-password"); err != nil || u.Name != "bob" || u.Role != RoleViewer {
		t.Errorf("Authenticate(bob) = %+v, %v", u, err)
	}
	// Twice: the second comes from the verified cache.
	if _, err := s.Authenticate("bob", "bob-password"); err != nil {
		t.Errorf("Authenticate(bob) again = %v", err)
	}
	for _, tc := range [][2]string{{"bob", "wrong-password"}, {"nobody", "bob-password"}, {"", ""}} {
		if _, err := s.Authenticate(tc[0], tc[1]); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("Authenticate(%q, %q) = %v, want ErrInvalidCredentials", tc[0], tc[1], err)
		}
	}

	if err := s.SetPassword("bob", "new-bob-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("bob", "bob-password"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("old password after SetPassword: %v, want ErrInvalidCredentials (cache must miss)", err)
	}
	if _, err := s.Authenticate("bob", "new-bob-password"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := s.SetPassword("nobody", "whatever-password"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("SetPassword(nobody) = %v, want ErrUserNotFound", err)
	}

	if err := s.SetRole("bob", RoleWriter); err != nil {
		t.Fatal(err)
	}
	users, err := s.ListUsers()
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Name != "admin" || users[1].Name != "bob" || users[1].Role != RoleWriter {
		t.Errorf("ListUsers = %+v", users)
	}

	if err := s.DeleteUser("bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser("bob"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("DeleteUser(deleted) = %v, want ErrUserNotFound", err)
	}
}

func TestLastAdminIsKept(t *testing.T) {
	env := newTestStore(t, Options{})
	s := env.store
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	env.mustAddUser(t, "viewer", "viewer-password", RoleViewer)

	err := s.DeleteUser("admin")
	if !errors.Is(err, ErrLastAdmin) || !strings.Contains(err.Error(), "make another user admin") {
		t.Errorf("DeleteUser(last admin) = %v, want ErrLastAdmin with advice", err)
	}
	if err := s.SetRole("admin", RoleViewer); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("SetRole(last admin, viewer) = %v, want ErrLastAdmin", err)
	}
	if u, _ := s.GetUser("admin"); u == nil || u.Role != RoleAdmin {
		t.Fatalf("admin changed after refusals: %+v", u)
	}

	if err := s.SetRole("viewer", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser("admin"); err != nil {
		t.Errorf("DeleteUser(admin) with a second admin = %v", err)
	}
	if err := s.DeleteUser("viewer"); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("DeleteUser(new last admin) = %v, want ErrLastAdmin", err)
	}
}

func TestDeleteUserRemovesTokensAndSessions(t *testing.T) {
	env := newTestStore(t, Options{})
	s := env.store
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	env.mustAddUser(t, "bob", "bob-password", RoleViewer)
	secret, _ := env.mustToken(t, "bob", TokenOptions{})
	sid, _, err := s.Login("bob", "bob-password", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.authenticateToken(secret); err == nil {
		t.Error("token of deleted user still authenticates")
	}
	if _, _, err := s.session(sid); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("session of deleted user: %v, want ErrSessionNotFound", err)
	}
	if toks, _ := s.ListTokens(""); len(toks) != 0 {
		t.Errorf("tokens left: %+v", toks)
	}
	// A new bob does not inherit anything.
	env.mustAddUser(t, "bob", "bob-password2", RoleViewer)
	if _, err := s.authenticateToken(secret); err == nil {
		t.Error("old token authenticates a new user of the same name")
	}
}

func TestEnsureAdmin(t *testing.T) {
	t.Run("first start generates a password", func(t *testing.T) {
		env := newTestStore(t, Options{})
		gen, created, err := env.store.EnsureAdmin("")
		if err != nil || !created {
			t.Fatalf("EnsureAdmin = %q, %v, %v", gen, created, err)
		}
		if len(gen) != 20 || strings.Trim(gen, urlSafeAlphabet) != "" {
			t.Errorf("generated password %q: want 20 URL-safe characters", gen)
		}
		if u, err := env.store.Authenticate(AdminUser, gen); err != nil || u.Role != RoleAdmin {
			t.Errorf("log in with generated password: %+v, %v", u, err)
		}
		// Second start: nothing to do, nothing printed.
		gen2, created2, err := env.store.EnsureAdmin("")
		if err != nil || created2 || gen2 != "" {
			t.Errorf("second EnsureAdmin = %q, %v, %v; want nothing", gen2, created2, err)
		}
		if _, err := env.store.Authenticate(AdminUser, gen); err != nil {
			t.Errorf("password changed by second start: %v", err)
		}
	})
	t.Run("first start with password file", func(t *testing.T) {
		env := newTestStore(t, Options{})
		gen, created, err := env.store.EnsureAdmin("from-the-file")
		if err != nil || !created || gen != "" {
			t.Fatalf("EnsureAdmin(file) = %q, %v, %v; want created, nothing generated", gen, created, err)
		}
		if _, err := env.store.Authenticate(AdminUser, "from-the-file"); err != nil {
			t.Error(err)
		}
	})
	t.Run("password file resets the admin password", func(t *testing.T) {
		env := newTestStore(t, Options{})
		gen, _, err := env.store.EnsureAdmin("")
		if err != nil {
			t.Fatal(err)
		}
		sid, _, err := env.store.Login(AdminUser, gen, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if _, created, err := env.store.EnsureAdmin("automation-pw"); err != nil || created {
			t.Fatalf("EnsureAdmin(file) on existing users = %v, %v", created, err)
		}
		if _, err := env.store.Authenticate(AdminUser, "automation-pw"); err != nil {
			t.Errorf("password from file not set: %v", err)
		}
		if _, _, err := env.store.session(sid); !errors.Is(err, ErrSessionNotFound) {
			t.Errorf("session survived a password change: %v", err)
		}
		// Same file at the next start: sessions survive.
		sid, _, err = env.store.Login(AdminUser, "automation-pw", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := env.store.EnsureAdmin("automation-pw"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := env.store.session(sid); err != nil {
			t.Errorf("unchanged password file ended the session: %v", err)
		}
	})
	t.Run("password file recreates a missing admin user", func(t *testing.T) {
		env := newTestStore(t, Options{})
		env.mustAddUser(t, "root", "root-password", RoleAdmin)
		_, created, err := env.store.EnsureAdmin("automation-pw")
		if err != nil || !created {
			t.Fatalf("EnsureAdmin = %v, %v; want created", created, err)
		}
		if u, err := env.store.Authenticate(AdminUser, "automation-pw"); err != nil || u.Role != RoleAdmin {
			t.Errorf("admin: %+v, %v", u, err)
		}
	})
	t.Run("bad password file", func(t *testing.T) {
		env := newTestStore(t, Options{})
		_, _, err := env.store.EnsureAdmin("short")
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "admin password file") {
			t.Errorf("EnsureAdmin(short) = %v", err)
		}
		if users, _ := env.store.ListUsers(); len(users) != 0 {
			t.Errorf("users created despite error: %+v", users)
		}
	})
}

func TestReadPasswordFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content, want string
		wantErr       bool
	}{
		{"secret-pw\n", "secret-pw", false},
		{"secret-pw\r\n", "secret-pw", false},
		{"secret-pw", "secret-pw", false},
		{" spaced pw \n", " spaced pw ", false},
		{"\n", "", true},
		{"", "", true},
	}
	for i, tt := range tests {
		p := filepath.Join(dir, "pw"+string(rune('a'+i)))
		if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPasswordFile(p)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ReadPasswordFile(%q) = %q, %v; want %q, err=%v", tt.content, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := ReadPasswordFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}
