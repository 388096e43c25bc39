package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLimiterSchedule(t *testing.T) {
	clock := newTestClock()
	o := Options{LockoutBase: time.Second, LockoutMax: 5 * time.Minute, FailureMemory: 15 * time.Minute, Now: clock.Now}
	l := newLimiter(5, o)
	// failure number → lockout after it
	want := []time.Duration{0, 0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		l.fail("k")
		if got := l.locked("k"); got != w {
			t.Errorf("after failure %d: locked %v, want %v", i+1, got, w)
		}
	}
	for range 20 {
		l.fail("k")
	}
	if got := l.locked("k"); got != 5*time.Minute {
		t.Errorf("after many failures: locked %v, want the 5m cap", got)
	}
	clock.Advance(5 * time.Minute)
	if got := l.locked("k"); got != 0 {
		t.Errorf("after the lockout: locked %v", got)
	}
	// Failures are forgotten after FailureMemory.
	clock.Advance(16 * time.Minute)
	for range 4 {
		l.fail("k")
	}
	if got := l.locked("k"); got != 0 {
		t.Errorf("old failures still counted: locked %v", got)
	}
	l.reset("k")
	if len(l.entries) != 0 {
		t.Errorf("reset left %d entries", len(l.entries))
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	clock := newTestClock()
	l := newLimiter(5, Options{LockoutBase: time.Second, LockoutMax: time.Minute, FailureMemory: time.Minute, Now: clock.Now})
	for i := range maxLimiterEntries + 10 {
		l.fail(fmt.Sprint(i))
	}
	if len(l.entries) > maxLimiterEntries {
		t.Errorf("%d entries, want at most %d", len(l.entries), maxLimiterEntries)
	}
}

func TestBasicAuthLockout(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	srv := newTestServer(t, env, false)
	secret, _ := env.mustToken(t, "admin", TokenOptions{})
	query := func(password string) response {
		return do(t, srv, request{method: http.MethodGet, path: "/api/v1/query", basic: &[2]string{"admin", password}})
	}

	for i := range 5 {
		if got := query("wrong-password"); got.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, got.status)
		}
	}
	got := query("admin-password")
	if got.status != http.StatusTooManyRequests || got.header.Get("Retry-After") != "1" || !strings.Contains(got.body, "too_many_requests") {
		t.Fatalf("locked: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
	}
	// Tokens are not locked out with the name.
	if got := do(t, srv, request{method: http.MethodGet, path: "/api/v1/query", header: bearer(secret)}); got.status != 200 {
		t.Errorf("token while the name is locked: %d", got.status)
	}

	env.clock.Advance(time.Second)
	if got := query("admin-password"); got.status != 200 {
		t.Fatalf("after the lockout: %d %s", got.status, got.body)
	}

	// The success reset the name: five more failures for a lock, and the
	// lockout doubles with each further failure.
	for range 5 {
		query("wrong-password")
	}
	env.clock.Advance(time.Second)
	query("wrong-password")
	if got := query("admin-password"); got.status != 429 || got.header.Get("Retry-After") != "2" {
		t.Errorf("second lock: %d Retry-After %q, want 429 and 2", got.status, got.header.Get("Retry-After"))
	}
	env.clock.Advance(2 * time.Second)
	if got := query("admin-password"); got.status != 200 {
		t.Errorf("after the second lockout: %d", got.status)
	}

	if v := env.metricValue(t, `vigil_auth_attempts_total{method="basic",result="locked"}`); v != 2 {
		t.Errorf("locked attempts = %v, want 2", v)
	}
	// Locks: after failures 5, 10 and 11 (the one after the 1s lock ended).
	if v := env.metricValue(t, `vigil_auth_lockouts_total{scope="name"}`); v != 3 {
		t.Errorf("name lockouts = %v, want 3", v)
	}
}

func TestFormLoginLockout(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "alice", "alice-password", RoleViewer)
	srv := newTestServer(t, env, false)
	for range 5 {
		if got := loginForm(t, srv, "alice", "wrong-password", "/"); got.status != http.StatusUnauthorized {
			t.Fatalf("failed login: %d", got.status)
		}
	}
	got := loginForm(t, srv, "alice", "alice-password", "/")
	if got.status != http.StatusTooManyRequests || got.header.Get("Retry-After") != "1" ||
		!strings.Contains(got.body, "Too many failed logins. Try again in 1s.") || got.cookie(SessionCookie) != nil {
		t.Fatalf("locked login: %d Retry-After %q", got.status, got.header.Get("Retry-After"))
	}
	env.clock.Advance(time.Second)
	if got := loginForm(t, srv, "alice", "alice-password", "/"); got.status != http.StatusSeeOther || got.cookie(SessionCookie) == nil {
		t.Errorf("login after the lockout: %d", got.status)
	}
	if v := env.metricValue(t, `vigil_auth_attempts_total{method="form",result="locked"}`); v != 1 {
		t.Errorf("form locked = %v, want 1", v)
	}
}

// One address guessing many names is locked out even for names it has not
// tried, and basic auth and the form share the count.
func TestPerAddressLockout(t *testing.T) {
	env := newTestStore(t, Options{MaxFailuresPerIP: 8})
	env.mustAddUser(t, "alice", "alice-password", RoleViewer)
	srv := newTestServer(t, env, false)
	for i := range 4 {
		do(t, srv, request{method: http.MethodGet, path: "/api/v1/query", basic: &[2]string{fmt.Sprint("user", i), "guess-password"}})
		loginForm(t, srv, fmt.Sprint("other", i), "guess-password", "/")
	}
	got := do(t, srv, request{method: http.MethodGet, path: "/api/v1/query", basic: &[2]string{"alice", "alice-password"}})
	if got.status != http.StatusTooManyRequests || got.header.Get("Retry-After") == "" {
		t.Fatalf("address lock: %d %q", got.status, got.header.Get("Retry-After"))
	}
	// Another address is not affected.
	if _, _, err := env.store.Login("alice", "alice-password", "192.0.2.1"); err != nil {
		t.Errorf("login from another address: %v", err)
	}
	var le *LockedError
	if _, _, err := env.store.Login("alice", "alice-password", "127.0.0.1"); !errors.As(err, &le) {
		t.Errorf("Login from the locked address: %v, want *LockedError", err)
	}
	if v := env.metricValue(t, `vigil_auth_lockouts_total{scope="ip"}`); v != 1 {
		t.Errorf("ip lockouts = %v, want 1", v)
	}
	env.clock.Advance(time.Second)
	if got := do(t, srv, request{method: http.MethodGet, path: "/api/v1/query", basic: &[2]string{"alice", "alice-password"}}); got.status != 200 {
		t.Errorf("after the address lockout: %d", got.status)
	}
}
