//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The real amtool (Alertmanager v0.35.0) against the binary, with
// authentication on, through --http.config.file's basic_auth: alerts
// added and queried, a silence added, queried, muting the alert and
// expired, the routing tree shown and tested against the config Vigil
// serves at /api/v2/status, the cluster status; without credentials amtool
// gets 401.
func TestAmtoolAgainstVigil(t *testing.T) {
	_, amtool := alertmanagerTools(t)
	sink := newWebhookSink(t)
	dir := t.TempDir()
	amFile := filepath.Join(dir, "alertmanager.yml")
	os.WriteFile(amFile, []byte(`route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
receivers:
  - name: team
    webhook_configs: [{url: '`+sink.URL+`/team'}]
  - name: pager
    webhook_configs: [{url: '`+sink.URL+`/pager', hmac_secret: s3cret}]
`), 0o644)
	p := startVigilProcess(t, "--config.alertmanager="+amFile, "--rules.builtin=false")
	defer p.Stop()
	httpConfig := filepath.Join(dir, "amtool-http.yml")
	os.WriteFile(httpConfig, []byte("basic_auth:\n  username: "+testAdminUser+"\n  password: "+testAdminPassword+"\n"), 0o600)
	amt := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		return runTool(t, amtool, append([]string{"--alertmanager.url=" + p.BaseURL, "--http.config.file=" + httpConfig}, args...)...)
	}
	must := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := amt(args...)
		if code != 0 {
			t.Fatalf("amtool %s: exit code %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
		return stdout
	}
	type queried struct {
		Labels    map[string]string `json:"labels"`
		Receivers []struct{ Name string }
		Status    struct {
			State      string   `json:"state"`
			SilencedBy []string `json:"silencedBy"`
		} `json:"status"`
	}
	query := func(args ...string) []queried {
		t.Helper()
		var out []queried
		if err := json.Unmarshal([]byte(must(append([]string{"alert", "query", "-o", "json"}, args...)...)), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	must("alert", "add", "alertname=PanicQueueStuck", "severity=critical", "zone=downtown", `--annotation=summary="queue stuck"`)
	must("alert", "add", "alertname=SlowResponseTime", "severity=warning", "--end="+time.Now().Add(time.Hour).Format(time.RFC3339))
	got := query()
	if len(got) != 2 || got[0].Labels["alertname"] != "PanicQueueStuck" || got[0].Receivers[0].Name != "pager" || got[1].Receivers[0].Name != "team" {
		t.Fatalf("amtool alert query: %+v", got)
	}
	if out := must("alert", "query", "zone=downtown"); !strings.Contains(out, "PanicQueueStuck") || !strings.Contains(out, "queue stuck") || strings.Contains(out, "SlowResponseTime") {
		t.Errorf("amtool alert query zone=downtown:\n%s", out)
	}
	if msgs := sink.wait(2, 15*time.Second); len(msgs) != 2 {
		t.Errorf("the added alerts reached the webhook %d times, want 2 (one per group)", len(msgs))
	}

	id := strings.TrimSpace(must("silence", "add", "alertname=PanicQueueStuck", "--comment=deploying the queue fix", "--author=ops", "--duration=1h"))
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(id) {
		t.Fatalf("amtool silence add printed %q, want the silence's ID", id)
	}
	if out := must("silence", "query"); !strings.Contains(out, id) || !strings.Contains(out, `alertname="PanicQueueStuck"`) || !strings.Contains(out, "deploying the queue fix") {
		t.Errorf("amtool silence query:\n%s", out)
	}
	if got := query("alertname=PanicQueueStuck"); len(got) != 0 {
		t.Errorf("amtool alert query lists a silenced alert without --silenced: %+v", got)
	}
	if got := query("--silenced", "alertname=PanicQueueStuck"); len(got) != 1 || got[0].Status.State != "suppressed" || !slices.Equal(got[0].Status.SilencedBy, []string{id}) {
		t.Errorf("the silenced alert: %+v", got)
	}
	must("silence", "expire", id)
	if out := strings.TrimSpace(must("silence", "query", "-q")); out != "" {
		t.Errorf("active silences after expire: %q", out)
	}
	if out := strings.TrimSpace(must("silence", "query", "--expired", "-q")); out != id {
		t.Errorf("expired silences: %q, want %s", out, id)
	}
	if got := query("alertname=PanicQueueStuck"); len(got) != 1 || got[0].Status.State != "active" {
		t.Errorf("after expiring the silence: %+v", got)
	}

	if out := must("config", "routes"); !strings.Contains(out, "default-route  receiver: team") || !strings.Contains(out, `{severity="critical"}  receiver: pager`) {
		t.Errorf("amtool config routes:\n%s", out)
	}
	if out := must("config", "routes", "test", "--verify.receivers=pager", "severity=critical", "alertname=X"); strings.TrimSpace(out) != "pager" {
		t.Errorf("amtool config routes test: %q", out)
	}
	if _, _, code := amt("config", "routes", "test", "--verify.receivers=team", "severity=critical"); code != 1 {
		t.Errorf("amtool config routes test with the wrong receiver: exit code %d, want 1", code)
	}
	if out := must("config", "show"); strings.Contains(out, "s3cret") || strings.Contains(out, sink.URL) || !strings.Contains(out, "receiver: pager") {
		t.Errorf("amtool config show shows secrets or no config:\n%s", out)
	}
	if out := must("cluster", "show"); !strings.Contains(out, "Cluster Status:  disabled") {
		t.Errorf("amtool cluster show:\n%s", out)
	}

	_, stderr, code := runTool(t, amtool, "--alertmanager.url="+p.BaseURL, "alert", "query")
	if code == 0 || !strings.Contains(stderr, "401") {
		t.Errorf("amtool without credentials: exit code %d, %s", code, stderr)
	}
}

// vigil check alertmanager and amtool check-config agree on whether each
// file is valid, except where Vigil's format differs on purpose.
func TestCheckAlertmanagerAgreesWithAmtool(t *testing.T) {
	_, amtool := alertmanagerTools(t)
	dir := t.TempDir()
	panicPlatform, err := filepath.Abs("../../rules/notify/testdata/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ok.tmpl"), []byte(`{{ define "x" }}{{ .Status | toUpper }}{{ end }}`), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.tmpl"), []byte(`{{ define "x" }}{{ .Status | nosuchfunc }}{{ end }}`), 0o644)
	receivers := "receivers: [{name: a, webhook_configs: [{url: 'http://127.0.0.1:5001/'}]}]\n"
	for _, tc := range []struct {
		name, text string
		valid      bool
		// differs names why Vigil's verdict is not amtool's.
		differs string
	}{
		{name: "the Panic platform's", valid: true},
		{name: "templates", text: "templates: [ok.tmpl]\nroute: {receiver: a, group_by: ['...']}\n" + receivers, valid: true},
		{name: "time intervals", text: "time_intervals: [{name: nights, time_intervals: [{times: [{start_time: '22:00', end_time: '24:00'}], weekdays: ['monday:friday']}]}]\n" +
			"route: {receiver: a, routes: [{matchers: ['severity=warning'], receiver: a, mute_time_intervals: [nights]}]}\n" + receivers, valid: true},
		{name: "email with global smtp", text: "global: {smtp_smarthost: 'smtp.example.com:587', smtp_from: 'a@example.com', smtp_auth_username: a, smtp_auth_secret: s}\n" +
			"route: {receiver: a}\nreceivers: [{name: a, email_configs: [{to: 'b@example.com', require_tls: false, force_implicit_tls: true}]}]\n", valid: true},
		{name: "no route", text: receivers},
		{name: "undefined receiver", text: "route: {receiver: nobody}\n" + receivers},
		{name: "unknown field", text: "route: {receiver: a, group_wiat: 1s}\n" + receivers},
		{name: "bad matcher", text: "route: {receiver: a, routes: [{matchers: ['severity=~\"(\"'], receiver: a}]}\n" + receivers},
		{name: "duplicate receiver", text: "route: {receiver: a}\nreceivers: [{name: a}, {name: a}]\n"},
		{name: "undefined time interval", text: "route: {receiver: a, routes: [{receiver: a, mute_time_intervals: [nights]}]}\n" + receivers},
		{name: "root route with matchers", text: "route: {receiver: a, matchers: ['a=b']}\n" + receivers},
		{name: "zero repeat_interval", text: "route: {receiver: a, repeat_interval: 0s}\n" + receivers},
		{name: "email without smarthost", text: "route: {receiver: a}\nreceivers: [{name: a, email_configs: [{to: 'b@example.com', from: 'a@example.com'}]}]\n"},
		{name: "webhook without url", text: "route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{}]}]\n"},
		{name: "template that does not parse", text: "templates: [bad.tmpl]\nroute: {receiver: a}\n" + receivers},
		{name: "hmac_secret", text: "route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{url: 'http://h/', hmac_secret: s}]}]\n", valid: true,
			differs: "hmac_secret is Vigil's addition to the webhook"},
		{name: "opsgenie", text: "route: {receiver: a}\nreceivers: [{name: a, opsgenie_configs: [{api_key: k}]}]\n",
			differs: "Vigil refuses the receivers it does not deliver to, by name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := panicPlatform
			if tc.text != "" {
				file = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yml")
				os.WriteFile(file, []byte(tc.text), 0o644)
			}
			vOut, vErr, vCode := runVigil(t, "check", "alertmanager", file)
			aOut, aErr, aCode := runTool(t, amtool, "check-config", file)
			if (vCode == 0) != tc.valid {
				t.Errorf("vigil check alertmanager: exit code %d, want valid=%v\n%s%s", vCode, tc.valid, vOut, vErr)
			}
			if same := (vCode == 0) == (aCode == 0); same != (tc.differs == "") {
				t.Errorf("vigil says valid=%v, amtool valid=%v (differs on purpose: %q)\nvigil:\n%s%s\namtool:\n%s%s", vCode == 0, aCode == 0, tc.differs, vOut, vErr, aOut, aErr)
			}
		})
	}
}
