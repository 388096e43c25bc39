//go:build unix

package main

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-monitoring/vigil/appliance/demo"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// demoProcess is a running `vigil demo`.
type demoProcess struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan error
}

func startDemoProcess(t *testing.T, args ...string) *demoProcess {
	t.Helper()
	d := &demoProcess{done: make(chan error, 1)}
	d.cmd = exec.Command(vigilBin, append([]string{"demo"}, args...)...)
	d.cmd.Stderr = &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("vigil demo %s:\n%s", strings.Join(args, " "), d.stderr.String())
		}
	})
	return d
}

// waitOutput waits up to 60 s for the demo to write want.
func (d *demoProcess) waitOutput(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(d.stderr.String(), want) {
		select {
		case err := <-d.done:
			t.Fatalf("vigil demo exited (%v) before writing %q:\n%s", err, want, d.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil demo did not write %q within 60s:\n%s", want, d.stderr.String())
		}
	}
}

// stop sends SIGTERM and requires exit code 0.
func (d *demoProcess) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("vigil demo after SIGTERM: %v\n%s", err, d.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("vigil demo did not stop within 20s of SIGTERM")
	}
	if !strings.Contains(d.stderr.String(), "demo: stopped") {
		t.Errorf("vigil demo did not say it stopped:\n%s", d.stderr.String())
	}
}

