//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// TestKillDuringIngestionAlertsAndSilences kills Vigil with SIGKILL while
// it ingests, evaluates a firing and a pending alert, and holds a silence
// created just before; after the restart every acknowledged sample, both
// alerts with their original activeAt, and the silence are there.
func TestKillDuringIngestionAlertsAndSilences(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "fault.yml")
	if err := os.WriteFile(rulesFile, []byte(`groups:
  - name: fault
    interval: 1s
    rules:
      - alert: FaultFiring
        expr: vector(1)
        labels: {severity: critical}
      - alert: FaultPending
        expr: vector(1)
        for: 1h
`), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	args := []string{"--data-dir=" + dataDir, "--rules.files=" + rulesFile, "--rules.builtin=false"}
	p := startVigilProcess(t, args...)
	c := adminClient()

	// Writers: one series each, a sample every 10 ms, each acknowledged
	// sample remembered.
	const writers = 3
	var (
		mu    sync.Mutex
		acked [writers][]int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			var last int64
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				ts := max(time.Now().UnixMilli(), last+1)
				last = ts
				if err := faultWrite(c, p.BaseURL, w, ts); err != nil {
					return // the kill
				}
				mu.Lock()
				acked[w] = append(acked[w], ts)
				mu.Unlock()
			}
		})
	}

	// Both alerts in their states, then a silence for the firing one.
	var before map[string]faultAlert
	waitFor(t, 20*time.Second, "alerts firing and pending", func() bool {
		before = faultAlerts(t, c, p.BaseURL)
		return before["FaultFiring"].State == "firing" && before["FaultPending"].State == "pending"
	})
	silence := map[string]any{
		"matchers":  []map[string]any{{"name": "alertname", "value": "FaultFiring", "isRegex": false, "isEqual": true}},
		"startsAt":  time.Now().UTC().Format(time.RFC3339),
		"endsAt":    time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339),
		"createdBy": "fault-test",
		"comment":   "silenced right before the kill",
	}
	var created struct {
		SilenceID string `json:"silenceID"`
	}
	faultJSON(t, c, http.MethodPost, p.BaseURL+"/api/v2/silences", silence, &created)
	if created.SilenceID == "" {
		t.Fatal("no silence ID")
	}
	// Let the alert state of the evaluation after the silence be saved,
	// and the writers go on for a while.
	time.Sleep(1500 * time.Millisecond)

	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
	close(stop)
	wg.Wait()

	p = startVigilProcess(t, args...)
	defer p.Stop()

	// Every acknowledged sample.
	total := 0
	for w := range writers {
		if len(acked[w]) == 0 {
			t.Fatalf("writer %d had nothing acknowledged", w)
		}
		total += len(acked[w])
		first, last := acked[w][0], acked[w][len(acked[w])-1]
		q := fmt.Sprintf(`count_over_time(vigil_fault_seq{writer="%d"}[%dms])`, w, last-first+1)
		var body struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		faultGet(t, c, p.BaseURL+"/internal/force_flush", nil)
		faultGet(t, c, fmt.Sprintf("%s/api/v1/query?query=%s&time=%.3f", p.BaseURL, url.QueryEscape(q), float64(last)/1000), &body)
		if len(body.Data.Result) != 1 || body.Data.Result[0].Value[1] != fmt.Sprint(len(acked[w])) {
			t.Errorf("writer %d: %d samples acknowledged, after the kill %v", w, len(acked[w]), body.Data.Result)
		}
	}
	t.Logf("kill -9: %d acknowledged samples, alerts and a silence checked after the restart", total)

	// The alerts, as they were: same states, same activeAt.
	after := faultAlerts(t, c, p.BaseURL)
	for _, name := range []string{"FaultFiring", "FaultPending"} {
		b, a := before[name], after[name]
		if a.State != b.State || !a.ActiveAt.Equal(b.ActiveAt) {
			t.Errorf("%s before the kill %s since %s, after %s since %s", name, b.State, b.ActiveAt, a.State, a.ActiveAt)
		}
	}

	// The silence, as it was.
	var got struct {
		ID        string `json:"id"`
		CreatedBy string `json:"createdBy"`
		Status    struct {
			State string `json:"state"`
		} `json:"status"`
	}
	faultGet(t, c, p.BaseURL+"/api/v2/silence/"+created.SilenceID, &got)
	if got.ID != created.SilenceID || got.CreatedBy != "fault-test" || got.Status.State != "active" {
		t.Errorf("silence after the kill: %+v", got)
	}
}

type faultAlert struct {
	State    string    `json:"state"`
	ActiveAt time.Time `json:"activeAt"`
}

func faultAlerts(t *testing.T, c *http.Client, base string) map[string]faultAlert {
	t.Helper()
	var body struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				faultAlert
			} `json:"alerts"`
		} `json:"data"`
	}
	faultGet(t, c, base+"/api/v1/alerts", &body)
	out := map[string]faultAlert{}
	for _, a := range body.Data.Alerts {
		out[a.Labels["alertname"]] = a.faultAlert
	}
	return out
}

func faultWrite(c *http.Client, base string, writer int, ts int64) error {
	wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "vigil_fault_seq"}, {Name: "writer", Value: fmt.Sprint(writer)}},
		Samples: []prompb.Sample{{Timestamp: ts, Value: float64(ts)}},
	}}}
	pb, err := wr.Marshal()
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, pb)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("remote write: %s", resp.Status)
	}
	return nil
}

func faultGet(t *testing.T, c *http.Client, url string, out any) {
	t.Helper()
	faultJSON(t, c, http.MethodGet, url, nil, out)
}

func faultJSON(t *testing.T, c *http.Client, method, url string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, b)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
