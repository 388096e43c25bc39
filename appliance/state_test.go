package appliance

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-monitoring/vigil/web/auth"
)

func getAs(t *testing.T, url, user, password string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The first start with authentication on creates admin with a generated
// password and says so once; later starts keep it and say nothing.
func TestFirstStartCreatesAdmin(t *testing.T) {
	cfg := testConfig(t)
	cfg.Auth = AuthOn
	a := startAppliance(t, cfg)

	m := regexp.MustCompile(`^First start: log in as admin with password (\S+) \(shown once; change it with "vigil user passwd admin"\)$`).
		FindStringSubmatch(a.AuthNotice())
	if m == nil {
		t.Fatalf("AuthNotice() = %q, want the generated credentials", a.AuthNotice())
	}
	password := m[1]
	query := a.URL() + "/api/v1/query?query=1"
	if code := getAs(t, query, "", ""); code != http.StatusUnauthorized {
		t.Errorf("anonymous query = %d, want 401", code)
	}
	if code := getAs(t, query, "admin", password); code != http.StatusOK {
		t.Errorf("query as admin with the generated password = %d, want 200", code)
	}
	if code := getAs(t, a.URL()+"/-/ready", "", ""); code != http.StatusOK {
		t.Errorf("anonymous /-/ready = %d, want 200", code)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, StateFileName)); err != nil {
		t.Errorf("no state file: %v", err)
	}

	// While it runs, maintenance commands cannot open the state.
	if _, err := OpenOfflineState(cfg.DataDir); !errors.Is(err, ErrDataDirInUse) ||
		!strings.Contains(err.Error(), "Vigil is running with this data dir") {
		t.Errorf("OpenOfflineState on a running data dir = %v, want ErrDataDirInUse", err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Stopped: they can, and see the admin.
	st, err := OpenOfflineState(cfg.DataDir)
	if err != nil {
		t.Fatalf("OpenOfflineState on a stopped data dir: %v", err)
	}
	users, err := auth.Open(st.DB, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := users.GetUser("admin"); err != nil || u.Role != auth.RoleAdmin {
		t.Errorf("admin user = %+v, %v", u, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	b := startAppliance(t, cfg)
	if b.AuthNotice() != "" {
		t.Errorf("AuthNotice() on the second start = %q, want nothing", b.AuthNotice())
	}
	if code := getAs(t, b.URL()+"/api/v1/query?query=1", "admin", password); code != http.StatusOK {
		t.Errorf("query as admin after a restart = %d, want 200", code)
	}
}

func TestAdminPasswordFile(t *testing.T) {
	cfg := testConfig(t)
	cfg.Auth = AuthOn
	cfg.AdminPasswordFile = filepath.Join(t.TempDir(), "admin-password")
	if err := os.WriteFile(cfg.AdminPasswordFile, []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAppliance(t, cfg)
	if want := "First start: created user admin with the password from --admin-password-file"; a.AuthNotice() != want {
		t.Errorf("AuthNotice() = %q, want %q", a.AuthNotice(), want)
	}
	if code := getAs(t, a.URL()+"/api/v1/query?query=1", "admin", "from-the-file"); code != http.StatusOK {
		t.Errorf("query as admin with the file's password = %d, want 200", code)
	}
	a.Stop(context.Background())

	// A password too short is refused at start, naming the flag.
	if err := os.WriteFile(cfg.AdminPasswordFile, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--admin-password-file="+cfg.AdminPasswordFile+": invalid input: password has 5 characters") {
		t.Errorf("Start with a short admin password = %v", err)
	}
}

func TestAuthNone(t *testing.T) {
	a := startAppliance(t, testConfig(t))
	if !strings.Contains(a.AuthNotice(), "Authentication is OFF (--auth=none): every endpoint is open") {
		t.Errorf("AuthNotice() with --auth=none = %q", a.AuthNotice())
	}
	if code := getAs(t, a.URL()+"/api/v1/query?query=1", "", ""); code != http.StatusOK {
		t.Errorf("anonymous query with --auth=none = %d, want 200", code)
	}
}

func TestOpenOfflineStateWithoutState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	_, err := OpenOfflineState(dir)
	if !errors.Is(err, ErrNoState) {
		t.Fatalf("OpenOfflineState(%s) = %v, want ErrNoState", dir, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenOfflineState created %s", dir)
	}
}
