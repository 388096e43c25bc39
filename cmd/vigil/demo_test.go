//go:build unix

package main

import (
	"strings"
	"testing"
)

// TestDemo: vigil --demo says so at start, backfills six hours of the
// simulated Panic platform at once, and a restart on the same data
// directory fills only the gap, never writing a timestamp twice.
func TestDemo(t *testing.T) {
	dataDir := t.TempDir()
	p := startVigilProcess(t, "--demo", "--data-dir="+dataDir)
	if !strings.Contains(p.Stdout(), "demo: a simulated Panic platform") {
		t.Errorf("start-up does not mention the demo:\n%s", p.Stdout())
	}
	c := adminClient()
	// Six hours every 15 s is 1,441 samples; the backfill is done when
	// they are all there.
	const up = `count_over_time(up{job="panic-platform",instance="demo-api:8000"}[6h])`
	waitQuery(t, c, p.BaseURL, up+" >= 1440", "")
	waitQuery(t, c, p.BaseURL, `count(count by (zone) (panic_requests_total))`, "5")
	waitQuery(t, c, p.BaseURL, `count(count by (firm_id) (panic_request_response_time_seconds_count))`, "10")
	waitQuery(t, c, p.BaseURL, `count(sum by (__name__) ({job="panic-platform"}))`, "22")
	p.Stop()

	p = startVigilProcess(t, "--demo", "--data-dir="+dataDir)
	waitQuery(t, c, p.BaseURL, `count(count by (zone) (panic_requests_total))`, "5")
	waitQuery(t, c, p.BaseURL, up+" <= 1442", "")
	p.Stop()
}
