package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// The payload has Alertmanager's version-4 field names in Alertmanager's
// order, max_alerts truncates, and hmac_secret signs the body.
func TestWebhookPayloadAndSignature(t *testing.T) {
	var body []byte
	var sig string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		sig = r.Header.Get(SignatureHeader)
	}))
	defer srv.Close()
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	alerts := []*Alert{
		{Labels: model.LabelSet{"alertname": "ServiceDown", "job": "api"}, Annotations: model.LabelSet{"summary": "api is down"}, StartsAt: start, GeneratorURL: "http://vigil/graph"},
		{Labels: model.LabelSet{"alertname": "ServiceDown", "job": "db"}, Annotations: model.LabelSet{"summary": "db is down"}, StartsAt: start, EndsAt: start.Add(time.Minute)},
	}
	d := templateData("pager", model.LabelSet{"alertname": "ServiceDown"}, alerts, "http://vigil.example", start.Add(2*time.Minute))
	d.NotificationReason = reasonFirst
	w, err := newWebhook(&WebhookConfig{URL: srv.URL, MaxAlerts: 1, HMACSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Notify(context.Background(), `{}:{alertname="ServiceDown"}`, d); err != nil {
		t.Fatal(err)
	}
	const want = `{"receiver":"pager","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"ServiceDown","job":"api"},"annotations":{"summary":"api is down"},"startsAt":"2026-11-27T12:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://vigil/graph","fingerprint":"` +
		`FP"}],"notification_reason":"first notification","groupLabels":{"alertname":"ServiceDown"},"commonLabels":{"alertname":"ServiceDown"},"commonAnnotations":{},"routeLabels":{},"externalURL":"http://vigil.example","version":"4","groupKey":"{}:{alertname=\"ServiceDown\"}","truncatedAlerts":1}` + "\n"
	fp := alerts[0].Fingerprint().String()
	if got := string(body); got != replaceFP(want, fp) {
		t.Errorf("payload\n got %s\nwant %s", got, replaceFP(want, fp))
	}
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); sig != want {
		t.Errorf("signature %q, want %q", sig, want)
	}
}

func replaceFP(s, fp string) string {
	for i := 0; i+2 <= len(s); i++ {
		if s[i:i+2] == "FP" {
			return s[:i] + fp + s[i+2:]
		}
	}
	return s
}

// The appended payload is byte for byte encoding/json's (Alertmanager's
// encoder): escaping, sorted keys, nil and empty maps, zones, truncation.
func TestWebhookPayloadAsEncodingJSON(t *testing.T) {
	start := time.Date(2026, 11, 27, 12, 0, 0, 123456000, time.FixedZone("", -5*3600-30*60))
	alerts := []*Alert{
		{Labels: model.LabelSet{"alertname": "Down <&>", "job": "a\"\\\n\t\u2028", "zz": "\xff日本", "a_1": ""}, Annotations: model.LabelSet{"summary": "<b>x</b>"},
			StartsAt: start, EndsAt: start.Add(time.Hour), GeneratorURL: "http://vigil/graph?g0.expr=a&b"},
		{Labels: model.LabelSet{"alertname": "Down <&>", "job": "b"}, StartsAt: start.UTC(), EndsAt: start.Add(-time.Minute)},
	}
	for _, m := range []WebhookMessage{
		{Data: templateData("team|pager", model.LabelSet{"alertname": "Down <&>"}, alerts, "http://vigil.example/?x=<", start), Version: "4", GroupKey: `{}/{team="x"}:{alertname="Down <&>"}`},
		{Data: &Data{Receiver: "r", Status: "firing", RouteLabels: KV{}}, Version: "4", TruncatedAlerts: 18446744073709551615},
		{Version: "4"},
	} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(m); err != nil {
			t.Fatal(err)
		}
		got, err := appendWebhookMessage(nil, &m)
		if err != nil || string(got) != want.String() {
			t.Errorf("appended (%v):\n%s\nencoding/json:\n%s", err, got, want.String())
		}
	}
	bad := WebhookMessage{Data: &Data{Alerts: TemplateAlerts{{StartsAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}}
	if _, err := appendWebhookMessage(nil, &bad); err == nil {
		t.Error("a time in year 10000 was encoded; encoding/json refuses it")
	}
}
