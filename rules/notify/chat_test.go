package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// capture is an HTTP endpoint on 127.0.0.1 that decodes what it gets.
func capture(t *testing.T, into any) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(into); err != nil {
			t.Errorf("decoding: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func chatData(status string) *Data {
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	a := &Alert{Labels: model.LabelSet{"alertname": "ServiceDown", "job": "api"}, Annotations: model.LabelSet{"summary": "api is down"}, StartsAt: start}
	now := start.Add(time.Minute)
	if status == "resolved" {
		a.EndsAt = now
	}
	return templateData("oncall", model.LabelSet{"alertname": "ServiceDown"}, []*Alert{a}, "http://vigil.example", now)
}

func TestSlackAndPagerDuty(t *testing.T) {
	tmpl, err := LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	var sm slackMessage
	s := &slack{cfg: &SlackConfig{APIURL: capture(t, &sm).URL, Channel: "#alerts"}, tmpl: tmpl, client: http.DefaultClient}
	if err := s.Notify(context.Background(), "g", chatData("firing")); err != nil {
		t.Fatal(err)
	}
	if sm.Channel != "#alerts" || len(sm.Attachments) != 1 || sm.Attachments[0].Title != "[FIRING:1] ServiceDown" ||
		sm.Attachments[0].Color != "danger" || !strings.Contains(sm.Attachments[0].Text, "*api is down*") ||
		sm.Attachments[0].TitleLink != "http://vigil.example/alerts" {
		t.Errorf("slack message = %+v", sm)
	}

	for _, status := range []string{"firing", "resolved"} {
		var ev pagerdutyEvent
		p := &pagerduty{cfg: &PagerdutyConfig{URL: capture(t, &ev).URL, RoutingKey: "R0UT1NG"}, tmpl: tmpl, client: http.DefaultClient}
		if err := p.Notify(context.Background(), `{}:{alertname="ServiceDown"}`, chatData(status)); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(`{}:{alertname="ServiceDown"}`))
		wantAction := map[string]string{"firing": "trigger", "resolved": "resolve"}[status]
		if ev.RoutingKey != "R0UT1NG" || ev.DedupKey != hex.EncodeToString(sum[:]) || ev.EventAction != wantAction ||
			ev.Payload == nil || ev.Payload.Severity != "error" || ev.Payload.Source != "Vigil" || !strings.Contains(ev.Payload.Summary, "ServiceDown") {
			t.Errorf("%s: pagerduty event = %+v %+v", status, ev, ev.Payload)
		}
	}

	if _, err := Parse([]byte("route: {receiver: p}\nreceivers: [{name: p, pagerduty_configs: [{service_key: x}]}]")); err == nil || !strings.Contains(err.Error(), "Events API v1") {
		t.Errorf("service_key: err = %v", err)
	}
	if _, err := Parse([]byte("route: {receiver: s}\nreceivers: [{name: s, slack_configs: [{channel: x}]}]")); err == nil || !strings.Contains(err.Error(), "no api_url set") {
		t.Errorf("slack without api_url: err = %v", err)
	}
	c, err := Parse([]byte("global: {slack_api_url: 'http://127.0.0.1:1/x'}\nroute: {receiver: s}\nreceivers: [{name: s, slack_configs: [{channel: x}]}]"))
	if err != nil || c.Receivers[0].SlackConfigs[0].APIURL != "http://127.0.0.1:1/x" {
		t.Errorf("global.slack_api_url: %v", err)
	}
}
