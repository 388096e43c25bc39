package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// amReceiver is a real HTTP server on 127.0.0.1 standing for an
// Alertmanager: it keeps every request to /api/v2/alerts, and can be told
// to fail or to hold requests.
type amReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []amRequest
	fail     []int         // status codes to answer first, one per request
	hold     chan struct{} // when set, requests wait until it is closed
}

type amRequest struct {
	path, auth, userAgent, contentType string
	alerts                             []map[string]any
}

func newAMReceiver(t *testing.T) *amReceiver {
	r := &amReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		hold := r.hold
		r.mu.Unlock()
		if hold != nil {
			<-hold
		}
		body, _ := io.ReadAll(req.Body)
		var alerts []map[string]any
		if err := json.Unmarshal(body, &alerts); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.fail) > 0 {
			code := r.fail[0]
			r.fail = r.fail[1:]
			http.Error(w, "not now", code)
			return
		}
		r.requests = append(r.requests, amRequest{path: req.URL.Path, auth: req.Header.Get("Authorization"), userAgent: req.UserAgent(),
			contentType: req.Header.Get("Content-Type"), alerts: alerts})
	}))
	t.Cleanup(r.Close)
	return r
}

// wait returns the requests received, waiting up to 10s for n alerts.
func (r *amReceiver) wait(n int) []amRequest { return r.waitFor(n, 10*time.Second) }

// waitFor returns the requests received, waiting up to timeout for n
// alerts.
func (r *amReceiver) waitFor(n int, timeout time.Duration) []amRequest {
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		got := slices.Clone(r.requests)
		r.mu.Unlock()
		total := 0
		for _, req := range got {
			total += len(req.alerts)
		}
		if total >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *amReceiver) alertNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, req := range r.requests {
		for _, a := range req.alerts {
			ls := a["labels"].(map[string]any)
			out = append(out, ls["alertname"].(string))
		}
	}
	slices.Sort(out)
	return out
}

func hostOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

func startForwarder(t *testing.T, opts ForwarderOptions, promYML string) (*Forwarder, context.CancelFunc, chan struct{}) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(file, []byte(promYML), 0o644)
	c, err := LoadAlertingFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f := NewForwarder(opts)
	if err := f.ApplyConfig(c); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return f, cancel, done
}

func firingAlert(name string, extra ...string) *Alert {
	a := alert(append([]string{"alertname", name}, extra...)...)
	a.StartsAt = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	a.EndsAt = time.Now().Add(4 * time.Minute)
	a.GeneratorURL = "http://vigil.example/explore"
	return a
}

