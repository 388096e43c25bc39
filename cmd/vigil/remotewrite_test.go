//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// remote_write out, end to end: the real binary sending to a real
// VictoriaMetrics single-node (and a Prometheus, when it installs).

// rwConfig is a Vigil config file whose prometheus section sends to
// remoteURL, with the external label replica="e2e" and queue settings
// that deliver fast; extra is appended to the remote's entry (indented
// as its keys, six spaces).
func rwConfig(remoteURL, extra string) string {
	return fmt.Sprintf(`prometheus:
  global:
    external_labels: {replica: e2e}
  remote_write:
    - url: %s
      name: peer
      queue_config: {batch_send_deadline: 200ms, capacity: 2000, max_samples_per_send: 2000, max_shards: 4, min_backoff: 50ms, max_backoff: 500ms}
%s`, remoteURL, extra)
}

// startRWVigil starts vigil on dataDir with the config file at cfgPath
// and returns the proof tests' clients for it.
func startRWVigil(t *testing.T, dataDir, cfgPath string, extra ...string) *proofVigil {
	t.Helper()
	p := startVigilProcess(t, append([]string{"--data-dir=" + dataDir, "--config=" + cfgPath}, extra...)...)
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: adminTransport(tr), Timeout: 30 * time.Second}
	c, err := api.NewClient(api.Config{Address: p.BaseURL, Client: hc})
	if err != nil {
		t.Fatal(err)
	}
	return &proofVigil{vigilProcess: p, DataDir: dataDir, API: promv1.NewAPI(c), HTTP: hc}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// rwSet is what a remote must hold: series (their labels, replica="e2e"
// included, as name="value" pairs sorted) to samples by timestamp.
type rwSet map[string]map[int64]float64

func (s rwSet) add(o rwSet) {
	for k, pts := range o {
		if s[k] == nil {
			s[k] = map[int64]float64{}
		}
		maps.Copy(s[k], pts)
	}
}

func (s rwSet) samples() int {
	n := 0
	for _, pts := range s {
		n += len(pts)
	}
	return n
}

// rwBatch is one remote write request of metric name: series series of n
// samples 15 s apart ending at end, each value unique to (batch, series,
// sample) and exact in binary floating point. It returns the request and
// what the remote must hold of it.
func rwBatch(name string, batch, series, n int, end time.Time) (*prompb.WriteRequest, rwSet) {
	req := &prompb.WriteRequest{}
	want := rwSet{}
	for s := range series {
		ts := proofSeries("__name__", name, "series", fmt.Sprintf("%03d", s), "batch", fmt.Sprint(batch))
		key := rwKey(map[string]string{"__name__": name, "series": fmt.Sprintf("%03d", s), "batch": fmt.Sprint(batch), "replica": "e2e"})
		want[key] = map[int64]float64{}
		for i := range n {
			at := end.Add(-time.Duration(n-1-i) * 15 * time.Second).UnixMilli()
			v := float64(batch*1_000_000+s*1000+i) + 0.25
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: at, Value: v})
			want[key][at] = v
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	return req, want
}

func rwKey(labels map[string]string) string {
	names := slices.Sorted(maps.Keys(labels))
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%q,", n, labels[n])
	}
	return b.String()
}

