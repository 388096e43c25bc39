package appliance

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-monitoring/vigil/rules"
	"github.com/vigil-monitoring/vigil/rules/notify"
)

// An alerting rule fires and its notification reaches a real webhook
// through the routing of --config.alertmanager; a bad alertmanager.yml on
// reload keeps the running one.
func TestRulesNotifyWebhook(t *testing.T) {
	got := make(chan notify.WebhookMessage, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m notify.WebhookMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body %s: %v", b, err)
		}
		got <- m
	}))
	defer hook.Close()
	dir := t.TempDir()
	ruleFile := filepath.Join(dir, "rules.yml")
	os.WriteFile(ruleFile, []byte(`groups:
  - name: always
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: critical}
        annotations: {summary: "it fires"}
`), 0o644)
	amFile := filepath.Join(dir, "alertmanager.yml")
	os.WriteFile(amFile, []byte(`route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
receivers:
  - name: hook
    webhook_configs: [{url: '`+hook.URL+`'}]
`), 0o644)
	cfg := testConfig(t)
	cfg.Rules.Files = []string{ruleFile}
	cfg.Rules.Builtin = false
	cfg.Files.Alertmanager = amFile
	a := startAppliance(t, cfg)

	select {
	case m := <-got:
		if m.Receiver != "hook" || m.Status != "firing" || len(m.Alerts) != 1 || m.Alerts[0].Labels["alertname"] != "AlwaysFiring" ||
			m.Alerts[0].Annotations["summary"] != "it fires" || m.GroupKey != `{}:{alertname="AlwaysFiring"}` ||
			m.Alerts[0].GeneratorURL != a.URL()+"/explore?expr=vector%281%29" {
			t.Fatalf("notification = %+v %+v", m, m.Data)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no notification within 20s")
	}
	select {
	case m := <-got:
		t.Fatalf("a second notification within group_interval: %+v", m.Data)
	case <-time.After(2 * time.Second):
	}

	if code, body := get(t, a.URL()+"/api/v1/alertmanagers"); code != 200 || !strings.Contains(body, `"activeAlertmanagers":[{"url":"`+a.URL()+`/api/v2/alerts"}]`) {
		t.Errorf("/api/v1/alertmanagers = %d %s", code, body)
	}

	os.WriteFile(amFile, []byte("route:\n  receiver: nobody\nreceivers: [{name: hook}]\n"), 0o644)
	_, err := a.notify.Reload(a.cfg)
	if err == nil || !strings.Contains(err.Error(), `undefined receiver "nobody"`) {
		t.Fatalf("reload of a bad alertmanager.yml: err = %v", err)
	}
}

func TestStartFailsOnBadAlertmanagerConfig(t *testing.T) {
	cfg := testConfig(t)
	cfg.Files.Alertmanager = filepath.Join(t.TempDir(), "am.yml")
	os.WriteFile(cfg.Files.Alertmanager, []byte("route: {receiver: x}\nreceivers: [{name: x, webhook_configs: [{url: 'not a url'}]}]\n"), 0o644)
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Start(context.Background())
	a.Stop(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot load the alertmanager config") || !strings.Contains(err.Error(), `url "not a url" is not an http(s) URL`) {
		t.Fatalf("Start: err = %v", err)
	}
}

// A firing alert of the rules stays valid for four group intervals.
func TestNotifyValidFor(t *testing.T) {
	r := &notifyRunner{}
	now := time.Now()
	if got := r.validFor(now); got != 4*time.Minute {
		t.Errorf("without rules: %v, want 4m", got)
	}
	r.groups = func() []rules.GroupStatus {
		return []rules.GroupStatus{{Interval: 30 * time.Second}, {Interval: 10 * time.Minute}}
	}
	if got := r.validFor(now); got != 40*time.Minute {
		t.Errorf("with a 10m group: %v, want 40m", got)
	}
}

// The alerting section of --config.prometheus: its Alertmanagers are
// listed; a reload with a section Vigil cannot use is refused and the
// running Alertmanagers stay.
func TestForwardReloadKeepsRunningOnBadConfig(t *testing.T) {
	am := httptest.NewServer(http.NotFoundHandler())
	defer am.Close()
	promFile := filepath.Join(t.TempDir(), "prometheus.yml")
	good := "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['" + strings.TrimPrefix(am.URL, "http://") + "']}]\n"
	os.WriteFile(promFile, []byte(good), 0o644)
	cfg := testConfig(t)
	cfg.Rules.Builtin = false
	cfg.Files.Prometheus = promFile
	a := startAppliance(t, cfg)
	want := []string{a.URL() + "/api/v2/alerts", am.URL + "/api/v2/alerts"}
	if active, _ := a.notify.Alertmanagers(); !slices.Equal(active, want) {
		t.Fatalf("Alertmanagers() = %v, want %v", active, want)
	}
	os.WriteFile(promFile, []byte("alerting:\n  alertmanagers:\n    - dns_sd_configs: [{names: [am.example]}]\n"), 0o644)
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "line 3: dns_sd_configs is not supported for Alertmanagers") {
		t.Fatalf("reload: %v", err)
	}
	if active, _ := a.notify.Alertmanagers(); !slices.Equal(active, want) {
		t.Errorf("after the refused reload: %v, want %v", active, want)
	}
}
