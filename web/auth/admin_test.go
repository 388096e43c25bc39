package auth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type envelope struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

func decodeEnvelope(t *testing.T, r response) envelope {
	t.Helper()
	var e envelope
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return e
}

func TestAdminUserAPI(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	srv := newTestServer(t, env, false)
	adminSecret, _ := env.mustToken(t, "admin", TokenOptions{})
	call := func(method, path, body string) response {
		h := bearer(adminSecret)
		h["Content-Type"] = "application/json"
		return do(t, srv, request{method: method, path: "/api/v1/admin" + path, body: body, header: h})
	}

	tests := []struct {
		name          string
		method, path  string
		body          string
		status        int
		errorType     string
		errorContains string
		dataContains  string
	}{
		{"create viewer", "POST", "/users", `{"name":"bob","password":"bob-password","role":"viewer"}`, 201, "", "", `"name":"bob","role":"viewer"`},
		{"create writer", "POST", "/users", `{"name":"ingest","password":"ingest-password","role":"writer"}`, 201, "", "", `"role":"writer"`},
		{"duplicate", "POST", "/users", `{"name":"bob","password":"bob-password","role":"viewer"}`, 409, "conflict", "already exists", ""},
		{"bad role", "POST", "/users", `{"name":"eve","password":"eve-password","role":"root"}`, 400, "bad_data", `unknown role \"root\"`, ""},
		{"missing role", "POST", "/users", `{"name":"eve","password":"eve-password"}`, 400, "bad_data", "role is missing", ""},
		{"short password", "POST", "/users", `{"name":"eve","password":"short","role":"viewer"}`, 400, "bad_data", "at least 8", ""},
		{"bad name", "POST", "/users", `{"name":"e:ve","password":"eve-password","role":"viewer"}`, 400, "bad_data", "contains ':'", ""},
		{"unknown field", "POST", "/users", `{"name":"eve","passwd":"eve-password","role":"viewer"}`, 400, "bad_data", `unknown field \"passwd\"`, ""},
		{"not JSON", "POST", "/users", `name=eve`, 400, "bad_data", "not the expected JSON", ""},
		{"list", "GET", "/users", "", 200, "", "", `"name":"admin"`},
		{"get", "GET", "/users/bob", "", 200, "", "", `"name":"bob"`},
		{"get unknown", "GET", "/users/nobody", "", 404, "not_found", "nobody", ""},
		{"promote", "PATCH", "/users/bob", `{"role":"admin"}`, 200, "", "", `"role":"admin"`},
		{"change password", "PUT", "/users/bob", `{"password":"bob-password-2"}`, 200, "", "", `"name":"bob"`},
		{"nothing to change", "PATCH", "/users/bob", `{}`, 400, "bad_data", "nothing to change", ""},
		{"bad new password", "PATCH", "/users/bob", `{"password":"x","role":"viewer"}`, 400, "bad_data", "at least 8", ""},
		{"demote", "PATCH", "/users/bob", `{"role":"viewer"}`, 200, "", "", `"role":"viewer"`},
		{"demote last admin", "PATCH", "/users/admin", `{"role":"viewer"}`, 409, "conflict", "only admin", ""},
		{"delete last admin", "DELETE", "/users/admin", "", 409, "conflict", "only admin", ""},
		{"delete", "DELETE", "/users/bob", "", 204, "", "", ""},
		{"delete unknown", "DELETE", "/users/bob", "", 404, "not_found", "", ""},
		{"create token", "POST", "/users/ingest/tokens", `{"name":"prometheus"}`, 201, "", "", `"secret":"vgl_`},
		{"token with too strong a role", "POST", "/users/ingest/tokens", `{"name":"x","role":"admin"}`, 400, "bad_data", "cannot create a token with role admin", ""},
		{"token in the past", "POST", "/users/ingest/tokens", `{"name":"x","expires_at":"2000-01-01T00:00:00Z"}`, 400, "bad_data", "not in the future", ""},
		{"list user tokens", "GET", "/users/ingest/tokens", "", 200, "", "", `"name":"prometheus"`},
		{"list unknown user's tokens", "GET", "/users/nobody/tokens", "", 404, "not_found", "", ""},
		{"list all tokens", "GET", "/tokens", "", 200, "", "", `"user":"ingest"`},
	}
	for _, tt := range tests {
		got := call(tt.method, tt.path, tt.body)
		if got.status != tt.status {
			t.Errorf("%s: %s %s: %d %s, want %d", tt.name, tt.method, tt.path, got.status, got.body, tt.status)
			continue
		}
		if tt.status == 204 {
			continue
		}
		e := decodeEnvelope(t, got)
		if tt.errorType != "" {
			if e.Status != "error" || e.ErrorType != tt.errorType || !strings.Contains(got.body, tt.errorContains) {
				t.Errorf("%s: body %s, want errorType %s containing %s", tt.name, got.body, tt.errorType, tt.errorContains)
			}
			continue
		}
		if e.Status != "success" || !strings.Contains(string(e.Data), tt.dataContains) || strings.Contains(got.body, "password_hash") {
			t.Errorf("%s: body %s, want data containing %s", tt.name, got.body, tt.dataContains)
		}
	}
	if _, err := env.store.Authenticate("ingest", "ingest-password"); err != nil {
		t.Errorf("user created over the API cannot log in: %v", err)
	}

	// Revoke a user's token through the admin API.
	toks, _ := env.store.ListTokens("ingest")
	if len(toks) != 1 {
		t.Fatalf("ingest tokens: %+v", toks)
	}
	if got := call("DELETE", "/users/admin/tokens/"+toks[0].ID, ""); got.status != 404 {
		t.Errorf("revoke via the wrong user: %d, want 404", got.status)
	}
	if got := call("DELETE", "/users/ingest/tokens/"+toks[0].ID, ""); got.status != 204 {
		t.Errorf("revoke: %d %s", got.status, got.body)
	}
	if toks, _ := env.store.ListTokens("ingest"); len(toks) != 0 {
		t.Errorf("token not revoked: %+v", toks)
	}
}

