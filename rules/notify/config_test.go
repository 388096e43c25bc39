package notify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadFileRealConfig(t *testing.T) {
	c, err := LoadFile("testdata/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ResolveTimeout(); got != 5*time.Minute {
		t.Errorf("resolve_timeout = %v", got)
	}
	e := c.Receivers[0].EmailConfigs[0]
	if e.Smarthost != "smtp.example.com:587" || e.From != "alerts@panic.example.com" || e.AuthPassword != "secret" || e.RequireTLS == nil || !*e.RequireTLS {
		t.Errorf("email config did not take the global smtp_* defaults: %+v", e)
	}
	if len(c.Route.Routes) != 2 || !c.Route.Routes[0].Continue || c.Route.Routes[1].GroupBy[0] != "..." {
		t.Errorf("routes = %+v", c.Route.Routes)
	}
}

func TestParseErrors(t *testing.T) {
	const recv = "receivers: [{name: a}]\n"
	for _, tc := range []struct {
		name, yml, want string
	}{
		{"no route", recv, "no route provided"},
		{"root without receiver", recv + "route: {group_by: [x]}", "root route must specify a default receiver"},
		{"root with matchers", recv + "route: {receiver: a, matchers: ['x=\"y\"']}", "root route must not have any matchers"},
		{"unknown receiver", recv + "route: {receiver: a, routes: [{receiver: b}]}", `route.routes[0]: undefined receiver "b"`},
		{"bad matcher", recv + "route: {receiver: a, routes: [{matchers: ['x=~\"(\"']}]}", `route.routes[0]: matchers: "x=~\"(\""`},
		{"bad match_re", recv + "route: {receiver: a, routes: [{match_re: {x: '('}}]}", "match_re: x:"},
		{"group_by ... with others", recv + "route: {receiver: a, group_by: ['...', x]}", "'...' must be the only label"},
		{"unknown field", recv + "route: {receiver: a, group_wiat: 1m}", "field group_wiat not found"},
		{"duplicate receiver", "receivers: [{name: a}, {name: a}]\nroute: {receiver: a}", `"a" is defined twice`},
		{"unsupported receiver", "receivers: [{name: a, opsgenie_configs: [{api_key: x}]}]\nroute: {receiver: a}", "opsgenie_configs are not supported"},
		{"webhook without url", "receivers: [{name: a, webhook_configs: [{}]}]\nroute: {receiver: a}", "one of url or url_file"},
		{"email without smarthost", "receivers: [{name: a, email_configs: [{to: x@y.z, from: a@b.c}]}]\nroute: {receiver: a}", "no smarthost set"},
		{"bad inhibit matcher", recv + "route: {receiver: a}\ninhibit_rules: [{source_matchers: ['a=~\"(\"']}]", "inhibit_rules[0]: source"},
		{"unknown time interval", recv + "route: {receiver: a, routes: [{mute_time_intervals: [x]}]}", `undefined time interval "x"`},
		{"bad time", recv + "route: {receiver: a}\ntime_intervals: [{name: x, time_intervals: [{times: [{start_time: '25:00', end_time: '26:00'}]}]}]", `"25:00" is not a time of day`},
		{"zero repeat", recv + "route: {receiver: a, repeat_interval: 0s}", "repeat_interval cannot be zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestTimeIntervalContains(t *testing.T) {
	c, err := LoadFile("testdata/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	ti := c.TimeIntervals[0].TimeIntervals[0]
	for _, tc := range []struct {
		at   string
		want bool
	}{
		{"2026-11-23T23:30:00Z", true},  // Monday night
		{"2026-11-24T05:59:00Z", true},  // Tuesday early morning
		{"2026-11-24T06:00:00Z", false}, // end is exclusive
		{"2026-11-24T12:00:00Z", false},
		{"2026-11-28T23:30:00Z", false}, // Saturday
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		if got, err := ti.contains(at); err != nil || got != tc.want {
			t.Errorf("contains(%s) = %v, %v; want %v", tc.at, got, err, tc.want)
		}
	}
	last := TimeInterval{DaysOfMonth: []string{"-1"}, Months: []string{"february"}}
	if ok, _ := last.contains(time.Date(2028, 2, 29, 1, 0, 0, 0, time.UTC)); !ok {
		t.Error("days_of_month -1 does not contain 2028-02-29")
	}
}

// The status API shows the config to viewers: no secret in it.
func TestConfigYAMLHidesSecrets(t *testing.T) {
	c, err := LoadFile("testdata/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{Config: c})
	if err != nil {
		t.Fatal(err)
	}
	got := d.ConfigYAML()
	for _, secret := range []string{"secret'", ": secret", "127.0.0.1:5001"} {
		if strings.Contains(got, secret) {
			t.Errorf("ConfigYAML shows %q:\n%s", secret, got)
		}
	}
	for _, want := range []string{"smtp_auth_password: <secret>", "receiver: pager", "- '...'"} {
		if !strings.Contains(got, want) {
			t.Errorf("ConfigYAML lacks %q:\n%s", want, got)
		}
	}
}

// Relative http_config files are taken from the config's folder, as
// Alertmanager takes them; smtp secrets stay as written.
func TestLoadFileResolvesHTTPConfigPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "alertmanager.yml")
	os.WriteFile(file, []byte(`global:
  smtp_smarthost: 'mail:25'
  smtp_from: a@example.com
  smtp_auth_password_file: smtp-password
route: {receiver: a}
receivers:
  - name: a
    webhook_configs: [{url: 'https://hook.example/', http_config: {tls_config: {ca_file: certs/ca.pem}, basic_auth: {username: u, password_file: /etc/hook-password}}}]
    email_configs: [{to: b@example.com}]
`), 0o644)
	c, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	h := c.Receivers[0].WebhookConfigs[0].HTTPConfig
	if h.TLSConfig.CAFile != filepath.Join(dir, "certs/ca.pem") || h.BasicAuth.PasswordFile != "/etc/hook-password" {
		t.Errorf("ca_file %q, password_file %q", h.TLSConfig.CAFile, h.BasicAuth.PasswordFile)
	}
	if got := c.Receivers[0].EmailConfigs[0].AuthPasswordFile; got != "smtp-password" {
		t.Errorf("auth_password_file = %q, want it as written", got)
	}
}
