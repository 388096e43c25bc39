package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/vigil-monitoring/vigil/rules/notify"
)

// webhookSink is a real webhook receiver on 127.0.0.1.
type webhookSink struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []notify.WebhookMessage
}

func newWebhookSink(t *testing.T) *webhookSink {
	s := &webhookSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m notify.WebhookMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body %s: %v", b, err)
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

// wait returns the messages received, waiting up to timeout for at
// least n of them.
func (s *webhookSink) wait(n int, timeout time.Duration) []notify.WebhookMessage {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		got := slices.Clone(s.msgs)
		s.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func instances(m notify.WebhookMessage) []string {
	var out []string
	for _, a := range m.Alerts {
		out = append(out, a.Labels["instance"]+":"+a.Status)
	}
	slices.Sort(out)
	return out
}

// The running binary, driven by Alertmanager's own v2 client as admin:
// alerts posted through /api/v2/alerts reach the webhook once per group,
// a silence suppresses, and across a restart in the middle of the group
// nothing is sent twice and the resolution still arrives.
func TestNotificationsThroughTheBinary(t *testing.T) {
	sink := newWebhookSink(t)
	dir := t.TempDir()
	amFile := filepath.Join(dir, "alertmanager.yml")
	os.WriteFile(amFile, []byte(`route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: '`+sink.URL+`/hook'}]
`), 0o644)
	dataDir := filepath.Join(dir, "data")
	args := []string{"--data-dir=" + dataDir, "--config.alertmanager=" + amFile}
	base, stop := startVigil(t, args...)
	cli := adminAMClient(base)

	sid, err := cli.Silence.PostSilences(silence.NewPostSilencesParams().WithSilence(&models.PostableSilence{Silence: models.Silence{
		Matchers:  models.Matchers{{Name: ptrTo("instance"), Value: ptrTo("c"), IsRegex: ptrTo(false)}},
		StartsAt:  ptrTo(strfmt.DateTime(time.Now())),
		EndsAt:    ptrTo(strfmt.DateTime(time.Now().Add(time.Hour))),
		CreatedBy: ptrTo("ops"),
		Comment:   ptrTo("c is being replaced"),
	}}))
	if err != nil {
		t.Fatal(err)
	}
	post := func(endsAt time.Time, inst ...string) { postInstances(t, cli, "PanicQueueStuck", endsAt, inst...) }
	post(time.Now().Add(5*time.Minute), "a", "b", "c")
	got := sink.wait(1, 15*time.Second)
	if len(got) != 1 || !slices.Equal(instances(got[0]), []string{"a:firing", "b:firing"}) || got[0].Receiver != "hook" {
		t.Fatalf("first notification: %d messages, %+v", len(got), got)
	}
	stop()

	base, stop = startVigil(t, args...)
	defer stop()
	cli = adminAMClient(base)
	post(time.Now().Add(5*time.Minute), "a", "b", "c") // Prometheus sends its alerts again
	if got := sink.wait(2, 4*time.Second); len(got) != 1 {
		t.Fatalf("after the restart: %d messages, want still 1: %+v", len(got), got[1:])
	}
	sils, err := cli.Silence.GetSilences(silence.NewGetSilencesParams())
	if err != nil || len(sils.Payload) != 1 || *sils.Payload[0].ID != sid.Payload.SilenceID || *sils.Payload[0].Status.State != "active" {
		t.Fatalf("silences after the restart: %v %+v", err, sils)
	}
	post(time.Now(), "b")
	got = sink.wait(2, 15*time.Second)
	if len(got) != 2 || !slices.Equal(instances(got[1]), []string{"a:firing", "b:resolved"}) {
		t.Fatalf("resolution after the restart: %+v", got)
	}
	if _, err := cli.Silence.DeleteSilence(silence.NewDeleteSilenceParams().WithSilenceID(strfmt.UUID(sid.Payload.SilenceID))); err != nil {
		t.Fatal(err)
	}
	got = sink.wait(3, 15*time.Second)
	if len(got) != 3 || !slices.Equal(instances(got[2]), []string{"a:firing", "c:firing"}) {
		t.Fatalf("after expiring the silence: %+v", got)
	}
}

func adminAMClient(baseURL string) *amclient.AlertmanagerAPI {
	u, _ := url.Parse(baseURL)
	rt := httptransport.New(u.Host, amclient.DefaultBasePath, []string{"http"})
	rt.DefaultAuthentication = httptransport.BasicAuth(testAdminUser, testAdminPassword)
	return amclient.New(rt, strfmt.Default)
}

func ptrTo[T any](v T) *T { return &v }

// postInstances posts, through Alertmanager's client, the alert named
// alertname for each instance, with a summary, ending at endsAt.
func postInstances(t *testing.T, cli *amclient.AlertmanagerAPI, alertname string, endsAt time.Time, inst ...string) {
	t.Helper()
	var as models.PostableAlerts
	for _, i := range inst {
		as = append(as, &models.PostableAlert{Alert: models.Alert{Labels: models.LabelSet{"alertname": alertname, "instance": i}},
			Annotations: models.LabelSet{"summary": "queue stuck on " + i}, EndsAt: strfmt.DateTime(endsAt)})
	}
	if _, err := cli.Alert.PostAlerts(alert.NewPostAlertsParams().WithAlerts(as)); err != nil {
		t.Fatal(err)
	}
}
