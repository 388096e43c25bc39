//go:build unix

package main

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// The binary stopped in the middle of an aggregation group, by SIGTERM
// and by kill -9, and started again with nothing posted since: the alert
// that arrived before the stop and the resolution that was due reach the
// real webhook in the group's next flush, once, and nothing already
// notified is sent again within repeat_interval.
func TestNotifyRestartMidGroup(t *testing.T) {
	for _, stop := range []string{"SIGTERM", "kill -9"} {
		t.Run(stop, func(t *testing.T) {
			sink := newWebhookSink(t)
			dir := t.TempDir()
			amFile := filepath.Join(dir, "alertmanager.yml")
			os.WriteFile(amFile, []byte(`route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 6s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: '`+sink.URL+`/hook'}]
`), 0o644)
			args := []string{"--data-dir=" + filepath.Join(dir, "data"), "--config.alertmanager=" + amFile, "--rules.builtin=false"}
			p := startVigilProcess(t, args...)
			cli := adminAMClient(p.BaseURL)
			post := func(endsAt time.Time, inst ...string) { postInstances(t, cli, "PaymentsQueueStuck", endsAt, inst...) }

			post(time.Now().Add(time.Hour), "a", "b") // a Prometheus that posts once
			if got := sink.wait(1, 15*time.Second); len(got) != 1 || !slices.Equal(instances(got[0]), []string{"a:firing", "b:firing"}) {
				t.Fatalf("first notification: %+v", got)
			}
			post(time.Now(), "b")
			post(time.Now().Add(time.Hour), "c")
			if stop == "SIGTERM" {
				p.Stop()
			} else {
				// Vigil saves the notifier's state every tenth of a second.
				time.Sleep(500 * time.Millisecond)
				p.Signal(syscall.SIGKILL)
				p.Wait(10 * time.Second)
			}
			if got := sink.wait(2, 0); len(got) != 1 {
				t.Fatalf("the group flushed before the stop (the test needs a longer group_interval): %+v", got)
			}

			p = startVigilProcess(t, args...)
			defer p.Stop()
			got := sink.wait(2, 20*time.Second)
			if len(got) != 2 || !slices.Equal(instances(got[1]), []string{"a:firing", "b:resolved", "c:firing"}) {
				t.Fatalf("after the restart: %d notifications, want the group's next one with a, c firing and b resolved: %+v", len(got), got)
			}
			if got := sink.wait(3, 8*time.Second); len(got) != 2 {
				t.Fatalf("sent again within repeat_interval: %+v", got[2:])
			}
		})
	}
}
