package appliance

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vigil-monitoring/vigil/rules/notify"
)

const inlineVigilYML = `# Vigil's config with the routing inline.
auth: none
alertmanager:
  global:
    resolve_timeout: 5m
  templates: [panic.tmpl]          # next to this file
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 1s
  receivers:
    - name: hook
      webhook_configs: [{url: 'HOOK', http_config: {basic_auth: {username: u, password: hunter2}}}]
log:
  level: warn
`

func writeInline(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "panic.tmpl"), []byte(`{{ define "panic.title" }}{{ .Status | toUpper }}{{ end }}`), 0o644)
	path := filepath.Join(dir, "vigil.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The alertmanager section of a --config file is an alertmanager.yml
// inline: its templates are found next to the file, the keys after it
// are Vigil's again, and the running config shows it with its secrets
// hidden.
func TestAlertmanagerSection(t *testing.T) {
	path := writeInline(t, strings.ReplaceAll(inlineVigilYML, "HOOK", "http://127.0.0.1:1/hook"))
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Alertmanager.Set() || cfg.Alertmanager.Line != 3 || cfg.Log.Level != "warn" || cfg.Auth != AuthNone {
		t.Fatalf("section set %v at line %d; log level %q, auth %q", cfg.Alertmanager.Set(), cfg.Alertmanager.Line, cfg.Log.Level, cfg.Auth)
	}
	c, err := cfg.Alertmanager.Parse()
	if err != nil {
		t.Fatal(err)
	}
	files, err := c.TemplateFiles()
	if err != nil || len(files) != 1 || files[0] != filepath.Join(filepath.Dir(path), "panic.tmpl") {
		t.Errorf("templates = %v, %v", files, err)
	}
	out, err := cfg.MarshalFile()
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); !strings.Contains(s, "alertmanager:\n") || !strings.Contains(s, "receiver: hook") || strings.Contains(s, "hunter2") {
		t.Errorf("the running config shows the section wrong (or its password):\n%s", s)
	}
}

// Mistakes in the section are reported at their line of the file.
func TestAlertmanagerSectionErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key", "auth: none\nalertmanager:\n  route: {receiver: a}\n  recievers: [{name: a}]\n", "vigil.yml:4: field recievers not found in type notify.Config"},
		{"bad matcher", "alertmanager:\n  route:\n    receiver: a\n    routes: [{matchers: ['severity=~\"(\"'], receiver: a}]\n  receivers: [{name: a}]\nauth: none\n",
			`vigil.yml:1: the alertmanager section:`},
		{"undefined receiver", "alertmanager: {route: {receiver: nobody}, receivers: [{name: a}]}\n", `undefined receiver "nobody" used in route`},
		{"not a mapping", "alertmanager: alertmanager.yml\n", "vigil.yml:1: alertmanager must be a mapping"},
		{"both", "config: {alertmanager: am.yml}\nalertmanager: {route: {receiver: a}, receivers: [{name: a}]}\n",
			"vigil.yml:2: both an alertmanager section and config: {alertmanager: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFile(writeInline(t, tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// --config.alertmanager on the command line wins over the section, and
// says so at start.
func TestAlertmanagerFlagWinsOverSection(t *testing.T) {
	path := writeInline(t, strings.ReplaceAll(inlineVigilYML, "HOOK", "http://127.0.0.1:1/hook"))
	amFile := filepath.Join(t.TempDir(), "alertmanager.yml")
	os.WriteFile(amFile, []byte("route: {receiver: other}\nreceivers: [{name: other}]\n"), 0o644)
	cfg, _, err := ParseArgs([]string{"--config=" + path, "--config.alertmanager=" + amFile})
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadAlertmanagerConfig(cfg)
	if err != nil || c.Route.Receiver != "other" {
		t.Fatalf("routing from %v (%v), want the flag's file", c, err)
	}
	if got := strings.Join(notices(cfg), "\n"); !strings.Contains(got, "--config.alertmanager="+amFile+" is used; the alertmanager section of "+path+" (line 3) is ignored") {
		t.Errorf("notices = %s", got)
	}
}

// An appliance started from a --config file with the section routes an
// alert to the section's webhook; a reload with a broken section keeps
// the running one.
func TestAlertmanagerSectionRoutes(t *testing.T) {
	got := make(chan notify.WebhookMessage, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m notify.WebhookMessage
		json.Unmarshal(b, &m)
		if u, p, _ := r.BasicAuth(); u != "u" || p != "hunter2" {
			t.Errorf("basic auth %q %q", u, p)
		}
		got <- m
	}))
	defer hook.Close()
	text := strings.ReplaceAll(inlineVigilYML, "HOOK", hook.URL)
	path := writeInline(t, text)
	base := testConfig(t)
	cfg, _, err := ParseArgs([]string{"--config=" + path, "--data-dir=" + base.DataDir, "--listen=" + base.Listen, "--rules.builtin=false"})
	if err != nil {
		t.Fatal(err)
	}
	a := startAppliance(t, cfg)
	a.notify.d.Put(&notify.Alert{Labels: map[model.LabelName]model.LabelValue{"alertname": "QueueStuck"}, EndsAt: time.Now().Add(time.Hour)})
	select {
	case m := <-got:
		if m.Receiver != "hook" || len(m.Alerts) != 1 {
			t.Fatalf("notification %+v", m.Data)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no notification within 20s")
	}

	os.WriteFile(path, []byte(strings.Replace(text, "receiver: hook", "receiver: nobody", 1)), 0o644)
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), `undefined receiver "nobody"`) {
		t.Fatalf("reload with a broken section: %v", err)
	}
	if rs := a.notify.d.Receivers(); len(rs) != 1 || rs[0] != "hook" {
		t.Errorf("receivers after the failed reload: %v", rs)
	}
}
