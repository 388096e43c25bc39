//go:build unix

package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawSink is a webhook receiver on 127.0.0.1 that keeps the bodies as
// they came, byte for byte.
type rawSink struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newRawSink(t *testing.T) *rawSink {
	s := &rawSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *rawSink) wait(n int, timeout time.Duration) [][]byte {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		got := append([][]byte(nil), s.bodies...)
		s.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The webhook payload of the binary is byte for byte the real
// Alertmanager's (v0.35.0) for the same alerts under the same routing:
// the first notification of a group, the one after a new alert joined
// it, and the one when all resolved.
func TestWebhookPayloadAsAlertmanager(t *testing.T) {
	amBin, _ := alertmanagerTools(t)
	const ext = "http://alerts.example"
	config := func(url string) string {
		return `route:
  receiver: team.payments
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
receivers:
  - name: team.payments
    webhook_configs: [{url: '` + url + `'}]
`
	}
	amSink, vigilSink := newRawSink(t), newRawSink(t)
	am := startAlertmanager(t, amBin, config(amSink.URL), "--web.external-url="+ext)
	amFile := filepath.Join(t.TempDir(), "alertmanager.yml")
	os.WriteFile(amFile, []byte(config(vigilSink.URL)), 0o644)
	p := startVigilProcess(t, "--config.alertmanager="+amFile, "--rules.builtin=false", "--web.external-url="+ext)
	defer p.Stop()

	// Alerts that started just now, so that both wait for group_wait
	// (an older one makes Alertmanager flush a new group as its first
	// alert arrives, before the second of the same request is in).
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	endsAt := at(time.Hour)
	post := func(body string) {
		t.Helper()
		for _, base := range []string{am.URL, p.BaseURL} {
			resp, err := adminClient().Post(base+"/api/v2/alerts", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST %s/api/v2/alerts = %d", base, resp.StatusCode)
			}
		}
	}
	post(`[{"labels": {"alertname": "CreditsStuck", "job": "billing", "instance": "b:9100", "severity": "warning"},
	        "annotations": {"summary": "credits stuck on b"}, "startsAt": "` + at(-2*time.Millisecond) + `", "endsAt": "` + endsAt + `",
	        "generatorURL": "http://vigil.example/explore?expr=x"},
	       {"labels": {"alertname": "CreditsStuck", "job": "api", "instance": "a:9100", "severity": "critical"},
	        "annotations": {"summary": "credits stuck on a"}, "startsAt": "` + at(-time.Millisecond) + `", "endsAt": "` + endsAt + `"}]`)
	wantAM, gotVigil := amSink.wait(1, 20*time.Second), vigilSink.wait(1, 20*time.Second)
	if len(wantAM) != 1 || len(gotVigil) != 1 {
		t.Fatalf("first notifications: %d from Alertmanager, %d from Vigil", len(wantAM), len(gotVigil))
	}
	if !bytes.Equal(gotVigil[0], wantAM[0]) {
		t.Errorf("first notification\nVigil:        %s\nAlertmanager: %s", gotVigil[0], wantAM[0])
	}
	post(`[{"labels": {"alertname": "CreditsStuck", "instance": "c:9100"}, "startsAt": "` + at(0) + `", "endsAt": "` + endsAt + `"}]`)
	wantAM, gotVigil = amSink.wait(2, 20*time.Second), vigilSink.wait(2, 20*time.Second)
	if len(wantAM) != 2 || len(gotVigil) != 2 {
		t.Fatalf("second notifications: %d from Alertmanager, %d from Vigil", len(wantAM), len(gotVigil))
	}
	if !bytes.Equal(gotVigil[1], wantAM[1]) {
		t.Errorf("after a new alert\nVigil:        %s\nAlertmanager: %s", gotVigil[1], wantAM[1])
	}
	resolvedAt := time.Now().UTC().Format(time.RFC3339Nano)
	post(`[{"labels": {"alertname": "CreditsStuck", "job": "billing", "instance": "b:9100", "severity": "warning"},
	        "annotations": {"summary": "credits stuck on b"}, "startsAt": "` + at(-2*time.Millisecond) + `", "endsAt": "` + resolvedAt + `",
	        "generatorURL": "http://vigil.example/explore?expr=x"},
	       {"labels": {"alertname": "CreditsStuck", "job": "api", "instance": "a:9100", "severity": "critical"},
	        "annotations": {"summary": "credits stuck on a"}, "startsAt": "` + at(-time.Millisecond) + `", "endsAt": "` + resolvedAt + `"},
	       {"labels": {"alertname": "CreditsStuck", "instance": "c:9100"}, "startsAt": "` + at(0) + `", "endsAt": "` + resolvedAt + `"}]`)
	wantAM, gotVigil = amSink.wait(3, 20*time.Second), vigilSink.wait(3, 20*time.Second)
	if len(wantAM) != 3 || len(gotVigil) != 3 {
		t.Fatalf("resolutions: %d from Alertmanager, %d from Vigil", len(wantAM), len(gotVigil))
	}
	if !bytes.Equal(gotVigil[2], wantAM[2]) || !bytes.Contains(gotVigil[2], []byte(`"notification_reason":"all alerts resolved"`)) {
		t.Errorf("all resolved\nVigil:        %s\nAlertmanager: %s", gotVigil[2], wantAM[2])
	}
}
