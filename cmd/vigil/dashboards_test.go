//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDashboardsEndToEnd: a dashboard exported from Grafana 11 (with
// __inputs, __requires and ${DS_PROMETHEUS} placeholders) is imported into
// the real binary over HTTP, listed, read, exported byte for byte, still
// there after a restart, and deleted; a viewer reads but cannot write; a
// file of --dashboards.dir is served read-only and one added later comes
// with SIGHUP.
func TestDashboardsEndToEnd(t *testing.T) {
	export, err := os.ReadFile("../../dashboards/testdata/grafana11-export.json")
	if err != nil {
		t.Fatal(err)
	}
	provDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(provDir, "team.json"), []byte(`{"uid": "team", "title": "Team board", "tags": ["team"], "panels": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startVigilProcess(t, "--dashboards.dir="+provDir)
	base := p.BaseURL
	admin := adminClient()

	code, body := statusOf(t, admin, http.MethodPost, base+"/api/v1/dashboards", "application/json", export)
	if code != http.StatusOK || body != `{"status":"success","data":{"uid":"panic-ops"}}` {
		t.Fatalf("import: %d %s", code, body)
	}
	wantList := "Business Metrics:builtin:true Panic operations:user:false System Overview:builtin:true Team board:provisioned:true"
	if got := dashboardList(t, admin, base); got != wantList {
		t.Errorf("list:\n got %s\nwant %s", got, wantList)
	}
	var got struct {
		Data struct {
			Dashboard struct {
				Title  string `json:"title"`
				Inputs []any  `json:"__inputs"`
			} `json:"dashboard"`
			Meta struct {
				Source   string    `json:"source"`
				ReadOnly bool      `json:"readOnly"`
				Created  time.Time `json:"created"`
			} `json:"meta"`
		} `json:"data"`
	}
	code, body = statusOf(t, admin, http.MethodGet, base+"/api/v1/dashboards/panic-ops", "", nil)
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 || got.Data.Dashboard.Title != "Panic operations" ||
		len(got.Data.Dashboard.Inputs) != 1 || got.Data.Meta.Source != "user" || got.Data.Meta.ReadOnly || time.Since(got.Data.Meta.Created) > time.Minute {
		t.Errorf("get: %d %s", code, body)
	}
	checkExport(t, admin, base, "panic-ops", export)

	viewer := clientAs("reader", createUserViaAPI(t, base, "reader", "viewer"))
	if code, _ := statusOf(t, viewer, http.MethodGet, base+"/api/v1/dashboards/panic-ops/export", "", nil); code != http.StatusOK {
		t.Errorf("a viewer's export: %d", code)
	}
	if code, body := statusOf(t, viewer, http.MethodDelete, base+"/api/v1/dashboards/panic-ops", "", nil); code != http.StatusForbidden {
		t.Errorf("a viewer's delete: %d %s", code, body)
	}
	if code, body := statusOf(t, admin, http.MethodDelete, base+"/api/v1/dashboards/team", "", nil); code != http.StatusForbidden || !strings.Contains(body, "provisioned") {
		t.Errorf("deleting a provisioned dashboard: %d %s", code, body)
	}

	// A restart keeps the imported dashboard, byte for byte.
	p.Stop()
	p = startVigilProcess(t, "--data-dir="+p.DataDir, "--dashboards.dir="+provDir)
	base = p.BaseURL
	if got := dashboardList(t, admin, base); got != wantList {
		t.Errorf("list after the restart:\n got %s\nwant %s", got, wantList)
	}
	checkExport(t, admin, base, "panic-ops", export)

	// A file added to the directory comes with SIGHUP.
	if err := os.WriteFile(filepath.Join(provDir, "more.json"), []byte(`{"uid": "more", "title": "More", "panels": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGHUP)
	waitFor(t, 30*time.Second, "the dashboard added before SIGHUP", func() bool {
		return strings.Contains(dashboardList(t, admin, base), "More:provisioned:true")
	})

	if code, body := statusOf(t, admin, http.MethodDelete, base+"/api/v1/dashboards/panic-ops", "", nil); code != http.StatusOK {
		t.Errorf("delete: %d %s", code, body)
	}
	if code, body := statusOf(t, admin, http.MethodGet, base+"/api/v1/dashboards/panic-ops", "", nil); code != http.StatusNotFound ||
		body != `{"status":"error","errorType":"not_found","error":"no dashboard with uid \"panic-ops\""}` {
		t.Errorf("get after delete: %d %s", code, body)
	}
	p.Stop()
}

// dashboardList is the list as "title:source:readOnly" items.
func dashboardList(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	code, body := statusOf(t, c, http.MethodGet, base+"/api/v1/dashboards", "", nil)
	var list struct {
		Data []struct {
			Title    string `json:"title"`
			Source   string `json:"source"`
			ReadOnly bool   `json:"readOnly"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	var out []string
	for _, d := range list.Data {
		out = append(out, d.Title+":"+d.Source+":"+map[bool]string{true: "true", false: "false"}[d.ReadOnly])
	}
	return strings.Join(out, " ")
}

// checkExport requires the export of uid to be want, byte for byte, as a
// file download.
func checkExport(t *testing.T, c *http.Client, base, uid string, want []byte) {
	t.Helper()
	resp, err := c.Get(base + "/api/v1/dashboards/" + uid + "/export")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want) {
		t.Errorf("export of %s: %s, equal to the import: %v", uid, resp.Status, bytes.Equal(b, want))
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+uid+`.json"` {
		t.Errorf("export of %s: Content-Disposition %q", uid, cd)
	}
}
