//go:build unix

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// The binary takes its routing from the alertmanager section of its
// --config file; vigil check config reports a mistake in it at its line;
// --config.alertmanager on the command line wins and says so.
func TestAlertmanagerSectionThroughTheBinary(t *testing.T) {
	sink := newWebhookSink(t)
	dir := t.TempDir()
	vigilYML := filepath.Join(dir, "vigil.yml")
	os.WriteFile(vigilYML, []byte(`rules:
  builtin: false
alertmanager:
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 1s
  receivers:
    - name: hook
      webhook_configs: [{url: '`+sink.URL+`/inline'}]
`), 0o644)
	if stdout, stderr, code := runVigil(t, "check", "config", vigilYML); code != 0 {
		t.Fatalf("check config: %d\n%s%s", code, stdout, stderr)
	}
	p := startVigilProcess(t, "--config="+vigilYML)
	cli := adminAMClient(p.BaseURL)
	if _, err := cli.Alert.PostAlerts(alert.NewPostAlertsParams().WithAlerts(models.PostableAlerts{{
		Alert: models.Alert{Labels: models.LabelSet{"alertname": "QueueStuck", "instance": "a"}}, EndsAt: strfmt.DateTime(time.Now().Add(time.Hour))}})); err != nil {
		t.Fatal(err)
	}
	got := sink.wait(1, 15*time.Second)
	if len(got) != 1 || got[0].Receiver != "hook" || !slices.Equal(instances(got[0]), []string{"a:firing"}) {
		t.Fatalf("notifications: %+v", got)
	}
	p.Stop()

	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("alertmanager:\n  route: {receiver: hook}\n  receivers:\n    - name: hook\n      webhook_configs: [{url: 'not a url'}]\n"), 0o644)
	_, stderr, code := runVigil(t, "check", "config", bad)
	if code != 1 || !strings.Contains(stderr, bad+":1: the alertmanager section:") || !strings.Contains(stderr, `url "not a url" is not an http(s) URL`) {
		t.Errorf("check config of a bad section: code %d\n%s", code, stderr)
	}

	amFile := filepath.Join(dir, "alertmanager.yml")
	os.WriteFile(amFile, []byte("route: {receiver: none}\nreceivers: [{name: none}]\n"), 0o644)
	p = startVigilProcess(t, "--config="+vigilYML, "--config.alertmanager="+amFile)
	defer p.Stop()
	if want := "--config.alertmanager=" + amFile + " is used; the alertmanager section of " + vigilYML + " (line 3) is ignored"; !strings.Contains(p.Stdout(), want) {
		t.Errorf("the start does not say %q:\n%s", want, p.Stdout())
	}
}