func TestOwnTokenAPI(t *testing.T) {
	env := newTestStore(t, Options{})
	env.mustAddUser(t, "admin", "admin-password", RoleAdmin)
	env.mustAddUser(t, "ingest", "ingest-password", RoleWriter)
	env.mustAddUser(t, "viewer", "viewer-password", RoleViewer)
	srv := newTestServer(t, env, false)
	call := func(user, method, path, body string) response {
		return do(t, srv, request{method: method, path: "/api/v1" + path, body: body, header: map[string]string{"Content-Type": "application/json"}, basic: &[2]string{user, user + "-password"}})
	}

	// A writer manages its own tokens.
	got := call("ingest", "POST", "/tokens", `{"name":"remote_write","expires_at":"`+env.clock.Now().Add(24*time.Hour).Format(time.RFC3339)+`"}`)
	if got.status != 201 {
		t.Fatalf("writer creates a token: %d %s", got.status, got.body)
	}
	var created struct {
		ID, Secret string
		ExpiresAt  time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(decodeEnvelope(t, got).Data, &created); err != nil || !tokenRE.MatchString(created.Secret) || created.ExpiresAt.IsZero() {
		t.Fatalf("created token %s: %v", got.body, err)
	}
	if got := do(t, srv, request{method: "POST", path: "/api/v1/write", header: bearer(created.Secret)}); got.status != 200 {
		t.Errorf("new token cannot write: %d", got.status)
	}
	got = call("ingest", "GET", "/tokens", "")
	if got.status != 200 || !strings.Contains(got.body, `"name":"remote_write"`) || strings.Contains(got.body, created.Secret) {
		t.Errorf("list own tokens: %d %s", got.status, got.body)
	}
	if got := call("ingest", "POST", "/tokens", `{"name":"x","role":"viewer"}`); got.status != 403 {
		t.Errorf("writer asks for a viewer token: %d %s, want 403", got.status, got.body)
	}

	// Others cannot see or revoke it; an admin can.
	if got := call("viewer", "GET", "/tokens", ""); got.status != 200 || strings.Contains(got.body, "remote_write") {
		t.Errorf("viewer lists tokens: %d %s", got.status, got.body)
	}
	if got := call("viewer", "DELETE", "/tokens/"+created.ID, ""); got.status != 404 {
		t.Errorf("viewer revokes another's token: %d, want 404", got.status)
	}
	if got := call("admin", "DELETE", "/tokens/"+created.ID, ""); got.status != 204 {
		t.Errorf("admin revokes a token: %d %s", got.status, got.body)
	}

	// A limited token cannot mint a stronger one.
	limited, _ := env.mustToken(t, "admin", TokenOptions{Role: RoleViewer})
	h := bearer(limited)
	h["Content-Type"] = "application/json"
	if got := do(t, srv, request{method: "POST", path: "/api/v1/tokens", body: `{"name":"escalate","role":"admin"}`, header: h}); got.status != 403 {
		t.Errorf("viewer token mints an admin token: %d %s", got.status, got.body)
	}
	got = do(t, srv, request{method: "POST", path: "/api/v1/tokens", body: `{"name":"inherit"}`, header: h})
	if got.status != 201 || !strings.Contains(got.body, `"role":"viewer"`) {
		t.Errorf("token created by a viewer token: %d %s, want role viewer", got.status, got.body)
	}
	if got := do(t, srv, request{method: "GET", path: "/api/v1/admin/users", header: h}); got.status != 403 {
		t.Errorf("viewer token of an admin on the admin API: %d, want 403", got.status)
	}
}