// TestDemoAgainstAnotherVigil runs `vigil demo` against a second, running
// Vigil binary with authentication on: a backfill with progress, a stop,
// and a start again that resumes every counter where it was.
func TestDemoAgainstAnotherVigil(t *testing.T) {
	p := startVigilProcess(t)
	c := adminClient()
	dir := t.TempDir()
	_, secret := createTokenViaAPI(t, p.BaseURL, "admin", "demo", "")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	d := startDemoProcess(t, "--url="+p.BaseURL, "--token-file="+tokenFile, "--backfill=2h")
	// Two hours every 15 s is 481 steps.
	d.waitOutput(t, "demo: backfill: 100% (481 of 481 steps)")
	d.waitOutput(t, "demo: backfill done: 481 steps")
	d.stop(t)
	const up = `up{job="panic-platform",instance="demo-api:8000"}`
	waitQuery(t, c, p.BaseURL, `count_over_time(`+up+`[3h]) >= 481`, "")
	waitQuery(t, c, p.BaseURL, `count(count by (zone) (panic_requests_total))`, "5")
	var md struct {
		Data map[string][]struct{ Type string }
	}
	scrapeGetJSON(t, c, p.BaseURL+"/api/v1/metadata?metric=panic_request_response_time_seconds", &md)
	if m := md.Data["panic_request_response_time_seconds"]; len(m) != 1 || m[0].Type != "histogram" {
		t.Errorf("metadata sent with the remote write: %+v", md.Data)
	}

	// Twenty seconds later it resumes: the missed step or two are written,
	// up to the restart, each timestamp once, and no counter goes down.
	time.Sleep(20 * time.Second)
	restarted := time.Now()
	d = startDemoProcess(t, "--url="+p.BaseURL, "--token-file="+tokenFile, "--backfill=2h")
	d.waitOutput(t, `msg="resuming the simulated Panic platform"`)
	d.waitOutput(t, "demo: backfill done:")
	d.stop(t)
	if code, body := statusOf(t, c, "GET", p.BaseURL+"/internal/force_flush", "", nil); code != 200 {
		t.Fatalf("force_flush: %d %s", code, body)
	}
	steps := rangeSamples(t, c, p.BaseURL, up+"[3h]")
	if len(steps) != 1 {
		t.Fatalf("up of the demo: %+v", steps)
	}
	vs := steps[0]
	// The backfill ended at the 15 s step before the first start, and the
	// restart came 20 s or more after it: at least one step more.
	if len(vs) < 481+1 {
		t.Errorf("%d steps after the restart, want at least 482", len(vs))
	}
	if last, want := vs[len(vs)-1][0].(float64), float64(restarted.Truncate(15*time.Second).Unix()); last < want {
		t.Errorf("the last step after the restart is at %v, want the restart's step %v or later", last, want)
	}
	for i := 1; i < len(vs); i++ {
		if gap := vs[i][0].(float64) - vs[i-1][0].(float64); gap != 15 {
			t.Fatalf("steps %v and %v are %gs apart, want 15s: a step missed or written twice", vs[i-1][0], vs[i][0], gap)
		}
	}
	checkNoResets(t, p.BaseURL, "3h")

	// A writer's token writes, but cannot read the last step back: the
	// demo says so, writes no history over what may be there and starts
	// its counters from zero.
	_, writer := createTokenViaAPI(t, p.BaseURL, "admin", "writer", "writer")
	d = startDemoProcess(t, "--url="+p.BaseURL, "--token="+writer, "--backfill=2h")
	d.waitOutput(t, "reading the demo's last values needs a viewer's or an admin's credentials")
	d.waitOutput(t, "so it writes no history")
	d.waitOutput(t, "demo: backfill done: 1 steps")
	d.stop(t)
	if out := d.stderr.String(); strings.Contains(out, "cannot read the retention") {
		t.Errorf("a warning about the retention, which no history written needs:\n%s", out)
	}

	// Bad input and an unreachable Vigil.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--url=" + p.BaseURL, "--backfill=2h"}, 1, "needs a writer's or an admin's credentials"},
		{[]string{"--url=http://127.0.0.1:1", "--token-file=" + tokenFile}, 1, "cannot reach Vigil at http://127.0.0.1:1: is it running?"},
		{[]string{"--url=" + p.BaseURL, "--backfill=soon"}, 2, `"soon" is not a duration`},
		{[]string{"--url=" + p.BaseURL, "--token=x", "--token-file=" + tokenFile}, 2, "pass --token or --token-file, not both"},
	} {
		_, stderr, code := runVigilEnv(t, nil, append([]string{"demo"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("vigil demo %s: exit %d, %q; want exit %d and %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
	}
}

// checkNoResets fails on any counter of the demo (a counter, a
// histogram's buckets, sum and count) that went down within window.
func checkNoResets(t *testing.T, baseURL, window string) {
	t.Helper()
	for _, m := range ingest.Catalogue() {
		names := []string{m.Name}
		switch m.Type {
		case ingest.Gauge:
			continue
		case ingest.Histogram:
			names = []string{m.Name + "_bucket", m.Name + "_sum", m.Name + "_count"}
		}
		for _, n := range names {
			sel := n + `{job="panic-platform"}`
			if demo.EventMetric(n) { // recorded as events: no job label
				sel = n
			}
			waitQuery(t, adminClient(), baseURL, `sum(resets(`+sel+`[`+window+`]))`, "0")
		}
	}
}

// TestDemoBackfillFitsTheRemoteRetention runs `vigil demo` with a
// backfill longer than the other Vigil keeps: the history is cut to the
// retention, past which the store refuses samples, and its oldest steps,
// written first, are stored.
func TestDemoBackfillFitsTheRemoteRetention(t *testing.T) {
	p := startVigilProcess(t, "--retention=1d")
	_, secret := createTokenViaAPI(t, p.BaseURL, "admin", "demo", "")
	d := startDemoProcess(t, "--url="+p.BaseURL, "--token="+secret, "--backfill=3d")
	d.waitOutput(t, `msg="demo backfill shortened to fit the retention" backfill=72h0m0s retention=24h0m0s shortened_to=23h59m0s`)
	// 23 h 59 min every 15 s is 5,757 steps; the oldest go first, and the
	// first hundred show that they are not refused.
	d.waitOutput(t, " of 5757 steps)")
	c := adminClient()
	const up = `up{job="panic-platform",instance="demo-api:8000"}`
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, body := statusOf(t, c, http.MethodGet, p.BaseURL+"/internal/force_flush", "", nil); code != http.StatusOK {
			t.Fatalf("force_flush: %d %s", code, body)
		}
		r := rangeSamples(t, c, p.BaseURL, up+"[1d]")
		if len(r) == 1 && len(r[0]) >= 100 {
			oldest := time.Unix(int64(r[0][0][0].(float64)), 0)
			if age := time.Since(oldest); age < 23*time.Hour+58*time.Minute || age > 24*time.Hour {
				t.Errorf("the oldest step is %s old, want the retention less a minute", age.Round(time.Second))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 100 steps stored within 60s: %+v\n%s", r, d.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.stop(t)
	_, metricsText := statusOf(t, c, http.MethodGet, p.BaseURL+"/metrics", "", nil)
	for _, reason := range []string{"too_old", "too_far_in_future"} {
		if n := metricValue(metricsText, `vigil_rows_rejected_total{reason="`+reason+`"}`); n != 0 {
			t.Errorf("%g rows rejected as %s", n, reason)
		}
	}
}

// rangeSamples asks baseURL for the range vector q (a selector such as
// up[1h]) and returns each series' samples, [unix seconds, "value"] pairs.
func rangeSamples(t *testing.T, c *http.Client, baseURL, q string) [][][2]any {
	t.Helper()
	var res struct {
		Data struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	scrapeGetJSON(t, c, baseURL+"/api/v1/query?query="+url.QueryEscape(q), &res)
	out := make([][][2]any, len(res.Data.Result))
	for i, r := range res.Data.Result {
		out[i] = r.Values
	}
	return out
}
