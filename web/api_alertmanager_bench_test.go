package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/vigil-monitoring/vigil/rules/notify"
)

// BenchmarkAlertsPostToWebhook is issue 6's benchmark: 10,000 alerts
// posted through /api/v2/alerts in batches of 100 (as Prometheus sends
// them), in 100 groups, routed through a 20-route tree to a webhook on
// 127.0.0.1. It reports the alerts accepted per second and the delay from
// the last post until every alert was delivered at least once
// (group_wait 0s, group_interval 1s: an alert that arrives after its
// group's first flush waits for the next one, as in Alertmanager; the
// dispatcher looks for due groups every 100ms). It runs with the
// dispatcher's state in memory and in a bbolt file, as the binary keeps
// it (the alerts and group timers saved every tick). cpu-µs/alert is the
// CPU time of the whole test process from the first post until the
// dispatcher has stopped and saved, divided by the alerts: it holds the
// client and the webhook receiver too, a constant share, and unlike
// alerts/s it does not move with the load of a shared machine.
func BenchmarkAlertsPostToWebhook(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchmarkAlertsPostToWebhook(b, false) })
	b.Run("state.db", func(b *testing.B) { benchmarkAlertsPostToWebhook(b, true) })
}

func benchmarkAlertsPostToWebhook(b *testing.B, withDB bool) {
	const alerts, groups, routes, batch = 10_000, 100, 20, 100
	var mu sync.Mutex
	seen := map[string]bool{} // the instances notified at least once
	var deliveredAlerts atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A request the sender gave up on (its deadline is the
		// group_interval, which a loaded machine can miss) arrives cut
		// short: it counts nothing, and m.Data may be nil.
		var m notify.WebhookMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Data == nil {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, a := range m.Alerts {
			if !seen[a.Labels["instance"]] {
				seen[a.Labels["instance"]] = true
				deliveredAlerts.Add(1)
			}
		}
	}))
	defer hook.Close()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  routes:\n")
	for i := range routes {
		fmt.Fprintf(&cfg, "    - matchers: ['team=\"t%02d\"']\n      receiver: hook\n", i)
	}
	fmt.Fprintf(&cfg, "receivers:\n  - name: hook\n    webhook_configs: [{url: '%s'}]\n", hook.URL)

	var bodies [][]byte
	for first := 0; first < alerts; first += batch {
		var as []map[string]any
		for i := first; i < first+batch; i++ {
			as = append(as, map[string]any{"labels": map[string]string{
				"alertname": fmt.Sprintf("Alert%03d", i%groups), "team": fmt.Sprintf("t%02d", i%groups%routes),
				"instance": fmt.Sprintf("host-%05d", i), "severity": "warning"},
				"annotations": map[string]string{"summary": "benchmark"}})
		}
		body, _ := json.Marshal(as)
		bodies = append(bodies, body)
	}
	var postRate, delay float64
	var cpu time.Duration
	b.ReportAllocs()
	for range b.N {
		c, err := notify.Parse([]byte(cfg.String()))
		if err != nil {
			b.Fatal(err)
		}
		var db *bbolt.DB
		if withDB {
			if db, err = bbolt.Open(filepath.Join(b.TempDir(), "state.db"), 0o600, nil); err != nil {
				b.Fatal(err)
			}
		}
		d, err := notify.New(notify.Options{Config: c, DB: db})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() {
			defer close(ran)
			d.Run(ctx)
		}()
		srv := httptest.NewServer(New(Options{}, Deps{Alertmanager: d, Ready: func() bool { return true }}))
		mu.Lock()
		clear(seen)
		mu.Unlock()
		deliveredAlerts.Store(0)

		start, cpu0 := time.Now(), processCPU()
		for _, body := range bodies {
			resp, err := http.Post(srv.URL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("POST: %v %v", err, resp)
			}
			resp.Body.Close()
		}
		posted := time.Now()
		for deliveredAlerts.Load() < alerts {
			if time.Since(posted) > time.Minute {
				// Stop the dispatcher first: the webhook's Close waits
				// for the requests of its flushes.
				cancel()
				srv.Close()
				<-ran
				b.Fatalf("%d of %d alerts delivered after a minute", deliveredAlerts.Load(), alerts)
			}
			time.Sleep(time.Millisecond)
		}
		delay += time.Since(posted).Seconds()
		postRate += alerts / posted.Sub(start).Seconds()
		cancel()
		srv.Close()
		<-ran // Run saves the state as it ends
		cpu += processCPU() - cpu0
		if db != nil {
			db.Close()
		}
	}
	b.ReportMetric(postRate/float64(b.N), "alerts/s")
	b.ReportMetric(delay*1000/float64(b.N), "ms-post-to-webhook")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*alerts), "cpu-µs/alert")
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
