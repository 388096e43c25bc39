package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/alertgroup"
	"github.com/prometheus/alertmanager/api/v2/client/general"
	"github.com/prometheus/alertmanager/api/v2/client/receiver"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/vigil-monitoring/vigil/rules/notify"
)

const amTestConfig = `route:
  receiver: team
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [zone]
receivers:
  - name: team
  - name: pager
`

// Alertmanager's own v2 Go client (the one amtool uses) posts and queries
// alerts and creates, lists and expires silences against Vigil; every
// answer passes the client's OpenAPI validation.
func TestAlertmanagerAPIWithTheRealClient(t *testing.T) {
	c, err := notify.Parse([]byte(amTestConfig))
	if err != nil {
		t.Fatal(err)
	}
	d, err := notify.New(notify.Options{Config: c})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Options{}, Deps{Alertmanager: d, Ready: func() bool { return true },
		Build: BuildInfo{Version: "0.1.0", GoVersion: "go1.26.8"}}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	cli := amclient.NewHTTPClientWithConfig(strfmt.Default, amclient.DefaultTransportConfig().
		WithHost(u.Host).WithBasePath(amclient.DefaultBasePath).WithSchemes([]string{"http"}))

	ls := func(kv ...string) models.LabelSet {
		out := models.LabelSet{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	now := time.Now()
	_, err = cli.Alert.PostAlerts(alert.NewPostAlertsParams().WithAlerts(models.PostableAlerts{
		{Alert: models.Alert{Labels: ls("alertname", "DatabaseConnectionLost", "severity", "critical", "zone", "downtown")},
			Annotations: ls("summary", "db down"), StartsAt: strfmt.DateTime(now.Add(-time.Minute))},
		{Alert: models.Alert{Labels: ls("alertname", "SlowResponseTime", "severity", "warning", "zone", "downtown")}},
		{Alert: models.Alert{Labels: ls("alertname", "SlowResponseTime", "severity", "warning", "zone", "uptown")}},
	}))
	if err != nil {
		t.Fatal(err)
	}

	sid, err := cli.Silence.PostSilences(silence.NewPostSilencesParams().WithSilence(&models.PostableSilence{Silence: models.Silence{
		Matchers:  models.Matchers{{Name: ptr("zone"), Value: ptr("uptown"), IsRegex: ptr(false)}},
		StartsAt:  ptr(strfmt.DateTime(now)),
		EndsAt:    ptr(strfmt.DateTime(now.Add(time.Hour))),
		CreatedBy: ptr("ops"),
		Comment:   ptr("deploying uptown"),
	}}))
	if err != nil {
		t.Fatal(err)
	}
	id := sid.Payload.SilenceID

	alerts, err := cli.Alert.GetAlerts(alert.NewGetAlertsParams())
	if err != nil {
		t.Fatal(err)
	}
	if err := alerts.Payload.Validate(strfmt.Default); err != nil {
		t.Errorf("GET /alerts does not validate: %v", err)
	}
	state := map[string]string{}
	for _, a := range alerts.Payload {
		key := a.Labels["alertname"] + "/" + a.Labels["zone"]
		state[key] = *a.Status.State + " receivers=" + *a.Receivers[0].Name
		if key == "SlowResponseTime/uptown" && (len(a.Status.SilencedBy) != 1 || a.Status.SilencedBy[0] != id) {
			t.Errorf("silencedBy = %v, want [%s]", a.Status.SilencedBy, id)
		}
		if key == "SlowResponseTime/downtown" && len(a.Status.InhibitedBy) != 1 {
			t.Errorf("inhibitedBy = %v", a.Status.InhibitedBy)
		}
	}
	want := map[string]string{
		"DatabaseConnectionLost/downtown": "active receivers=pager",
		"SlowResponseTime/downtown":       "suppressed receivers=team",
		"SlowResponseTime/uptown":         "suppressed receivers=team",
	}
	for k, v := range want {
		if state[k] != v {
			t.Errorf("%s: %q, want %q", k, state[k], v)
		}
	}
	active, err := cli.Alert.GetAlerts(alert.NewGetAlertsParams().WithSilenced(ptr(false)).WithInhibited(ptr(false)).WithFilter([]string{`alertname=~".+"`}))
	if err != nil || len(active.Payload) != 1 {
		t.Fatalf("unmuted alerts: %v, %d", err, len(active.Payload))
	}

	groups, err := cli.Alertgroup.GetAlertGroups(alertgroup.NewGetAlertGroupsParams())
	if err != nil {
		t.Fatal(err)
	}
	if err := groups.Payload.Validate(strfmt.Default); err != nil {
		t.Errorf("GET /alerts/groups does not validate: %v", err)
	}
	if len(groups.Payload) != 2 || *groups.Payload[0].Receiver.Name != "pager" || len(groups.Payload[1].Alerts) != 2 {
		t.Errorf("groups = %+v", groups.Payload)
	}

	sils, err := cli.Silence.GetSilences(silence.NewGetSilencesParams().WithFilter([]string{`zone="uptown"`}))
	if err != nil {
		t.Fatal(err)
	}
	if err := sils.Payload.Validate(strfmt.Default); err != nil {
		t.Errorf("GET /silences does not validate: %v", err)
	}
	if len(sils.Payload) != 1 || *sils.Payload[0].ID != id || *sils.Payload[0].Status.State != "active" || *sils.Payload[0].CreatedBy != "ops" {
		t.Fatalf("silences = %+v", sils.Payload)
	}
	if _, err := cli.Silence.DeleteSilence(silence.NewDeleteSilenceParams().WithSilenceID(strfmt.UUID(id))); err != nil {
		t.Fatal(err)
	}
	one, err := cli.Silence.GetSilence(silence.NewGetSilenceParams().WithSilenceID(strfmt.UUID(id)))
	if err != nil {
		t.Fatal(err)
	}
	if *one.Payload.Status.State != "expired" {
		t.Errorf("after DELETE the silence is %s", *one.Payload.Status.State)
	}
	if _, err := cli.Silence.GetSilence(silence.NewGetSilenceParams().WithSilenceID("00000000-0000-4000-8000-000000000000")); err == nil {
		t.Error("an unknown silence was found")
	} else if _, ok := err.(*silence.GetSilenceNotFound); !ok {
		t.Errorf("unknown silence: %T %v, want GetSilenceNotFound", err, err)
	}

	recv, err := cli.Receiver.GetReceivers(receiver.NewGetReceiversParams())
	if err != nil || len(recv.Payload) != 2 || *recv.Payload[0].Name != "team" {
		t.Fatalf("receivers: %v %+v", err, recv)
	}
	st, err := cli.General.GetStatus(general.NewGetStatusParams())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Payload.Validate(strfmt.Default); err != nil {
		t.Errorf("GET /status does not validate: %v", err)
	}
	if *st.Payload.Cluster.Status != "disabled" || !strings.Contains(*st.Payload.Config.Original, "receiver: pager") || *st.Payload.VersionInfo.Version != "0.1.0" {
		t.Errorf("status = %+v", st.Payload)
	}
}

// Bad input gets Alertmanager's status codes and a message.
func TestAlertmanagerAPIBadInput(t *testing.T) {
	c, _ := notify.Parse([]byte(amTestConfig))
	d, _ := notify.New(notify.Options{Config: c})
	srv := httptest.NewServer(New(Options{}, Deps{Alertmanager: d, Ready: func() bool { return true }}))
	defer srv.Close()
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/api/v2/alerts", `[{"labels":{}}]`, 400, "at least one label pair required"},
		{"POST", "/api/v2/alerts", `{`, 400, "cannot decode the alerts"},
		{"POST", "/api/v2/alerts", `{"labels":{"a":"b"}}`, 400, "the body is a JSON object; send an array of alerts"},
		{"POST", "/api/v2/alerts", `[{"labels":{"a":"b"}},7]`, 400, "alert 1: a JSON number, not an object"},
		{"POST", "/api/v2/alerts", `[{"labels":{"a":1}}]`, 400, `alert 0: labels: \"a\" is a JSON number, not a string`},
		{"POST", "/api/v2/alerts", `[{"labels":{"a":"b"},"annotations":["x"]}]`, 400, "alert 0: annotations is a JSON array, not an object of strings"},
		{"POST", "/api/v2/alerts", `[{"labels":{"a":"b"},"startsAt":"yesterday"}]`, 400, `alert 0: startsAt \"yesterday\" is not an RFC 3339 time`},
		{"POST", "/api/v2/alerts", `[{"labels":{"a":"b"},"endsAt":12}]`, 400, "alert 0: endsAt is a JSON number, not a time"},
		{"POST", "/api/v2/alerts", `[{"labels":{"a":"b"},"generatorURL":false}]`, 400, "alert 0: generatorURL is a JSON false, not a string"},
		{"POST", "/api/v2/alerts", `[{"labels":{"a":"b"}},{"labels":{"":"b"}}]`, 400, `alert 1: invalid name \"\"`},
		{"POST", "/api/v2/alerts", "[{\"labels\":{\"a\":\"\xff\"}}]", 400, `alert 0: invalid value \"\\xff\"`},
		{"POST", "/api/v2/alerts", `[{"labels":{"a":"b"},"startsAt":"2026-11-27T12:00:00Z","endsAt":"2026-11-27T11:00:00Z"}]`, 400, "alert 0: start time must be before end time"},
		{"POST", "/api/v2/silences", `{"matchers":[{"name":"a","value":".*","isRegex":true}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"b"}`, 400, "must not match the empty string"},
		{"GET", "/api/v2/alerts?filter=" + url.QueryEscape(`a=~"("`), "", 400, "bad matcher format"},
		{"DELETE", "/api/v2/silence/nope", "", 404, "silence not found"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(b.String(), tc.want) {
			t.Errorf("%s %s: %d %s, want %d %q", tc.method, tc.path, resp.StatusCode, b.String(), tc.code, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
