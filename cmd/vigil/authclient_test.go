//go:build unix

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Credentials for the end-to-end tests: startVigil runs Vigil with
// authentication on and sets the password of its user admin to
// testAdminPassword, so every test can act as admin and create the users
// and tokens it needs.

const (
	testAdminUser     = "admin"
	testAdminPassword = "e2e-admin-password"
)

// credentialsTransport sets the Authorization header of every request.
type credentialsTransport struct {
	authorization string
	base          http.RoundTripper
}

func (c *credentialsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", c.authorization)
	base := c.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

// basicAuthTransport sends user and password as basic auth over base (nil:
// http.DefaultTransport). A token secret works as the password too.
func basicAuthTransport(base http.RoundTripper, user, password string) http.RoundTripper {
	creds := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	return &credentialsTransport{authorization: "Basic " + creds, base: base}
}

// bearerTransport sends token as "Authorization: Bearer" over base (nil:
// http.DefaultTransport).
func bearerTransport(base http.RoundTripper, token string) http.RoundTripper {
	return &credentialsTransport{authorization: "Bearer " + token, base: base}
}

// adminTransport acts as the admin user of a Vigil started by startVigil.
func adminTransport(base http.RoundTripper) http.RoundTripper {
	return basicAuthTransport(base, testAdminUser, testAdminPassword)
}

// adminClient is an HTTP client acting as the admin user of a Vigil
// started by startVigil.
func adminClient() *http.Client {
	return &http.Client{Transport: adminTransport(nil), Timeout: 30 * time.Second}
}

// clientAs is an HTTP client sending user and password as basic auth.
func clientAs(user, password string) *http.Client {
	return &http.Client{Transport: basicAuthTransport(nil, user, password), Timeout: 30 * time.Second}
}

// adminAPI calls Vigil's user admin API as admin: method on path with
// body (JSON-encoded unless nil), decoding the answer's data into out
// (unless nil). It fails the test unless the status is want.
func adminAPI(t *testing.T, c *http.Client, method, url string, body any, want int, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, url, resp.StatusCode, want, bytes.TrimSpace(b))
	}
	if out != nil {
		env := struct{ Data any }{Data: out}
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, url, b, err)
		}
	}
}

// createUserViaAPI creates user name with role through the admin API of
// the Vigil at baseURL and returns its password.
func createUserViaAPI(t *testing.T, baseURL, name, role string) (password string) {
	t.Helper()
	password = "password-of-" + strings.ToLower(name)
	adminAPI(t, adminClient(), http.MethodPost, baseURL+"/api/v1/admin/users",
		map[string]string{"name": name, "password": password, "role": role}, http.StatusCreated, nil)
	return password
}

// createTokenViaAPI creates an API token for user through the admin API
// and returns its ID and secret. role narrows it ("" keeps the user's).
func createTokenViaAPI(t *testing.T, baseURL, user, name, role string) (id, secret string) {
	t.Helper()
	var tok struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	body := map[string]string{"name": name}
	if role != "" {
		body["role"] = role
	}
	adminAPI(t, adminClient(), http.MethodPost, baseURL+"/api/v1/admin/users/"+user+"/tokens", body, http.StatusCreated, &tok)
	if tok.ID == "" || !strings.HasPrefix(tok.Secret, "vgl_") {
		t.Fatalf("token created for %s has ID %q and secret %q", user, tok.ID, tok.Secret)
	}
	return tok.ID, tok.Secret
}
