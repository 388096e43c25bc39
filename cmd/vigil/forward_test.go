//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-monitoring/vigil/internal/testcert"
)

// amListedAlert is the part of an alert of GET /api/v2/alerts the tests
// read, from Vigil and from Alertmanager alike.
type amListedAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
	// GeneratorURL is left out by Vigil's API when empty, as by
	// Alertmanager's.
	GeneratorURL string `json:"generatorURL"`
}

func listAMAlerts(t *testing.T, c *http.Client, base string) []amListedAlert {
	t.Helper()
	resp, err := c.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []amListedAlert
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil {
		t.Fatalf("GET %s/api/v2/alerts = %d: %s", base, resp.StatusCode, b)
	}
	return out
}

// alertNamed returns the alert with that alertname, if listed.
func alertNamed(as []amListedAlert, name string) (amListedAlert, bool) {
	for _, a := range as {
		if a.Labels["alertname"] == name {
			return a, true
		}
	}
	return amListedAlert{}, false
}

// Vigil forwards the alerts of its own rules to external Alertmanagers
// from the alerting section of --config.prometheus: a second Vigil over
// HTTPS with basic auth (tls_config.ca_file, basic_auth.password_file),
// and the real Alertmanager found through file_sd_configs, where
// relabel_configs drop a retired one. The alert arrives with the
// external labels and alert_relabel_configs applied, is sent again every
// --alerting.resend-delay while it fires, and its resolution reaches both
// at once, long before its endsAt. /api/v1/alertmanagers and /metrics
// show the Alertmanagers and what was sent.
func TestForwardAlertsToAlertmanagers(t *testing.T) {
	amBin, _ := alertmanagerTools(t)
	am := startAlertmanager(t, amBin, "route: {receiver: none, group_wait: 1s}\nreceivers: [{name: none}]\n")

	dir := t.TempDir()
	caCert, certPEM, keyPEM := testcert.New(t, "vigil-b")
	certFile, keyFile, caFile := filepath.Join(dir, "b.crt"), filepath.Join(dir, "b.key"), filepath.Join(dir, "ca.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	os.WriteFile(caFile, certPEM, 0o600)
	b := startVigilProcess(t, "--web.tls-cert-file="+certFile, "--web.tls-key-file="+keyFile, "--rules.builtin=false")
	bClient := tlsClient(false, caCert)

	os.WriteFile(filepath.Join(dir, "b-password"), []byte(testAdminPassword+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "alertmanagers.yml"), []byte(fmt.Sprintf(`- targets: ['%s']
- targets: ['127.0.0.1:1']
  labels: {state: retired}
`, strings.TrimPrefix(am.URL, "http://"))), 0o644)
	promFile := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(promFile, []byte(fmt.Sprintf(`global:
  external_labels: {site: dc1}
alerting:
  alert_relabel_configs:
    - {target_label: forwarded_by, replacement: vigil-a}
  alertmanagers:
    - scheme: https
      basic_auth: {username: admin, password_file: b-password}
      tls_config: {ca_file: ca.pem}
      static_configs: [{targets: ['%s']}]
    - timeout: 5s
      file_sd_configs: [{files: [alertmanagers.yml]}]
      relabel_configs:
        - {source_labels: [state], regex: retired, action: drop}
`, strings.TrimPrefix(b.BaseURL, "https://"))), 0o644)
	ruleFile := filepath.Join(dir, "rules.yml")
	os.WriteFile(ruleFile, []byte(`groups:
  - name: payments
    interval: 1s
    rules:
      - alert: PaymentsQueueStuck
        expr: payments_queue_stuck > 0
        labels: {severity: critical}
        annotations: {summary: "the payments queue is stuck"}
`), 0o644)
	a := startVigilProcess(t, "--config.prometheus="+promFile, "--rules.files="+ruleFile, "--rules.builtin=false", "--alerting.resend-delay=2s")
	admin := adminClient()
	ingest := func(v int) {
		t.Helper()
		resp, err := admin.Post(a.BaseURL+"/api/v1/import/prometheus", "text/plain", strings.NewReader(fmt.Sprintf("payments_queue_stuck %d\n", v)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp, err = admin.Get(a.BaseURL + "/internal/force_flush"); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	var ams struct {
		Data struct {
			Active  []struct{ URL string } `json:"activeAlertmanagers"`
			Dropped []struct{ URL string } `json:"droppedAlertmanagers"`
		} `json:"data"`
	}
	faultGet(t, admin, a.BaseURL+"/api/v1/alertmanagers", &ams)
	var active, dropped []string
	for _, x := range ams.Data.Active {
		active = append(active, x.URL)
	}
	for _, x := range ams.Data.Dropped {
		dropped = append(dropped, x.URL)
	}
	if want := []string{a.BaseURL + "/api/v2/alerts", b.BaseURL + "/api/v2/alerts", am.URL + "/api/v2/alerts"}; !slices.Equal(active, want) ||
		!slices.Equal(dropped, []string{"http://127.0.0.1:1/api/v2/alerts"}) {
		t.Errorf("/api/v1/alertmanagers: active %v, dropped %v; want %v and the retired one dropped", active, dropped, want)
	}

	ingest(1)
	var inB, inAM amListedAlert
	waitFor(t, 60*time.Second, "the alert forwarded to both Alertmanagers", func() bool {
		var okB, okAM bool
		inB, okB = alertNamed(listAMAlerts(t, bClient, b.BaseURL), "PaymentsQueueStuck")
		inAM, okAM = alertNamed(listAMAlerts(t, admin, am.URL), "PaymentsQueueStuck")
		return okB && okAM
	})
	for name, got := range map[string]amListedAlert{"the second Vigil": inB, "Alertmanager": inAM} {
		if got.Labels["site"] != "dc1" || got.Labels["forwarded_by"] != "vigil-a" || got.Labels["severity"] != "critical" ||
			got.Annotations["summary"] != "the payments queue is stuck" {
			t.Errorf("%s has %+v", name, got)
		}
		if want := a.BaseURL + "/explore?expr=payments_queue_stuck+%3E+0"; got.GeneratorURL != want {
			t.Errorf("%s: generatorURL %q, want %q", name, got.GeneratorURL, want)
		}
		if left := time.Until(got.EndsAt); left < time.Minute {
			t.Errorf("%s: endsAt %s is only %s ahead; Vigil sends 4 × max(resend delay, interval, 1m)", name, got.EndsAt, left)
		}
	}
	firstUpdate := inB.UpdatedAt
	waitFor(t, 20*time.Second, "the alert sent again after the resend delay", func() bool {
		a, ok := alertNamed(listAMAlerts(t, bClient, b.BaseURL), "PaymentsQueueStuck")
		return ok && a.UpdatedAt.After(firstUpdate)
	})

	metrics := getMetrics(t, a.BaseURL)
	for _, u := range []string{b.BaseURL, am.URL} {
		name := `vigil_alertmanager_forward_sent_total{alertmanager="` + u + `/api/v2/alerts"}`
		if v := metricValue(metrics, name); !(v >= 2) {
			t.Errorf("%s = %v, want at least 2 (sent, then sent again):\n%s", name, v, grepMetrics(metrics, "vigil_alertmanager_forward"))
		}
	}
	if v := metricValue(metrics, "vigil_alertmanager_forward_queue_capacity"); v != 10000 {
		t.Errorf("queue capacity = %v, want 10000", v)
	}

	ingest(0)
	waitFor(t, 60*time.Second, "the resolution forwarded to both", func() bool {
		_, inB := alertNamed(listAMAlerts(t, bClient, b.BaseURL), "PaymentsQueueStuck")
		_, inAM := alertNamed(listAMAlerts(t, admin, am.URL), "PaymentsQueueStuck")
		return !inB && !inAM
	})
}

func getMetrics(t *testing.T, base string) string {
	t.Helper()
	resp, err := adminClient().Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
