package dashboards

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func openTestDB(t *testing.T, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// openTestStore opens a store over a fresh state file.
func openTestStore(t *testing.T, now func() time.Time) *Store {
	t.Helper()
	db := openTestDB(t, filepath.Join(t.TempDir(), "state.db"))
	t.Cleanup(func() { db.Close() })
	s, err := Open(Options{DB: db, Now: now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func userDashboard(uid, title string, tags ...string) []byte {
	tagJSON := `[]`
	if len(tags) > 0 {
		tagJSON = `["` + strings.Join(tags, `", "`) + `"]`
	}
	u := ""
	if uid != "" {
		u = fmt.Sprintf(`"uid": %q, `, uid)
	}
	return fmt.Appendf(nil, `{%s"title": %q, "tags": %s, "panels": [{"type": "stat", "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4}, "targets": [{"refId": "A", "expr": "sum(up)"}]}]}`, u, title, tagJSON)
}

func listUIDs(t *testing.T, s *Store, f ListFilter) string {
	t.Helper()
	list, err := s.List(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range list {
		ro := ""
		if d.ReadOnly {
			ro = "!"
		}
		out = append(out, d.UID+ro)
	}
	return strings.Join(out, " ")
}

func TestUserDashboards(t *testing.T) {
	clock := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	path := filepath.Join(t.TempDir(), "state.db")
	db := openTestDB(t, path)
	s, err := Open(Options{DB: db, Now: now})
	if err != nil {
		t.Fatal(err)
	}

	raw, _ := os.ReadFile("testdata/grafana11-export.json")
	uid, err := s.Import(raw, false)
	if err != nil || uid != "panic-ops" {
		t.Fatalf("Import = %q, %v", uid, err)
	}
	if _, err := s.Import(raw, false); !errors.Is(err, ErrExists) {
		t.Errorf("a second import without overwrite = %v, want ErrExists", err)
	}
	clock = clock.Add(time.Hour)
	if _, err := s.Import(raw, true); err != nil {
		t.Errorf("import with overwrite = %v", err)
	}
	generated, err := s.Import(userDashboard("", "Alpha", "team-a"), false)
	if err != nil || !regexp.MustCompile(`^[a-z][a-z0-9]{13}$`).MatchString(generated) {
		t.Fatalf("import without uid = %q, %v", generated, err)
	}
	if _, err := s.Import(userDashboard(SystemOverviewUID, "Mine"), true); !errors.Is(err, ErrReadOnly) {
		t.Errorf("import over a built-in = %v, want ErrReadOnly", err)
	}
	if _, err := s.Import([]byte(`{"title": "x", "panels": [{"type": "stat"}]}`), false); !IsInvalid(err) || !strings.Contains(err.Error(), "panels[0].gridPos: required") {
		t.Errorf("import of an invalid dashboard = %v", err)
	}

	e, err := s.Get("panic-ops")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Dashboard.JSON(), raw) {
		t.Error("the stored dashboard is not the imported bytes")
	}
	created := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if e.Meta != (Meta{UID: "panic-ops", Source: SourceUser, Created: created, Updated: created.Add(time.Hour)}) {
		t.Errorf("meta %+v", e.Meta)
	}
	g, _ := s.Get(generated)
	if !bytes.HasPrefix(g.Dashboard.JSON(), []byte(`{"uid":"`+generated+`",`)) || g.Dashboard.UID != generated {
		t.Errorf("the generated uid is not in the JSON: %s", g.Dashboard.JSON())
	}

	if got := listUIDs(t, s, ListFilter{}); got != generated+" vigil-business-metrics! panic-ops vigil-system-overview!" {
		t.Errorf("list (by title) = %s", got)
	}
	if got := listUIDs(t, s, ListFilter{Query: "METRICS"}); got != "vigil-business-metrics!" {
		t.Errorf("list ?query=METRICS = %s", got)
	}
	if got := listUIDs(t, s, ListFilter{Tags: []string{"panic", "ops"}}); got != "panic-ops" {
		t.Errorf("list ?tag=panic&tag=ops = %s", got)
	}

	// Replace: the uid of the body must be the path's or none.
	if err := s.Replace("panic-ops", userDashboard("", "Renamed")); err != nil {
		t.Errorf("Replace = %v", err)
	}
	if e, _ := s.Get("panic-ops"); e.Dashboard.Title != "Renamed" || e.Dashboard.UID != "panic-ops" || !e.Meta.Created.Equal(created) {
		t.Errorf("after Replace: %+v %+v", e.Dashboard, e.Meta)
	}
	if err := s.Replace("panic-ops", userDashboard("other", "X")); !IsInvalid(err) || !strings.Contains(err.Error(), `uid: "other" differs from the uid in the path, "panic-ops"`) {
		t.Errorf("Replace with another uid = %v", err)
	}
	if err := s.Replace("nope", userDashboard("", "X")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Replace of an unknown uid = %v", err)
	}
	if err := s.Replace(BusinessMetricsUID, userDashboard("", "X")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Replace of a built-in = %v", err)
	}
	if err := s.Delete(SystemOverviewUID); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Delete of a built-in = %v", err)
	}
	if err := s.Delete(generated); err != nil {
		t.Errorf("Delete = %v", err)
	}
	if _, err := s.Get(generated); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete = %v", err)
	}
	if err := s.Delete(generated); !errors.Is(err, ErrNotFound) {
		t.Errorf("a second Delete = %v", err)
	}

	// Everything is in the state file: a new store over it sees the same.
	db.Close()
	db = openTestDB(t, path)
	defer db.Close()
	s, err = Open(Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	if got := listUIDs(t, s, ListFilter{}); got != "vigil-business-metrics! panic-ops vigil-system-overview!" {
		t.Errorf("list after reopening = %s", got)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Provisioning: good files load even when others do not, each bad file is
// named with its reason, provisioned dashboards are read-only and hide
// (but keep) user dashboards of the same uid.
func TestProvision(t *testing.T) {
	s := openTestStore(t, nil)
	dir := t.TempDir()
	export, _ := os.ReadFile("testdata/grafana11-export.json")
	writeFile(t, filepath.Join(dir, "ops.json"), export)
	writeFile(t, filepath.Join(dir, "team", "No uid here.json"), userDashboard("", "From the file name"))
	writeFile(t, filepath.Join(dir, "team", "api-shape.json"), []byte(`{"dashboard": `+string(userDashboard("wrapped", "Wrapped"))+`, "overwrite": true}`))
	writeFile(t, filepath.Join(dir, "broken.json"), []byte(`{"title": "B", "panels": [{"type": "stat", "gridPos": {"x": 0, "y": 0, "w": 30, "h": 4}}]}`))
	writeFile(t, filepath.Join(dir, "clash.json"), userDashboard(SystemOverviewUID, "Not the built-in"))
	writeFile(t, filepath.Join(dir, "twin.json"), userDashboard("panic-ops", "Twin"))
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not a dashboard"))

	if _, err := s.Import(userDashboard("panic-ops", "The user's own"), false); err != nil {
		t.Fatal(err)
	}
	err := s.Provision(dir)
	if err == nil {
		t.Fatal("Provision reported no error for the bad files")
	}
	for _, want := range []string{
		"3 of 6 files not loaded",
		filepath.Join(dir, "broken.json") + ": panels[0].gridPos.w: must be 1..24 (the grid has 24 columns), not 30",
		filepath.Join(dir, "clash.json") + `: uid "vigil-system-overview" is the built-in dashboard's; give the file another uid`,
		filepath.Join(dir, "twin.json") + `: uid "panic-ops" is already the uid of ` + filepath.Join(dir, "ops.json"),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
	if got := listUIDs(t, s, ListFilter{}); got != "vigil-business-metrics! No-uid-here! panic-ops! vigil-system-overview! wrapped!" {
		t.Errorf("list = %s", got)
	}
	e, err := s.Get("panic-ops")
	if err != nil || e.Meta.Source != SourceProvisioned || !e.Meta.ReadOnly || e.Meta.File != filepath.Join(dir, "ops.json") || !bytes.Equal(e.Dashboard.JSON(), export) {
		t.Errorf("provisioned dashboard: %+v %v", e.Meta, err)
	}
	if e, _ := s.Get("No-uid-here"); e.Dashboard == nil || e.Dashboard.Title != "From the file name" {
		t.Errorf("the uid from the file name: %+v", e)
	}
	if err := s.Delete("panic-ops"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Delete of a provisioned dashboard = %v", err)
	}
	if _, err := s.Import(userDashboard("wrapped", "Mine"), true); !errors.Is(err, ErrReadOnly) {
		t.Errorf("import over a provisioned dashboard = %v", err)
	}

	// The files go: the user's dashboard shows again.
	if err := s.Provision(""); err != nil {
		t.Fatal(err)
	}
	if got := listUIDs(t, s, ListFilter{}); got != "vigil-business-metrics! vigil-system-overview! panic-ops" {
		t.Errorf("list without provisioning = %s", got)
	}
	if e, _ := s.Get("panic-ops"); e.Meta.Source != SourceUser || e.Dashboard.Title != "The user's own" {
		t.Errorf("the user dashboard after the file went: %+v", e.Meta)
	}
	if err := s.Provision(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("Provision of a missing directory = %v", err)
	}
}