// exportVM returns the raw samples VictoriaMetrics holds for match, after
// making everything it was sent searchable.
func exportVM(t *testing.T, vmURL, match string) rwSet {
	t.Helper()
	if resp, err := http.Get(vmURL + "/internal/force_flush"); err == nil {
		resp.Body.Close()
	}
	resp, err := http.Get(vmURL + "/api/v1/export?" + url.Values{"match[]": {match}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("export from VictoriaMetrics: %s %s", resp.Status, b)
	}
	out := rwSet{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var line struct {
			Metric     map[string]string `json:"metric"`
			Values     []float64         `json:"values"`
			Timestamps []int64           `json:"timestamps"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		key := rwKey(line.Metric)
		if out[key] == nil {
			out[key] = map[int64]float64{}
		}
		for i, ts := range line.Timestamps {
			if _, dup := out[key][ts]; dup {
				// A sample stored twice: export lists both.
				out[key][ts+1_000_000_000_000] = line.Values[i]
			}
			out[key][ts] = line.Values[i]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// diffSets describes how got differs from want, or returns nil.
func diffSets(got, want rwSet) error {
	var problems []string
	for key, pts := range want {
		g := got[key]
		if len(g) != len(pts) {
			problems = append(problems, fmt.Sprintf("%s: %d samples, want %d", key, len(g), len(pts)))
			continue
		}
		for ts, v := range pts {
			if gv, ok := g[ts]; !ok || gv != v {
				problems = append(problems, fmt.Sprintf("%s @%d: %v (present %v), want %v", key, ts, gv, ok, v))
				break
			}
		}
	}
	for key := range got {
		if want[key] == nil {
			problems = append(problems, "unexpected series "+key)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	if len(problems) > 5 {
		problems = append(problems[:5], fmt.Sprintf("... %d problems in all (%d of %d samples there)", len(problems), got.samples(), want.samples()))
	}
	return fmt.Errorf("%s", strings.Join(problems, "\n"))
}

// rwStatus is one remote of /api/v1/status/remote_write.
type rwStatus struct {
	Name            string            `json:"name"`
	URL             string            `json:"url"`
	PendingBytes    int64             `json:"pendingBytes"`
	MaxPendingBytes int64             `json:"maxPendingBytes"`
	SamplesSent     uint64            `json:"samplesSent"`
	SamplesRetried  uint64            `json:"samplesRetried"`
	SamplesFiltered uint64            `json:"samplesFiltered"`
	SamplesDropped  map[string]uint64 `json:"samplesDropped"`
	LastError       string            `json:"lastError"`
	LastSendTime    *time.Time        `json:"lastSendTime"`
}

func remoteStatus(t *testing.T, v *proofVigil) rwStatus {
	t.Helper()
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Remotes []rwStatus `json:"remotes"`
		} `json:"data"`
	}
	v.getJSON(t, "/api/v1/status/remote_write", &out)
	if out.Status != "success" || len(out.Data.Remotes) != 1 {
		t.Fatalf("status/remote_write = %+v, want one remote", out)
	}
	return out.Data.Remotes[0]
}

// Every sample Vigil stores reaches VictoriaMetrics once, with its
// timestamp and value, whatever brought it in: remote write, the text
// import, the Pushgateway API, a recording rule, the self-scrape.
func TestRemoteWriteEverySampleArrives(t *testing.T) {
	vm := startVictoriaMetrics(t)
	rulesFile := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(rulesFile, []byte(`groups:
  - name: rw
    interval: 1s
    rules:
      - record: rw_e2e:count
        expr: count(rw_e2e_write)
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, rwConfig(vm.URL()+"/api/v1/write", "")+"rules: {files: ["+rulesFile+"], builtin: false}\n")
	v := startRWVigil(t, t.TempDir(), cfg)

	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	want := rwSet{}
	for b := range 5 {
		req, w := rwBatch("rw_e2e_write", b, 20, 100, end)
		v.mustWrite(t, req)
		want.add(w)
	}
	var text strings.Builder
	for s := range 10 {
		for i := range 30 {
			at := end.Add(-time.Duration(29-i) * 15 * time.Second).UnixMilli()
			fmt.Fprintf(&text, "rw_e2e_import{series=\"%d\"} %d.5 %d\n", s, s*100+i, at)
			key := rwKey(map[string]string{"__name__": "rw_e2e_import", "series": fmt.Sprint(s), "replica": "e2e"})
			if want[key] == nil {
				want[key] = map[int64]float64{}
			}
			want[key][at] = float64(s*100+i) + 0.5
		}
	}
	v.importText(t, text.String())
	resp, err := v.HTTP.Post(v.BaseURL+"/metrics/job/rw_e2e", "text/plain", strings.NewReader("rw_e2e_pushed 42\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	proofWait(t, 60*time.Second, func() error {
		return diffSets(exportVM(t, vm.URL(), `{__name__=~"rw_e2e_write|rw_e2e_import"}`), want)
	})
	t.Logf("VictoriaMetrics holds every one of the %d samples written and imported, once", want.samples())

	// What Vigil made itself: the same raw samples on both sides over a
	// window that has had time to be delivered.
	for _, metric := range []string{"rw_e2e:count", "rw_e2e_pushed", `up{job="vigil"}`} {
		proofWait(t, 60*time.Second, func() error {
			at := time.Now().Add(-3 * time.Second)
			v.flush(t)
			vigilSide := vigilRaw(t, v, metric, at)
			if vigilSide.samples() == 0 {
				return fmt.Errorf("vigil has no sample of %s yet", metric)
			}
			sel := metric
			if !strings.Contains(sel, "{") {
				sel = `{__name__="` + metric + `"}`
			}
			got := exportVM(t, vm.URL(), sel)
			for k, pts := range got {
				for ts := range pts {
					if ts > at.UnixMilli() || ts <= at.Add(-time.Hour).UnixMilli() {
						delete(got[k], ts)
					}
				}
			}
			return diffSets(got, vigilSide)
		})
	}

	proofWait(t, 10*time.Second, func() error {
		s := remoteStatus(t, v)
		if s.Name != "peer" || s.SamplesSent < uint64(want.samples()) || s.LastSendTime == nil || s.SamplesDropped["rejected"]+s.SamplesDropped["queue_full"] != 0 {
			return fmt.Errorf("status/remote_write = %+v", s)
		}
		return nil
	})
	metrics := fetchMetrics(t, v)
	for _, name := range []string{"vigil_remote_write_samples_sent_total", "vigil_remote_write_pending_bytes", "vigil_remote_write_max_pending_bytes", `vigil_remote_write_samples_dropped_total{remote="peer"`} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	v.Stop()
}

// vigilRaw returns Vigil's raw samples of selector in the hour before at,
// labelled as the remote gets them (replica="e2e" added).
func vigilRaw(t *testing.T, v *proofVigil, selector string, at time.Time) rwSet {
	t.Helper()
	res, _, _, err := v.API.Query(context.Background(), selector+"[1h]", at)
	if err != nil {
		t.Fatal(err)
	}
	matrix, ok := res.(model.Matrix)
	if !ok {
		t.Fatalf("%s[1h]: a %T, want a matrix", selector, res)
	}
	return matrixSet(matrix, map[string]string{"replica": "e2e"})
}

// matrixSet is the raw samples of a range query's answer, with extra
// labels added to every series.
func matrixSet(matrix model.Matrix, extra map[string]string) rwSet {
	out := rwSet{}
	for _, ss := range matrix {
		labels := maps.Clone(extra)
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range ss.Metric {
			labels[string(k)] = string(v)
		}
		key := rwKey(labels)
		out[key] = map[int64]float64{}
		for _, p := range ss.Values {
			out[key][int64(p.Timestamp)] = float64(p.Value)
		}
	}
	return out
}

func fetchMetrics(t *testing.T, v *proofVigil) string {
	t.Helper()
	resp, err := v.HTTP.Get(v.BaseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// An outage of the remote loses nothing: Vigil queues on disk while it is
// down, through a kill -9 in the middle of ingestion and a graceful
// restart, and delivers everything acknowledged once it is back.
func TestRemoteWriteSurvivesOutageAndKill(t *testing.T) {
	// A sample Vigil sent just before the kill may be sent again
	// (delivery is at least once): the remote keeps one per timestamp,
	// as a VictoriaMetrics behind an HA pair is set up anyway.
	vm := startVictoriaMetrics(t, "-dedup.minScrapeInterval=1ms")
	cfg := writeConfig(t, rwConfig(vm.URL()+"/api/v1/write", ""))
	dataDir := t.TempDir()
	v := startRWVigil(t, dataDir, cfg)
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	const metric = "rw_e2e_outage"
	want := rwSet{}
	batch := 0
	write := func(v *proofVigil, n int) {
		for range n {
			req, w := rwBatch(metric, batch, 10, 50, end)
			v.mustWrite(t, req)
			want.add(w)
			batch++
		}
	}
	write(v, 2)
	proofWait(t, 60*time.Second, func() error { return diffSets(exportVM(t, vm.URL(), metric), want) })

	vm.stop()
	write(v, 3)
	proofWait(t, 30*time.Second, func() error {
		if s := remoteStatus(t, v); s.PendingBytes == 0 || !strings.Contains(s.LastError, "connection refused") {
			return fmt.Errorf("while the remote is down: %+v", s)
		}
		return nil
	})

	// Kill -9 in the middle of ingestion: a writer sends without pause;
	// every request acknowledged must arrive, the one cut may or may not.
	var mu sync.Mutex
	var inFlight rwSet
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			mu.Lock()
			req, w := rwBatch(metric, batch, 10, 50, end)
			batch++
			inFlight = w
			mu.Unlock()
			if err := v.write(context.Background(), req); err != nil {
				return
			}
			mu.Lock()
			want.add(w)
			inFlight = nil
			mu.Unlock()
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	v.Signal(syscall.SIGKILL)
	v.Wait(10 * time.Second)
	<-stopped
	t.Logf("killed vigil after %d requests (%d samples acknowledged)", batch, want.samples())

	v = startRWVigil(t, dataDir, cfg)
	write(v, 2)
	v.Stop() // and a graceful restart, still during the outage
	v = startRWVigil(t, dataDir, cfg)
	write(v, 2)
	if s := remoteStatus(t, v); s.PendingBytes == 0 {
		t.Errorf("nothing pending after the restarts: %+v", s)
	}

	vm.start()
	proofWait(t, 120*time.Second, func() error {
		got := exportVM(t, vm.URL(), metric)
		err := diffSets(got, want)
		if err != nil && inFlight != nil {
			// The request cut by the kill, whole, is the other answer.
			with := rwSet{}
			with.add(want)
			with.add(inFlight)
			if diffSets(got, with) == nil {
				return nil
			}
		}
		return err
	})
	t.Logf("after the outage, a kill -9 and a restart VictoriaMetrics holds all %d samples acknowledged", want.samples())
	v.Stop()
}

// A remote that answers 400 gets nothing retried: the request is dropped,
// counted and logged with the answer.
func TestRemoteWriteRejectedIsDropped(t *testing.T) {
	var mu sync.Mutex
	received := 0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		var wr prompb.WriteRequest
		if err == nil {
			err = wr.Unmarshal(raw)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		mu.Lock()
		for _, ts := range wr.Timeseries {
			received += len(ts.Samples)
		}
		mu.Unlock()
		http.Error(w, "out of bounds: tenant panic-test is not allowed", http.StatusBadRequest)
	})}
	addr := freeAddr(t)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	keep := `      write_relabel_configs: [{source_labels: [__name__], regex: rw_e2e_rejected, action: keep}]
`
	v := startRWVigil(t, t.TempDir(), writeConfig(t, rwConfig("http://"+addr+"/api/v1/write", keep)))
	total := 0
	for b := range 3 {
		req, w := rwBatch("rw_e2e_rejected", b, 10, 20, time.Now())
		v.mustWrite(t, req)
		total += w.samples()
	}
	proofWait(t, 60*time.Second, func() error {
		s := remoteStatus(t, v)
		if s.SamplesDropped["rejected"] != uint64(total) {
			return fmt.Errorf("dropped as rejected: %d, want %d (%+v)", s.SamplesDropped["rejected"], total, s)
		}
		return nil
	})
	s := remoteStatus(t, v)
	mu.Lock()
	if received != total {
		t.Errorf("the remote received %d samples, want each of the %d once (no retries of a 400)", received, total)
	}
	mu.Unlock()
	if s.SamplesSent != 0 || s.SamplesRetried != 0 || !strings.Contains(s.LastError, "answered 400: out of bounds: tenant panic-test is not allowed") {
		t.Errorf("status = %+v", s)
	}
	if m := fetchMetrics(t, v); !strings.Contains(m, fmt.Sprintf(`vigil_remote_write_samples_dropped_total{remote="peer",url="http://%s/api/v1/write",reason="rejected"} %d`, addr, total)) {
		t.Errorf("/metrics does not count the %d rejected samples:\n%s", total, grepMetrics(m, "vigil_remote_write_samples_dropped_total"))
	}
	v.Stop()
	if !strings.Contains(v.Stderr(), "the remote rejected a request; its samples are dropped") {
		t.Errorf("no log line for the rejection:\n%s", v.Stderr())
	}
}

// A queue at its bound drops its oldest samples, counts them, says so,
// and delivers the newest once the remote is back.
func TestRemoteWriteFullQueueDropsOldest(t *testing.T) {
	addr := freeAddr(t) // the remote is down: nothing listens here yet
	keep := `      write_relabel_configs: [{source_labels: [__name__], regex: rw_e2e_full, action: keep}]
      vigil_max_disk_usage: 1MiB
`
	cfg := strings.Replace(rwConfig("http://"+addr+"/api/v1/write", keep), "capacity: 2000, max_samples_per_send: 2000, max_shards: 4", "capacity: 1000, max_samples_per_send: 1000, max_shards: 1", 1)
	v := startRWVigil(t, t.TempDir(), writeConfig(t, cfg))
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	var batches []rwSet
	for b := range 60 {
		req, w := rwBatch("rw_e2e_full", b, 50, 40, end)
		v.mustWrite(t, req)
		batches = append(batches, w)
	}
	total := 60 * 50 * 40
	// The queue takes what was stored in the background: wait for it.
	var s rwStatus
	proofWait(t, 30*time.Second, func() error {
		s = remoteStatus(t, v)
		if s.SamplesDropped["queue_full"] == 0 || s.PendingBytes > s.MaxPendingBytes+1<<20 {
			return fmt.Errorf("after writing %d samples to a queue of 1MiB: %+v", total, s)
		}
		return nil
	})
	t.Logf("queue bound 1MiB: %d bytes pending, %d samples dropped so far", s.PendingBytes, s.SamplesDropped["queue_full"])

	vm := &peerProcess{t: t, name: "victoria-metrics", bin: victoriaMetricsTool.binary(t), addr: addr, ready: "/health",
		args: []string{"-storageDataPath=" + t.TempDir(), "-httpListenAddr=" + addr, "-retentionPeriod=100y", "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN"}}
	vm.start()
	t.Cleanup(vm.stop)
	proofWait(t, 60*time.Second, func() error {
		if s := remoteStatus(t, v); s.PendingBytes != 0 {
			return fmt.Errorf("%d bytes still pending", s.PendingBytes)
		}
		return nil
	})
	// Every drop has happened by now: the queue is empty.
	dropped := remoteStatus(t, v).SamplesDropped["queue_full"]
	got := exportVM(t, vm.URL(), "rw_e2e_full")
	// What arrived: whole requests, the newest ones (and the first, which
	// the sender had in flight when the queue filled).
	arrived := 0
	var kept []int
	for b, w := range batches {
		if diffSets(pick(got, w), w) == nil {
			kept = append(kept, b)
			arrived += w.samples()
		} else if pick(got, w).samples() != 0 {
			t.Errorf("request %d arrived in part", b)
		}
	}
	if arrived != got.samples() {
		t.Errorf("VictoriaMetrics holds %d samples, %d of them in whole requests", got.samples(), arrived)
	}
	for i := 1; i < len(kept); i++ {
		if kept[i] != kept[i-1]+1 && i != 1 {
			t.Errorf("the requests kept are not the newest: %v", kept)
			break
		}
	}
	if kept[len(kept)-1] != len(batches)-1 {
		t.Errorf("the newest request was dropped: kept %v", kept)
	}
	// The self-scrape's samples share the queue, so the count of dropped
	// samples is at least what is missing of ours.
	if missing := uint64(total - arrived); dropped < missing {
		t.Errorf("%d of our samples are missing but only %d were counted as dropped", missing, dropped)
	}
	t.Logf("delivered %d of %d samples (requests %v), %d counted as dropped", arrived, total, kept, dropped)
	v.Stop()
	if !strings.Contains(v.Stderr(), "the remote write queue is full; dropped its oldest samples") {
		t.Errorf("no log line for the dropped samples:\n%s", v.Stderr())
	}
}

// pick returns the part of got that has the series of w.
func pick(got, w rwSet) rwSet {
	out := rwSet{}
	for k := range w {
		if got[k] != nil {
			out[k] = got[k]
		}
	}
	return out
}

// Prometheus' own remote-write receiver, which refuses samples out of
// order, gets every sample, before and after an outage.
func TestRemoteWriteToPrometheus(t *testing.T) {
	prom := startPrometheus(t)
	v := startRWVigil(t, t.TempDir(), writeConfig(t, rwConfig(prom.URL()+"/api/v1/write", "")))
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	want := rwSet{}
	for b := range 3 {
		req, w := rwBatch("rw_e2e_prom", b, 20, 60, end)
		v.mustWrite(t, req)
		want.add(w)
	}
	c, err := api.NewClient(api.Config{Address: prom.URL()})
	if err != nil {
		t.Fatal(err)
	}
	promAPI := promv1.NewAPI(c)
	promRaw := func() rwSet {
		res, _, _, err := promAPI.Query(context.Background(), "rw_e2e_prom[1h]", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return matrixSet(res.(model.Matrix), nil)
	}
	proofWait(t, 60*time.Second, func() error { return diffSets(promRaw(), want) })

	prom.stop()
	for b := 3; b < 6; b++ {
		req, w := rwBatch("rw_e2e_prom", b, 20, 60, end)
		v.mustWrite(t, req)
		want.add(w)
	}
	proofWait(t, 30*time.Second, func() error {
		if s := remoteStatus(t, v); s.PendingBytes == 0 {
			return fmt.Errorf("nothing pending while Prometheus is down: %+v", s)
		}
		return nil
	})
	prom.start()
	proofWait(t, 60*time.Second, func() error { return diffSets(promRaw(), want) })
	if s := remoteStatus(t, v); s.SamplesDropped["rejected"] != 0 {
		t.Errorf("Prometheus rejected samples: %+v", s)
	}
	t.Logf("Prometheus holds all %d samples, before and after an outage", want.samples())
	v.Stop()
}

// vigil check config and the start name the remote_write options Vigil
// does not implement, with the file and line where yaml gives one.
func TestRemoteWriteUnsupportedOptions(t *testing.T) {
	cfg := writeConfig(t, `prometheus:
  remote_write:
    - url: http://127.0.0.1:1/api/v1/write
      sigv4: {region: eu-west-1}
      metadata_config: {send: true}
    - url: http://127.0.0.1:2/api/v1/write
      queue_config: {max_shard: 10}
`)
	stdout, stderr, code := runVigil(t, "check", "config", cfg)
	if code != 1 {
		t.Fatalf("check config = %d, want 1\n%s%s", code, stdout, stderr)
	}
	if want := `vigil.yml:7: unsupported option "max_shard" in queue_config: Vigil's remote write does not implement it; remove it`; !strings.Contains(stderr, want) {
		t.Errorf("check config does not say %q:\n%s", want, stderr)
	}
	fixed := strings.Replace(mustRead(t, cfg), "max_shard:", "max_shards:", 1)
	if err := os.WriteFile(cfg, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runVigil(t, "check", "config", cfg)
	for _, want := range []string{
		`remote_write[0] (url "http://127.0.0.1:1/api/v1/write"): unsupported option "sigv4": Vigil cannot sign requests for AWS`,
		`remote_write[0] (url "http://127.0.0.1:1/api/v1/write"): unsupported option "metadata_config: send: true"`,
	} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("check config = %d, want 1 and %q:\n%s", code, want, stderr)
		}
	}
	// The start refuses it the same way.
	_, stderr, code = runVigil(t, "--config="+cfg, "--data-dir="+t.TempDir(), "--listen=127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, `unsupported option "sigv4"`) {
		t.Errorf("the start = %d, want a refusal naming sigv4:\n%s", code, stderr)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// POST /-/reload adds a remote, changes it and removes it while Vigil
// runs; a configuration with a refused option changes nothing.
func TestRemoteWriteReload(t *testing.T) {
	vm := startVictoriaMetrics(t)
	cfgPath := writeConfig(t, "prometheus:\n  scrape_configs: []\n")
	v := startRWVigil(t, t.TempDir(), cfgPath)
	reload := func(text string, wantStatus int) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		resp, err := v.HTTP.Post(v.BaseURL+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Fatalf("POST /-/reload = %d %s, want %d", resp.StatusCode, body, wantStatus)
		}
	}
	remotes := func() []rwStatus {
		var out struct {
			Data struct {
				Remotes []rwStatus `json:"remotes"`
			} `json:"data"`
		}
		v.getJSON(t, "/api/v1/status/remote_write", &out)
		return out.Data.Remotes
	}
	if r := remotes(); len(r) != 0 {
		t.Fatalf("remotes before any is configured: %+v", r)
	}

	// Added: what is stored from now on is sent.
	reload(rwConfig(vm.URL()+"/api/v1/write", ""), http.StatusOK)
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	req, want := rwBatch("rw_e2e_reload", 0, 5, 20, end)
	v.mustWrite(t, req)
	proofWait(t, 60*time.Second, func() error { return diffSets(exportVM(t, vm.URL(), "rw_e2e_reload"), want) })

	// Changed (a header) and then refused (sigv4): it goes on sending.
	reload(rwConfig(vm.URL()+"/api/v1/write", "      headers: {X-Reloaded: yes}\n"), http.StatusOK)
	reload(rwConfig(vm.URL()+"/api/v1/write", "      sigv4: {region: eu-west-1}\n"), http.StatusInternalServerError)
	req, w := rwBatch("rw_e2e_reload", 1, 5, 20, end)
	v.mustWrite(t, req)
	want.add(w)
	proofWait(t, 60*time.Second, func() error { return diffSets(exportVM(t, vm.URL(), "rw_e2e_reload"), want) })
	if r := remotes(); len(r) != 1 || r[0].SamplesSent < uint64(want.samples()) {
		t.Errorf("after the changes: %+v", r)
	}

	// Removed: nothing more is sent, and the status lists no remote.
	reload("prometheus:\n  scrape_configs: []\n", http.StatusOK)
	if r := remotes(); len(r) != 0 {
		t.Errorf("the removed remote is still listed: %+v", r)
	}
	req, _ = rwBatch("rw_e2e_reload", 2, 5, 20, end)
	v.mustWrite(t, req)
	v.flush(t)
	if err := diffSets(exportVM(t, vm.URL(), "rw_e2e_reload"), want); err != nil {
		t.Errorf("after the remote was removed: %v", err)
	}
	v.Stop()
}
