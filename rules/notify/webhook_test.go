package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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
