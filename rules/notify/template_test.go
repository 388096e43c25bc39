package notify

import (
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	amalert "github.com/prometheus/alertmanager/alert"
	amtemplate "github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

// Every default function of Alertmanager's templates, through Vigil's
// Templates, with the inputs and expected outputs of Alertmanager's own
// tests (template/template_test.go of v0.35.0: TestTemplateExpansion and
// TestTemplateFuncs). Where Alertmanager's test passes arbitrary data
// (a []string, a time.Time), the same value is written as a literal or
// taken from the notification data, which is all Vigil's templates see.
func TestTemplateFunctionsAsAlertmanager(t *testing.T) {
	tmpl, err := LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 1, 1, 8, 15, 30, 0, time.UTC)
	data := &Data{
		Receiver:     "team-x",
		Status:       "firing",
		GroupLabels:  KV{"key1": "key1", "key2": "key2", "key3": "key3", "key4": "key4"},
		CommonLabels: KV{"severity": "critical", "job": "foo"},
		Alerts: TemplateAlerts{
			{Status: "firing", Labels: KV{"alertname": "test"}, StartsAt: at},
			{Status: "resolved", StartsAt: time.Now().Add(-time.Hour)},
		},
	}
	for _, tc := range []struct {
		name, in string
		html     bool
		want     string
		wantErr  string
	}{
		{name: "no action", in: `abc`, want: "abc"},
		{name: "bad syntax", in: `{{ `, wantErr: "unclosed action"},
		{name: "toUpper", in: `{{ "abc" | toUpper }}`, want: "ABC"},
		{name: "toLower", in: `{{ "ABC" | toLower }}`, want: "abc"},
		{name: "title", in: `{{ "abc" | title }}`, want: "Abc"},
		{name: "trimSpace", in: `{{ " a b c " | trimSpace }}`, want: "a b c"},
		{name: "match", in: `{{ if match "^a" "abc"}}abc{{ end }}`, want: "abc"},
		{name: "match negative", in: `{{ if match "abcd" "abc" }}abc{{ end }}`, want: ""},
		{name: "join", in: `{{ stringSlice "a" "b" "c" | join "," }}`, want: "a,b,c"},
		{name: "join with list", in: `{{ list "a" "b" "c" | join "," }}`, want: "a,b,c"},
		{name: "join with mixed types", in: `{{ list 1 true "x" | join "," }}`, want: "1,true,x"},
		{name: "join with a string", in: `{{ "" | join ","}}`,
			wantErr: `template: :1:8: executing "" at <join ",">: error calling join: join expects a slice or array, got string`},
		{name: "text is not escaped", in: `{{ "<b>" }}`, want: "<b>"},
		{name: "html is escaped", in: `{{ "<b>" }}`, html: true, want: "&lt;b&gt;"},
		{name: "safeHtml", in: `{{ "<b>" | safeHtml }}`, html: true, want: "<b>"},
		{name: "url escaping", in: `<a href="/search?{{ "q=test%20foo" }}"></a>`, html: true, want: `<a href="/search?q%3dtest%2520foo"></a>`},
		{name: "safeUrl", in: `<a href="/search?{{ "q=test%20foo" | safeUrl }}"></a>`, html: true, want: `<a href="/search?q=test%20foo"></a>`},
		{name: "reReplaceAll", in: `{{ reReplaceAll "ab" "AB" "abcdabcda"}}`, want: "ABcdABcda"},
		{name: "urlUnescape", in: `{{ "search?q=test%20foo" | urlUnescape }}`, want: "search?q=test foo"},
		{name: "stringSlice and KV.Remove", in: `{{ with .GroupLabels }}{{ with .Remove (stringSlice "key1" "key3") }}{{ .SortedPairs.Values }}{{ end }}{{ end }}`, want: "[key2 key4]"},
		{name: "toJson string", in: `{{ "test" | toJson }}`, want: `"test"`},
		{name: "toJson number", in: `{{ 42 | toJson }}`, want: `42`},
		{name: "toJson KV", in: `{{ .CommonLabels | toJson }}`, want: `{"job":"foo","severity":"critical"}`},
		{name: "toJson Alerts.Firing", in: `{{ .Alerts.Firing | toJson }}`,
			want: `[{"status":"firing","labels":{"alertname":"test"},"annotations":null,"startsAt":"2024-01-01T08:15:30Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":""}]`},
		{name: "base64encode", in: `{{ "flush>>" | base64encode }}`, want: "Zmx1c2g-Pg=="},
		{name: "base64decode", in: `{{ "dGVzdA==" | base64decode }}`, want: "test"},
		{name: "base64decode invalid", in: `{{ "not-valid-base64!" | base64decode }}`, wantErr: "illegal base64 data"},
		{name: "dict", in: `{{- $test := dict "a" 1 "b" 2 "c" 3 -}}{{ $test }}`, want: "map[a:1 b:2 c:3]"},
		{name: "dict odd", in: `{{ dict "a" }}`, wantErr: "dict requires an even number of arguments"},
		{name: "list and append", in: `{{- $test := list "a" "b" -}}{{ $test = append $test "c" "d" -}}{{ $test }}`, want: "[a b c d]"},
		{name: "date", in: `{{ (index .Alerts 0).StartsAt | date "2006-01-02" }}`, want: "2024-01-01"},
		{name: "tz", in: `{{ (index .Alerts 0).StartsAt | tz "Europe/Paris" }}`, want: "2024-01-01 09:15:30 +0100 CET"},
		{name: "tz invalid", in: `{{ (index .Alerts 0).StartsAt | tz "Invalid/Timezone" }}`, wantErr: "unknown time zone Invalid/Timezone"},
		{name: "humanizeDuration", in: `{{ range list 0 1 60 3600 86400 90000 899.99 0.1 }}{{ humanizeDuration . }}:{{ end }}`,
			want: "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:14m 59s:100ms:"},
		{name: "humanizeDuration of a string", in: `{{ humanizeDuration "one" }}`, wantErr: `strconv.ParseFloat: parsing "one": invalid syntax`},
		{name: "now", in: `{{ now | date "2006" }}`, want: time.Now().Format("2006")},
		{name: "since", in: `{{ (index .Alerts 1).StartsAt | since | humanizeDuration }}`, want: "1h 0m 0s"},
		{name: "toDate and mustToDate", in: `{{ toDate "2006-01-02" "2024-03-15" | date "02 Jan 2006" }} {{ mustToDate "2006-01-02" "2024-03-16" | date "02 Jan" }}`, want: "15 Mar 2024 16 Mar"},
		{name: "addDuration", in: `{{ (index .Alerts 0).StartsAt | addDuration "90m" }}`, want: "1704102330000"},
		{name: "routeLabels (Vigil's routes have none)", in: `[{{ routeLabels "team" }}]`, want: "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			render := tmpl.Text
			if tc.html {
				render = tmpl.HTML
			}
			got, err := render(tc.in, data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if fn := strings.Join(missingFuncs(), ", "); fn != "" {
		t.Errorf("no case above for Alertmanager's template functions %s", fn)
	}
}

// missingFuncs lists Alertmanager's default template functions that the
// table above does not call, so that a function added by an Alertmanager
// upgrade gets a case.
func missingFuncs() []string {
	tested := []string{"toUpper", "toLower", "title", "trimSpace", "join", "match", "safeHtml", "safeUrl", "urlUnescape", "reReplaceAll",
		"stringSlice", "routeLabels", "date", "tz", "now", "since", "humanizeDuration", "toDate", "mustToDate", "addDuration", "toJson",
		"base64encode", "base64decode", "list", "append", "dict"}
	var missing []string
	for name := range amtemplate.DefaultFuncs {
		found := false
		for _, n := range tested {
			found = found || n == name
		}
		if !found {
			missing = append(missing, name)
		}
	}
	return missing
}

// The data Vigil gives templates is the data Alertmanager's own
// template.Data builds from the same alerts (Alertmanager's TestData,
// with one firing and one resolved alert).
func TestTemplateDataAsAlertmanager(t *testing.T) {
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	alerts := []*Alert{
		{Labels: model.LabelSet{"severity": "warning", "job": "foo"}, StartsAt: start, GeneratorURL: "http://vigil/graph?g0.expr=up",
			Annotations: model.LabelSet{"description": "something happened", "runbook": "foo"}},
		{Labels: model.LabelSet{"severity": "critical", "job": "foo"}, StartsAt: start, EndsAt: start.Add(time.Minute),
			Annotations: model.LabelSet{"description": "something else happened", "runbook": "foo"}},
	}
	ext, _ := url.Parse("http://vigil.example")
	var amAlerts []*amalert.Alert
	for _, a := range alerts {
		amAlerts = append(amAlerts, amalert.New(model.Alert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt,
			EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL}, time.Time{}, false))
	}
	// Alertmanager decides firing or resolved at the wall clock's now.
	want := (&amtemplate.Template{ExternalURL: ext}).Data("team.x (pager)", model.LabelSet{"job": "foo"}, nil, "", amAlerts...)
	d := templateData("team.x (pager)", model.LabelSet{"job": "foo"}, alerts, ext.String(), time.Now())
	d.GroupKey = `{}:{job="foo"}`
	got := d.forTemplates()
	if !reflect.DeepEqual(got.Data, want) {
		t.Errorf("template data\n got %+v\nwant %+v", got.Data, want)
	}

	tmpl, err := LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Text(`{{ .Receiver }}|{{ .Status }}|{{ .ExternalURL }}|{{ .GroupKey }}|{{ .GroupLabels.job }}|{{ .CommonAnnotations.runbook }}|`+
		`{{ range .Alerts.Firing }}{{ .Fingerprint }} {{ .GeneratorURL }} {{ .StartsAt.Format "15:04" }} {{ .EndsAt.IsZero }}{{ end }}|`+
		`{{ range .Alerts.Resolved }}{{ .Labels.severity }} {{ .EndsAt.Format "15:04" }}{{ end }}|{{ .CommonLabels.SortedPairs }}`, d)
	if err != nil {
		t.Fatal(err)
	}
	wantOut := `team\.x \(pager\)|firing|http://vigil.example|{}:{job="foo"}|foo|foo|` + alerts[0].Fingerprint().String() +
		` http://vigil/graph?g0.expr=up 12:00 true|critical 12:01|job=foo`
	if out != wantOut {
		t.Errorf("rendered\n got %q\nwant %q", out, wantOut)
	}

	// Alertmanager's default templates are there as Alertmanager defines
	// them, for the config's templates to call.
	am, err := amtemplate.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"__subject", "__text_alert_list", "__alertmanagerURL", "opsgenie.default.description"} {
		in := `{{ template "` + name + `" . }}`
		if name == "__text_alert_list" {
			in = `{{ template "__text_alert_list" .Alerts }}`
		}
		wantT, err := am.ExecuteTextString(in, want)
		if err != nil {
			t.Fatal(err)
		}
		if gotT, err := tmpl.Text(in, d); err != nil || gotT != wantT {
			t.Errorf("%s: got %q (%v), want Alertmanager's %q", name, gotT, err, wantT)
		}
	}
}

// A templates file of the config redefines a built-in template; its
// errors name the file.
func TestTemplateFilesOverride(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "panic.tmpl")
	os.WriteFile(good, []byte(`{{ define "email.default.subject" }}Panic: {{ .CommonLabels.alertname | toUpper }}{{ end }}`), 0o644)
	tmpl, err := LoadTemplates([]string{good})
	if err != nil {
		t.Fatal(err)
	}
	d := &Data{Status: "firing", CommonLabels: KV{"alertname": "ServiceDown"}}
	if got, err := tmpl.Text(`{{ template "email.default.subject" . }}`, d); err != nil || got != "Panic: SERVICEDOWN" {
		t.Errorf("subject = %q, %v", got, err)
	}
	bad := filepath.Join(dir, "bad.tmpl")
	os.WriteFile(bad, []byte(`{{ define "x" }}{{ .Status | nosuchfunc }}{{ end }}`), 0o644)
	if _, err := LoadTemplates([]string{good, bad}); err == nil || !strings.Contains(err.Error(), "bad.tmpl") || !strings.Contains(err.Error(), `"nosuchfunc" not defined`) {
		t.Errorf("a template calling an unknown function: err = %v", err)
	}
}
