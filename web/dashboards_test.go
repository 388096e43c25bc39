package web

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/vigil-monitoring/vigil/dashboards"
)

// dashboardServer is a server over a real dashboard store in a fresh state
// file, whose clock stands at base.
func dashboardServer(t *testing.T, opts Options) (*Server, *dashboards.Store) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := dashboards.Open(dashboards.Options{DB: db, Now: func() time.Time { return base }})
	if err != nil {
		t.Fatal(err)
	}
	return newTestServer(t, openStorage(t), opts, Deps{Dashboards: store}), store
}

// doBody serves one request with a body of the given Content-Type.
func doBody(t *testing.T, s *Server, method, target, contentType string, body []byte) response {
	t.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

const smallDashboard = `{
  "uid": "ops",
  "title": "Ops",
  "tags": ["team-a"],
  "panels": [{"type": "stat", "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4}, "targets": [{"refId": "A", "expr": "sum(up)"}]}]
}`

// The list and a dashboard with its meta, as golden JSON: the contract the
// UI codes against.
func TestDashboardsListAndGet(t *testing.T) {
	s, _ := dashboardServer(t, Options{})
	if res := doBody(t, s, http.MethodPost, "/api/v1/dashboards", "application/json", []byte(smallDashboard)); res.code != 200 || string(res.body) != `{"status":"success","data":{"uid":"ops"}}` {
		t.Fatalf("import: %d %s", res.code, res.body)
	}
	res := get(t, s, "/api/v1/dashboards", nil)
	if res.code != 200 {
		t.Fatalf("list: %d %s", res.code, res.body)
	}
	checkGolden(t, "dashboards_list", res.body)
	res = get(t, s, "/api/v1/dashboards", vals("query", "metrics"))
	checkGolden(t, "dashboards_list_query", res.body)
	res = get(t, s, "/api/v1/dashboards", vals("tag", "team-a"))
	checkGolden(t, "dashboards_list_tag", res.body)
	res = get(t, s, "/api/v1/dashboards/ops", nil)
	if res.code != 200 {
		t.Fatalf("get: %d %s", res.code, res.body)
	}
	checkGolden(t, "dashboards_get", res.body)
	res = get(t, s, "/api/v1/dashboards/vigil-system-overview", nil)
	m := res.json(t)
	data, _ := m["data"].(map[string]any)
	meta, _ := data["meta"].(map[string]any)
	dash, _ := data["dashboard"].(map[string]any)
	if res.code != 200 || meta["source"] != "builtin" || meta["readOnly"] != true || dash["title"] != "System Overview" {
		t.Errorf("the built-in: %d meta %v title %v", res.code, meta, dash["title"])
	}
}

// Export gives back the bytes imported, as a file named after the uid;
// Grafana's import body ({"dashboard", "overwrite"}) and a browser's
// form upload import the same.
func TestDashboardsImportExport(t *testing.T) {
	s, _ := dashboardServer(t, Options{})
	export, err := os.ReadFile("../dashboards/testdata/grafana11-export.json")
	if err != nil {
		t.Fatal(err)
	}
	// As curl -d sends it: a form Content-Type over a JSON body.
	if res := doBody(t, s, http.MethodPost, "/api/v1/dashboards", "application/x-www-form-urlencoded", export); res.code != 200 || !strings.Contains(string(res.body), `"uid":"panic-ops"`) {
		t.Fatalf("import: %d %s", res.code, res.body)
	}
	res := get(t, s, "/api/v1/dashboards/panic-ops/export", nil)
	if res.code != 200 || !bytes.Equal(res.body, export) {
		t.Errorf("export: %d, equal to the import: %v", res.code, bytes.Equal(res.body, export))
	}
	if cd := res.header.Get("Content-Disposition"); cd != `attachment; filename="panic-ops.json"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}

	wrapped := append(append([]byte(`{"dashboard": `), export...), `, "overwrite": true, "folderUid": ""}`...)
	if res := doBody(t, s, http.MethodPost, "/api/v1/dashboards", "application/json", wrapped); res.code != 200 {
		t.Errorf("Grafana's import body with overwrite: %d %s", res.code, res.body)
	}

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "ops.json")
	fw.Write([]byte(strings.Replace(smallDashboard, `"uid": "ops",`, "", 1)))
	mw.Close()
	res = doBody(t, s, http.MethodPost, "/api/v1/dashboards", mw.FormDataContentType(), form.Bytes())
	m := res.json(t)
	uid, _ := m["data"].(map[string]any)["uid"].(string)
	if res.code != 200 || len(uid) != 14 {
		t.Fatalf("form upload without a uid: %d %s", res.code, res.body)
	}
	if res := get(t, s, "/api/v1/dashboards/"+uid+"/export", nil); !bytes.HasPrefix(res.body, []byte(`{"uid":"`+uid+`",`)) {
		t.Errorf("the generated uid is not in the export: %s", res.body)
	}
}

// Every refusal answers Prometheus' envelope with the right status, and
// nothing stored changes.
func TestDashboardsErrors(t *testing.T) {
	s, store := dashboardServer(t, Options{MaxRequestBodyBytes: 4096})
	if _, err := store.Import([]byte(smallDashboard), false); err != nil {
		t.Fatal(err)
	}
	var emptyForm bytes.Buffer
	mw := multipart.NewWriter(&emptyForm)
	mw.WriteField("other", "x")
	mw.Close()
	big := `{"title": "` + strings.Repeat("x", 5000) + `"}`
	tests := []struct {
		name, method, path, contentType, body string
		code                                  int
		errorType, error                      string
	}{
		{"unknown uid", "GET", "/api/v1/dashboards/nope", "", "", 404, "not_found", `no dashboard with uid "nope"`},
		{"export of an unknown uid", "GET", "/api/v1/dashboards/nope/export", "", "", 404, "not_found", `no dashboard with uid "nope"`},
		{"bad panel", "POST", "/api/v1/dashboards", "application/json",
			`{"title": "T", "panels": [{"type": "stat", "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4}}, {"type": "stat", "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4}}, {"type": "stat", "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4}}, {"type": "stat", "gridPos": {"x": 0, "y": 4, "w": 26, "h": 4}}]}`,
			400, "bad_data", "invalid dashboard: panels[3].gridPos.w: must be 1..24 (the grid has 24 columns), not 26"},
		{"bad PromQL", "POST", "/api/v1/dashboards", "application/json",
			`{"title": "T", "panels": [{"type": "stat", "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4}, "targets": [{"expr": "sum(up"}]}]}`,
			400, "bad_data", "panels[0].targets[0].expr: parse error at char 7: unclosed left parenthesis"},
		{"malformed JSON", "POST", "/api/v1/dashboards", "application/json", "{\n  \"title\": \"T\",\n}", 400, "bad_data",
			"invalid dashboard: malformed JSON at line 3, column 1: invalid character '}' looking for beginning of object key string"},
		{"existing uid", "POST", "/api/v1/dashboards", "application/json", smallDashboard, 409, "conflict",
			`a dashboard with this uid exists: ops; send overwrite: true to replace it, or give the dashboard another uid`},
		{"a built-in's uid", "POST", "/api/v1/dashboards", "application/json", `{"dashboard": {"uid": "vigil-business-metrics", "title": "Mine"}, "overwrite": true}`, 403, "forbidden",
			"the dashboard is read-only: vigil-business-metrics is a built-in dashboard; import it under another uid"},
		{"replace with another uid", "PUT", "/api/v1/dashboards/ops", "application/json", `{"uid": "other", "title": "T"}`, 400, "bad_data",
			`invalid dashboard: uid: "other" differs from the uid in the path, "ops"`},
		{"replace an unknown uid", "PUT", "/api/v1/dashboards/nope", "application/json", `{"title": "T"}`, 404, "not_found",
			`no dashboard with uid "nope"; import it with POST /api/v1/dashboards`},
		{"replace a built-in", "PUT", "/api/v1/dashboards/vigil-system-overview", "application/json", `{"title": "T"}`, 403, "forbidden", "read-only"},
		{"delete a built-in", "DELETE", "/api/v1/dashboards/vigil-system-overview", "", "", 403, "forbidden",
			"the dashboard is read-only: vigil-system-overview is a built-in dashboard and cannot be deleted"},
		{"delete an unknown uid", "DELETE", "/api/v1/dashboards/nope", "", "", 404, "not_found", `no dashboard with uid "nope"`},
		{"form without the file", "POST", "/api/v1/dashboards", mw.FormDataContentType(), emptyForm.String(), 400, "bad_data",
			`the form has no file field "file"; upload the dashboard's JSON file in it`},
		{"empty body", "POST", "/api/v1/dashboards", "application/json", "", 400, "bad_data", "the body is empty; send the dashboard's JSON"},
		{"body over the limit", "POST", "/api/v1/dashboards", "application/json", big, 413, "bad_data", "request body too large: the limit is 4096 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := doBody(t, s, tc.method, tc.path, tc.contentType, []byte(tc.body))
			if res.code != tc.code {
				t.Errorf("status %d, want %d: %s", res.code, tc.code, res.body)
			}
			m := res.json(t)
			if m["status"] != "error" || m["errorType"] != tc.errorType {
				t.Errorf("envelope %s, want errorType %s", res.body, tc.errorType)
			}
			if msg, _ := m["error"].(string); !strings.Contains(msg, tc.error) {
				t.Errorf("error %q does not contain %q", msg, tc.error)
			}
		})
	}
	e, err := store.Get("ops")
	if err != nil || string(e.Dashboard.JSON()) != smallDashboard {
		t.Errorf("the stored dashboard changed: %v", err)
	}
}

// Replace and delete a user dashboard.
func TestDashboardsReplaceDelete(t *testing.T) {
	s, _ := dashboardServer(t, Options{})
	doBody(t, s, http.MethodPost, "/api/v1/dashboards", "application/json", []byte(smallDashboard))
	renamed := strings.Replace(strings.Replace(smallDashboard, `"Ops"`, `"Operations"`, 1), `"uid": "ops",`, "", 1)
	if res := doBody(t, s, http.MethodPut, "/api/v1/dashboards/ops", "application/json", []byte(renamed)); res.code != 200 || string(res.body) != `{"status":"success","data":{"uid":"ops"}}` {
		t.Fatalf("PUT: %d %s", res.code, res.body)
	}
	if res := get(t, s, "/api/v1/dashboards/ops", nil); !strings.Contains(string(res.body), `"title":"Operations"`) || !strings.Contains(string(res.body), `"uid":"ops"`) {
		t.Errorf("after PUT: %s", res.body)
	}
	if res := doBody(t, s, http.MethodDelete, "/api/v1/dashboards/ops", "", nil); res.code != 200 {
		t.Errorf("DELETE: %d %s", res.code, res.body)
	}
	if res := get(t, s, "/api/v1/dashboards/ops", nil); res.code != 404 {
		t.Errorf("GET after DELETE: %d", res.code)
	}
}

// Without a store the routes exist and say so.
func TestDashboardsWithoutStore(t *testing.T) {
	s := newTestServer(t, openStorage(t), Options{}, Deps{})
	for _, r := range []struct{ method, path string }{{"GET", "/api/v1/dashboards"}, {"GET", "/api/v1/dashboards/x/export"}, {"POST", "/api/v1/dashboards"}} {
		res := doBody(t, s, r.method, r.path, "application/json", []byte(`{"title": "T"}`))
		if res.code != 503 || !strings.Contains(string(res.body), "no dashboard store") {
			t.Errorf("%s %s: %d %s", r.method, r.path, res.code, res.body)
		}
	}
}
