//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAlertsAgainstAlertmanager is issue 6's benchmark binary
// against binary: the vigil binary and Alertmanager's (v0.35.0, built as
// the amtool tests build it) each take 10,000 alerts posted to
// /api/v2/alerts in batches of 100, in 100 groups through a 20-route
// tree, and deliver them to a webhook in this process (group_wait 0s,
// group_interval 1s). Each iteration starts both afresh, one after the
// other, the order alternating, so that both see the same disturbance
// of a shared machine. It reports the medians over the iterations of,
// for each: the alerts accepted per second, the delay from the last post
// until every alert was delivered at least once, the mean over the alerts
// of the delay from the answer to its post to its first delivery, that
// mean again with the posts paced at 10,000 alerts/s (and
// from the first post until every alert was delivered:
// the one who posts faster has its last post earlier in the groups' first
// group_interval, so a longer wait from it to the second flush), and the
// CPU time of its
// process (user and system, from /proc) from the first post until then,
// per alert; that last figure depends least on the machine's load. Vigil
// keeps its alerts in state.db, Alertmanager in memory. Each run is
// logged with the load average (-v). Run it with
//
//	go test ./cmd/vigil -run '^$' -bench AlertsAgainstAlertmanager -benchtime 4x -v
func BenchmarkAlertsAgainstAlertmanager(b *testing.B) {
	amBin, _ := alertmanagerTools(b)
	hook := newAlertCounter()
	defer hook.Close()
	config := alertBenchConfig(hook.URL)
	dir := b.TempDir()
	amFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(amFile, []byte(config), 0o644); err != nil {
		b.Fatal(err)
	}
	bodies := alertBenchBodies()

	products := map[string]func() (url string, pid int, stop func()){
		"vigil": func() (string, int, func()) {
			p := startVigilProcess(b, "--auth=none", "--config.alertmanager="+amFile)
			return p.BaseURL, p.cmd.Process.Pid, p.Stop
		},
		"alertmanager": func() (string, int, func()) {
			am := startAlertmanager(b, amBin, config)
			return am.URL, am.cmd.Process.Pid, func() { am.cmd.Process.Kill(); am.cmd.Wait() }
		},
	}
	results := map[string][]alertBenchResult{}
	b.ResetTimer()
	for i := range b.N {
		order := []string{"vigil", "alertmanager"}
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, name := range order {
			url, pid, stop := products[name]()
			r := runAlertBench(b, url, pid, bodies, hook, 0)
			stop()
			// The same posts at a pace both take, so that the delays
			// compare the dispatchers rather than how fast each accepts.
			url, pid, stop = products[name]()
			r.pacedMeanDelay = runAlertBench(b, url, pid, bodies, hook, alertBenchPace).meanDelay
			stop()
			b.Logf("%-12s %8.0f alerts/s  %6.0f ms post-to-webhook  %6.0f ms first-post-to-webhook  %6.0f ms mean-alert-post-to-webhook  %6.0f ms paced  %5.1f cpu-µs/alert  (load average %s)",
				name, r.rate, r.delay.Seconds()*1000, r.total.Seconds()*1000, r.meanDelay.Seconds()*1000, r.pacedMeanDelay.Seconds()*1000, r.cpuPerAlert, loadAverage())
			results[name] = append(results[name], r)
		}
	}
	b.StopTimer()
	for name, rs := range results {
		b.ReportMetric(median(rs, func(r alertBenchResult) float64 { return r.rate }), name+"-alerts/s")
		b.ReportMetric(median(rs, func(r alertBenchResult) float64 { return r.delay.Seconds() * 1000 }), name+"-ms-post-to-webhook")
		b.ReportMetric(median(rs, func(r alertBenchResult) float64 { return r.total.Seconds() * 1000 }), name+"-ms-first-post-to-webhook")
		b.ReportMetric(median(rs, func(r alertBenchResult) float64 { return r.meanDelay.Seconds() * 1000 }), name+"-ms-mean-alert-post-to-webhook")
		b.ReportMetric(median(rs, func(r alertBenchResult) float64 { return r.pacedMeanDelay.Seconds() * 1000 }), name+"-ms-paced-mean-alert-post-to-webhook")
		b.ReportMetric(median(rs, func(r alertBenchResult) float64 { return r.cpuPerAlert }), name+"-cpu-µs/alert")
	}
}

const alertBenchAlerts, alertBenchGroups, alertBenchRoutes, alertBenchBatch = 10_000, 100, 20, 100