// Alertmanagers from static_configs (with path_prefix, basic auth from a
// password file) and file_sd_configs; relabel_configs drop one; the
// external labels and the global and per-Alertmanager
// alert_relabel_configs shape what each receives, in Alertmanager's
// PostableAlert JSON.
func TestForwardToAlertmanagers(t *testing.T) {
	am1, am2, am3 := newAMReceiver(t), newAMReceiver(t), newAMReceiver(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "am-password"), []byte("s3cret\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "ams.json"), []byte(`[{"targets": ["`+hostOf(am2.Server)+`"], "labels": {"cluster": "b"}},
		{"targets": ["`+hostOf(am3.Server)+`"], "labels": {"cluster": "retired"}}]`), 0o644)
	f, _, _ := startForwarder(t, ForwarderOptions{UserAgent: "Vigil/test"}, `
global:
  scrape_interval: 15s
  external_labels: {site: dc1, severity: none}
scrape_configs: [{job_name: x, static_configs: [{targets: ['127.0.0.1:1']}]}]
alerting:
  alert_relabel_configs:
    - {source_labels: [severity], regex: debug, action: drop}
  alertmanagers:
    - path_prefix: /am
      basic_auth: {username: vigil, password_file: '`+filepath.Join(dir, "am-password")+`'}
      static_configs: [{targets: ['`+hostOf(am1.Server)+`']}]
    - file_sd_configs: [{files: ['`+filepath.Join(dir, "*.json")+`']}]
      relabel_configs:
        - {source_labels: [cluster], regex: retired, action: drop}
      alert_relabel_configs:
        - {source_labels: [team], regex: payments, action: drop}
`)
	active, dropped := f.Alertmanagers()
	want := []string{am1.URL + "/am/api/v2/alerts", am2.URL + "/api/v2/alerts"}
	if !slices.Equal(active, want) || !slices.Equal(dropped, []string{am3.URL + "/api/v2/alerts"}) {
		t.Fatalf("Alertmanagers() = %v, %v; want %v and %s dropped", active, dropped, want, am3.URL)
	}
	f.Send([]*Alert{firingAlert("HighErrorRate", "severity", "critical"), firingAlert("Noise", "severity", "debug"),
		firingAlert("CreditsStuck", "team", "payments", "severity", "warning")})
	reqs := am1.wait(2)
	if got := am1.alertNames(); !slices.Equal(got, []string{"CreditsStuck", "HighErrorRate"}) {
		t.Fatalf("am1 got %v", got)
	}
	r := reqs[0]
	if r.path != "/am/api/v2/alerts" || r.auth != "Basic dmlnaWw6czNjcmV0" || r.userAgent != "Vigil/test" || r.contentType != "application/json" {
		t.Errorf("request: %+v", r)
	}
	for _, a := range r.alerts {
		ls := a["labels"].(map[string]any)
		if ls["site"] != "dc1" || ls["severity"] == "none" {
			t.Errorf("external labels: %v (site added, severity kept)", ls)
		}
		if a["startsAt"] != "2026-11-27T12:00:00Z" || a["endsAt"] == nil || a["generatorURL"] != "http://vigil.example/explore" ||
			a["annotations"].(map[string]any)["summary"] != "it broke" {
			t.Errorf("alert: %v", a)
		}
	}
	am2.wait(1)
	if got := am2.alertNames(); !slices.Equal(got, []string{"HighErrorRate"}) {
		t.Errorf("am2 got %v (the payments team's alerts are dropped for it)", got)
	}
	if got := am3.alertNames(); len(got) != 0 {
		t.Errorf("the dropped Alertmanager got %v", got)
	}
}

// An alert that does not change is sent again each resend delay; a
// resolution goes out at once.
func TestForwardResendDelay(t *testing.T) {
	am := newAMReceiver(t)
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	f, _, _ := startForwarder(t, ForwarderOptions{Now: clk.Now, ResendDelay: time.Minute},
		"alerting: {alertmanagers: [{static_configs: [{targets: ['"+hostOf(am.Server)+"']}]}]}\n")
	a := firingAlert("ServiceDown")
	a.EndsAt = clk.Now().Add(time.Hour)
	sends := 0
	for i, tc := range []struct {
		after    time.Duration
		resolved bool
		sent     bool
	}{
		{0, false, true},
		{30 * time.Second, false, false},
		{30 * time.Second, false, true}, // a minute after the first
		{15 * time.Second, true, true},  // resolved: at once
		{15 * time.Second, true, false},
		{45 * time.Second, true, true}, // still handed over: again after a minute
	} {
		clk.Add(tc.after)
		c := *a
		if tc.resolved {
			c.EndsAt = clk.Now().Add(-time.Second)
		}
		f.Send([]*Alert{&c})
		if tc.sent {
			sends++
		}
		// A request that should not come is given half a second.
		if got := len(am.waitFor(sends+1, 500*time.Millisecond)); got != sends {
			t.Fatalf("step %d: %d requests, want %d", i, got, sends)
		}
	}
}

// A full queue drops its oldest alerts; batches hold at most
// MaxBatchSize; a failure that may pass is retried, one that will not
// is dropped; the counts are in the metrics.
func TestForwardQueueBatchesRetries(t *testing.T) {
	am := newAMReceiver(t)
	hold := make(chan struct{})
	am.hold = hold
	f, _, _ := startForwarder(t, ForwarderOptions{QueueCapacity: 10, MaxBatchSize: 4},
		"alerting: {alertmanagers: [{timeout: 20s, static_configs: [{targets: ['"+hostOf(am.Server)+"']}]}]}\n")
	loop := f.sets[0].loops[am.URL+"/api/v2/alerts"]
	f.Send([]*Alert{firingAlert("First")}) // taken by the loop, held by the receiver
	waitFor(t, func() bool { loop.mu.Lock(); defer loop.mu.Unlock(); return len(loop.queue) == 0 })
	var as []*Alert
	for i := range 14 {
		as = append(as, firingAlert("A", "i", string(rune('a'+i))))
	}
	f.Send(as) // 14 into a queue of 10: the 4 oldest dropped
	if got := loop.dropped.Get(); got != 4 {
		t.Errorf("dropped = %d, want 4", got)
	}
	am.mu.Lock()
	am.hold = nil
	am.mu.Unlock()
	close(hold)
	reqs := am.wait(11)
	total := 0
	for _, r := range reqs {
		if len(r.alerts) > 4 {
			t.Errorf("a batch of %d alerts, more than MaxBatchSize 4", len(r.alerts))
		}
		total += len(r.alerts)
	}
	if total != 11 || loop.sent.Get() != 11 {
		t.Errorf("%d alerts received, %d counted sent; want 11", total, loop.sent.Get())
	}
	first := reqs[1].alerts[0]["labels"].(map[string]any)["i"]
	if first != "e" {
		t.Errorf("the first queued alert sent is i=%v, want e (a-d were the oldest)", first)
	}

	am.mu.Lock()
	am.fail = []int{503, 500}
	am.mu.Unlock()
	f.Send([]*Alert{firingAlert("Retried")})
	am.wait(12)
	if got := am.alertNames(); !slices.Contains(got, "Retried") || loop.errors.Get() != 2 || loop.dropped.Get() != 4 {
		t.Errorf("after two 5xx: received %v, errors %d (want 2), dropped %d (want 4)", got, loop.errors.Get(), loop.dropped.Get())
	}
	am.mu.Lock()
	am.fail = []int{400}
	am.mu.Unlock()
	f.Send([]*Alert{firingAlert("Refused")})
	waitFor(t, func() bool { return loop.dropped.Get() == 5 })
	if slices.Contains(am.alertNames(), "Refused") || loop.errors.Get() != 3 {
		t.Errorf("a 400 is not retried: errors %d, want 3", loop.errors.Get())
	}
}

// An Alertmanager that does not answer: the batch is tried three times,
// then dropped and counted, and the forwarder goes on.
func TestForwardUnreachable(t *testing.T) {
	f, _, _ := startForwarder(t, ForwarderOptions{}, "alerting: {alertmanagers: [{timeout: 1s, static_configs: [{targets: ['127.0.0.1:1']}]}]}\n")
	loop := f.sets[0].loops["http://127.0.0.1:1/api/v2/alerts"]
	f.Send([]*Alert{firingAlert("Lost"), firingAlert("AlsoLost")})
	waitFor(t, func() bool { return loop.dropped.Get() == 2 })
	if loop.errors.Get() != 6 || loop.sent.Get() != 0 {
		t.Errorf("errors %d (want 3 attempts × 2 alerts), sent %d", loop.errors.Get(), loop.sent.Get())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A file_sd file that changes moves the alerts to the new Alertmanager;
// the queue of the one gone is stopped. A file that does not parse keeps
// its last good Alertmanagers; a file removed takes its own away.
func TestForwardFileSDChange(t *testing.T) {
	am1, am2 := newAMReceiver(t), newAMReceiver(t)
	dir := t.TempDir()
	sd := filepath.Join(dir, "ams.yml")
	os.WriteFile(sd, []byte("- targets: ['"+hostOf(am1.Server)+"']\n"), 0o644)
	f, _, _ := startForwarder(t, ForwarderOptions{}, "alerting: {alertmanagers: [{file_sd_configs: [{files: ['"+sd+"'], refresh_interval: 1m}]}]}\n")
	f.Send([]*Alert{firingAlert("One")})
	am1.wait(1)
	os.WriteFile(sd, []byte("- targets: ['"+hostOf(am2.Server)+"']\n"), 0o644)
	f.discover() // what Run does every FileSDInterval
	if active, _ := f.Alertmanagers(); !slices.Equal(active, []string{am2.URL + "/api/v2/alerts"}) {
		t.Fatalf("active = %v", active)
	}
	f.Send([]*Alert{firingAlert("Two")})
	am2.wait(1)
	if got := am1.alertNames(); !slices.Equal(got, []string{"One"}) {
		t.Errorf("am1 got %v", got)
	}
	if got := am2.alertNames(); !slices.Equal(got, []string{"Two"}) {
		t.Errorf("am2 got %v", got)
	}
	os.WriteFile(sd, []byte("- targets: ['"), 0o644) // caught half written
	f.discover()
	if active, _ := f.Alertmanagers(); !slices.Equal(active, []string{am2.URL + "/api/v2/alerts"}) {
		t.Errorf("after a broken read the file's last good Alertmanagers stay: %v", active)
	}
	os.Remove(sd)
	f.discover()
	if active, _ := f.Alertmanagers(); len(active) != 0 {
		t.Errorf("the file is gone, its Alertmanagers still active: %v", active)
	}
}

// Stopping sends what is queued.
func TestForwardDrainsOnStop(t *testing.T) {
	am := newAMReceiver(t)
	hold := make(chan struct{})
	am.hold = hold
	f, cancel, done := startForwarder(t, ForwarderOptions{},
		"alerting: {alertmanagers: [{static_configs: [{targets: ['"+hostOf(am.Server)+"']}]}]}\n")
	f.Send([]*Alert{firingAlert("First")})
	loop := f.sets[0].loops[am.URL+"/api/v2/alerts"]
	waitFor(t, func() bool { loop.mu.Lock(); defer loop.mu.Unlock(); return len(loop.queue) == 0 })
	f.Send([]*Alert{firingAlert("Queued")})
	cancel()
	am.mu.Lock()
	am.hold = nil
	am.mu.Unlock()
	close(hold)
	<-done
	if got := am.alertNames(); !slices.Equal(got, []string{"First", "Queued"}) {
		t.Errorf("received %v by the end of the stop", got)
	}
}

// What Vigil cannot do with an alerting section is an error naming the
// option, its line and what to do.
func TestAlertingConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"alerting:\n  alertmanagers:\n    - dns_sd_configs: [{names: [am.example]}]\n", "line 3: dns_sd_configs is not supported for Alertmanagers: list them in static_configs"},
		{"alerting:\n  alertmanagers:\n    - oauth2: {client_id: x}\n      static_configs: [{targets: ['am:9093']}]\n", `line 3: unsupported option "oauth2" in alerting.alertmanagers`},
		{"alerting: {alertmanagers: [{api_version: v1, static_configs: [{targets: ['am:9093']}]}]}\n", "alerting.alertmanagers[0]: api_version v1: Alertmanager's API v1 is gone"},
		{"alerting: {alertmanagers: [{static_configs: [{targets: ['http://am:9093']}]}]}\n", `alerting.alertmanagers[0]: static_configs: "http://am:9093" is not host:port`},
		{"alerting: {alertmanagers: [{scheme: ftp, static_configs: [{targets: ['am:9093']}]}]}\n", `scheme "ftp": must be http or https`},
		{"alerting: {alertmanagers: [{}]}\n", "no Alertmanager given: add static_configs or file_sd_configs"},
		{"alerting: {alertmanagers: [{basic_auth: {username: a}, authorization: {credentials: b}, static_configs: [{targets: ['am:9093']}]}]}\n", "give one of basic_auth, authorization and bearer_token"},
		{"alerting: {alert_relabel_configs: [{source_labels: [a], regex: '(', action: drop}]}\n", "error parsing regexp: missing closing )"},
		{"alerting: {alertmanagers: [{tls_config: {ca_file: missing.pem}, static_configs: [{targets: ['am:9093']}]}]}\n", "cannot read ca_file"},
	} {
		_, err := ParseAlerting([]byte(tc.yaml), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
	c, err := ParseAlerting([]byte("global: {scrape_interval: 15s}\nscrape_configs: []\nrule_files: [a.yml]\n"), "")
	if err != nil || len(c.Alertmanagers) != 0 {
		t.Errorf("a prometheus.yml without alerting: %v, %+v", err, c)
	}
}