// alertBenchConfig is the routing tree: 20 routes by team under a root
// grouping by alertname, all to one webhook.
func alertBenchConfig(hookURL string) string {
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  routes:\n")
	for i := range alertBenchRoutes {
		fmt.Fprintf(&cfg, "    - matchers: ['team=\"t%02d\"']\n      receiver: hook\n", i)
	}
	fmt.Fprintf(&cfg, "receivers:\n  - name: hook\n    webhook_configs: [{url: '%s'}]\n", hookURL)
	return cfg.String()
}

// alertBenchBodies are the posts, encoded before the clock starts.
func alertBenchBodies() [][]byte {
	var bodies [][]byte
	for first := 0; first < alertBenchAlerts; first += alertBenchBatch {
		var as []map[string]any
		for i := first; i < first+alertBenchBatch; i++ {
			as = append(as, map[string]any{"labels": map[string]string{
				"alertname": fmt.Sprintf("Alert%03d", i%alertBenchGroups), "team": fmt.Sprintf("t%02d", i%alertBenchGroups%alertBenchRoutes),
				"instance": fmt.Sprintf("host-%05d", i), "severity": "warning"},
				"annotations": map[string]string{"summary": "benchmark"}})
		}
		body, _ := json.Marshal(as)
		bodies = append(bodies, body)
	}
	return bodies
}

// alertCounter is the webhook: it counts the alerts (by instance)
// delivered at least once since the last reset.
type alertCounter struct {
	*httptest.Server
	mu        sync.Mutex
	seen      map[string]time.Time // when each instance's alert first arrived
	delivered atomic.Int64
}

func newAlertCounter() *alertCounter {
	c := &alertCounter{seen: map[string]time.Time{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			// Cut short: the sender gave up on it (a deadline missed on
			// a loaded machine) and sends the alerts again.
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		now := time.Now()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, a := range m.Alerts {
			if _, ok := c.seen[a.Labels["instance"]]; !ok {
				c.seen[a.Labels["instance"]] = now
				c.delivered.Add(1)
			}
		}
	}))
	return c
}

func (c *alertCounter) reset() {
	c.mu.Lock()
	clear(c.seen)
	c.delivered.Store(0)
	c.mu.Unlock()
}

type alertBenchResult struct {
	rate        float64       // alerts accepted per second
	delay       time.Duration // from the last post until every alert was delivered
	total       time.Duration // from the first post until then
	meanDelay   time.Duration // from each alert's post to its first delivery, the mean
	cpuPerAlert float64       // µs

	pacedMeanDelay time.Duration // meanDelay with the posts at alertBenchPace
}

// alertBenchPace spaces the batches of the paced run: 10,000 alerts/s,
// well within what either product accepts on this machine.
const alertBenchPace = 10 * time.Millisecond

// runAlertBench posts the bodies to baseURL, one at a time, a batch every
// pace at most (flat out if 0), and waits until every alert reached the
// webhook.
func runAlertBench(b *testing.B, baseURL string, pid int, bodies [][]byte, hook *alertCounter, pace time.Duration) alertBenchResult {
	hook.reset()
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	cpu0 := processCPU(b, pid)
	start := time.Now()
	postedAt := make([]time.Time, len(bodies))
	for i, body := range bodies {
		if pace > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * pace)))
		}
		resp, err := client.Post(baseURL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatalf("POST %s/api/v2/alerts: %v", baseURL, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("POST %s/api/v2/alerts: %s", baseURL, resp.Status)
		}
		postedAt[i] = time.Now()
	}
	posted := time.Now()
	for hook.delivered.Load() < alertBenchAlerts {
		if time.Since(posted) > time.Minute {
			b.Fatalf("%s: %d of %d alerts delivered a minute after the last post", baseURL, hook.delivered.Load(), alertBenchAlerts)
		}
		time.Sleep(time.Millisecond)
	}
	r := alertBenchResult{rate: alertBenchAlerts / posted.Sub(start).Seconds(), delay: time.Since(posted), total: time.Since(start)}
	r.cpuPerAlert = float64((processCPU(b, pid) - cpu0).Microseconds()) / alertBenchAlerts
	hook.mu.Lock()
	var sum time.Duration
	for i := range alertBenchAlerts {
		sum += hook.seen[fmt.Sprintf("host-%05d", i)].Sub(postedAt[i/alertBenchBatch])
	}
	hook.mu.Unlock()
	r.meanDelay = sum / alertBenchAlerts
	return r
}

func median(rs []alertBenchResult, f func(alertBenchResult) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}
