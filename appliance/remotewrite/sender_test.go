package remotewrite

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promauth"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promrelabel"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promutil"
	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/vigil-monitoring/vigil/storage"
)

// receiver is a remote write endpoint on 127.0.0.1 that decodes what it
// is sent with Prometheus' own protobuf types and answers as answer says.
type receiver struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	requests []receivedRequest
	answer   func(n int, req *prompb.WriteRequest) (status int, header http.Header)
}

type receivedRequest struct {
	at      time.Time
	header  http.Header
	status  int
	samples []sample
}

func newReceiver(t *testing.T, answer func(n int, req *prompb.WriteRequest) (int, http.Header)) *receiver {
	r := &receiver{t: t, answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, "not snappy: "+err.Error(), http.StatusBadRequest)
		return
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		http.Error(w, "not a WriteRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	n := len(r.requests)
	status, header := http.StatusNoContent, http.Header(nil)
	if r.answer != nil {
		status, header = r.answer(n, &wr)
	}
	rec := receivedRequest{at: time.Now(), header: req.Header.Clone(), status: status}
	for _, ts := range wr.Timeseries {
		var b strings.Builder
		b.WriteString("{")
		for i, l := range ts.Labels {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
		}
		b.WriteString("}")
		if !slices.IsSortedFunc(ts.Labels, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) }) {
			r.t.Errorf("labels not sorted: %s", b.String())
		}
		for _, s := range ts.Samples {
			rec.samples = append(rec.samples, sample{b.String(), s.Timestamp, s.Value})
		}
	}
	r.requests = append(r.requests, rec)
	r.mu.Unlock()
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	if status >= 300 {
		fmt.Fprintf(w, "answered %d on purpose", status)
	}
}

// accepted returns the samples of the requests answered 2xx, in the order
// they came.
func (r *receiver) accepted() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sample
	for _, req := range r.requests {
		if req.status/100 == 2 {
			out = append(out, req.samples...)
		}
	}
	return out
}

func (r *receiver) snapshot() []receivedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// bySeries groups samples by series, keeping their order.
func bySeries(samples []sample) map[string][]sample {
	out := map[string][]sample{}
	for _, s := range samples {
		out[s.series] = append(out[s.series], s)
	}
	return out
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dur(d time.Duration) *promutil.Duration { return promutil.NewDuration(d) }

// startManager opens a store tapped by a new Manager over dataDir and
// applies cfg to it, as the appliance does.
func startManager(t *testing.T, dataDir string, external map[string]string, cfgs ...Config) (*Manager, *storage.Storage) {
	t.Helper()
	m := NewManager(Options{DataDir: dataDir, Version: "test", Logger: quietLogger()})
	st := openStore(t, m)
	if err := m.Apply([]Source{{File: "test.yml", BaseDir: dataDir, Entries: cfgs}}, external); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, st
}

// storeSeries stores batches of series×n samples of test_metric and
// returns what a remote should receive of them, with extra labels.
func storeSeries(t *testing.T, st *storage.Storage, first, batches, series, n int) []sample {
	t.Helper()
	var want []sample
	for b := first; b < first+batches; b++ {
		appendSeries(t, st, series, n, testStart+int64(b*n)*1000, 1000, func(s, i int) float64 { return value(s, b*n+i) })
		for s := range series {
			for i := range n {
				want = append(want, sample{fmt.Sprintf(`{__name__="test_metric",replica="a",series="%d"}`, s), testStart + int64(b*n+i)*1000, value(s, b*n+i)})
			}
		}
	}
	return want
}

func checkDelivered(t *testing.T, got, want []sample) {
	t.Helper()
	g, w := bySeries(got), bySeries(want)
	if len(g) != len(w) {
		t.Errorf("%d series delivered, want %d", len(g), len(w))
	}
	for series, ws := range w {
		gs := g[series]
		if !slices.Equal(gs, ws) {
			t.Errorf("series %s: %d samples delivered, want %d in order (first got %v, first want %v)", series, len(gs), len(ws), first(gs), first(ws))
		}
	}
}

func first(s []sample) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

// Every sample stored reaches the remote once, in order per series, with
// the headers of remote write 1.0, credentials, external labels and
// write_relabel_configs applied; 5xx and 429 are retried, Retry-After
// honoured.
func TestSenderDeliversInOrderWithRetries(t *testing.T) {
	r := newReceiver(t, func(n int, _ *prompb.WriteRequest) (int, http.Header) {
		switch n {
		case 0, 1:
			return http.StatusServiceUnavailable, nil
		case 2:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}
		}
		return http.StatusNoContent, nil
	})
	drop3 := promrelabel.RelabelConfig{Action: "drop", SourceLabels: []string{"series"}, Regex: mustRegex(t, "3")}
	m, st := startManager(t, t.TempDir(), map[string]string{"replica": "a"}, Config{
		URL:                 r.URL + "/api/v1/write",
		Name:                "test",
		BasicAuth:           &promauth.BasicAuthConfig{Username: "vigil", Password: promauth.NewSecret("s3cret")},
		Headers:             map[string]string{"X-Scope-OrgID": "tenant-1"},
		WriteRelabelConfigs: []promrelabel.RelabelConfig{drop3},
		QueueConfig: QueueConfig{
			Capacity: 100, MaxSamplesPerSend: 100, MaxShards: 4,
			BatchSendDeadline: dur(50 * time.Millisecond), MinBackoff: dur(10 * time.Millisecond), MaxBackoff: dur(40 * time.Millisecond),
		},
	})
	want := storeSeries(t, st, 0, 10, 8, 25)
	var kept []sample
	for _, s := range want {
		if !strings.Contains(s.series, `series="3"`) {
			kept = append(kept, s)
		}
	}
	waitUntil(t, 30*time.Second, "every sample delivered", func() bool {
		return len(r.accepted()) >= len(kept) && m.Status()[0].SamplesSent >= uint64(len(kept)) && m.Status()[0].PendingBytes == 0
	})
	checkDelivered(t, r.accepted(), kept)

	reqs := r.snapshot()
	for _, req := range reqs {
		h := req.header
		for name, want := range map[string]string{
			"Content-Encoding":                  "snappy",
			"Content-Type":                      "application/x-protobuf",
			"User-Agent":                        "Vigil/test",
			"X-Prometheus-Remote-Write-Version": "0.1.0",
			"X-Scope-Orgid":                     "tenant-1",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("header %s = %q, want %q", name, got, want)
			}
		}
		if user, pass, ok := (&http.Request{Header: h}).BasicAuth(); !ok || user != "vigil" || pass != "s3cret" {
			t.Errorf("basic auth = %q %q %v", user, pass, ok)
		}
	}
	// The shard that got the 429 sent the same request again no sooner
	// than Retry-After said; the other shards went on meanwhile.
	retried := false
	for _, req := range reqs[3:] {
		if slices.Equal(req.samples, reqs[2].samples) {
			retried = true
			if wait := req.at.Sub(reqs[2].at); wait < 900*time.Millisecond {
				t.Errorf("the retry after a 429 with Retry-After: 1 came %s later", wait)
			}
			break
		}
	}
	if !retried {
		t.Error("the request answered 429 was not sent again")
	}
	status := m.Status()[0]
	if status.SamplesSent != uint64(len(kept)) || status.SamplesFiltered != uint64(len(want)-len(kept)) || status.SamplesRetried == 0 {
		t.Errorf("status = %+v; want %d sent, %d filtered, some retried", status, len(kept), len(want)-len(kept))
	}
	if !strings.Contains(status.LastError, " answered ") || status.LastSendTime.IsZero() || status.PendingBytes != 0 {
		t.Errorf("status = %+v", status)
	}
}

func mustRegex(t *testing.T, re string) *promrelabel.MultiLineRegex {
	t.Helper()
	var m promrelabel.MultiLineRegex
	if err := m.UnmarshalYAML(func(v any) error { *(v.(*any)) = re; return nil }); err != nil {
		t.Fatal(err)
	}
	return &m
}

// A request the remote refuses with a 4xx is dropped and counted; the
// others go on.
func TestSenderDropsRejectedRequests(t *testing.T) {
	r := newReceiver(t, func(n int, _ *prompb.WriteRequest) (int, http.Header) {
		if n == 0 {
			return http.StatusBadRequest, nil
		}
		return http.StatusNoContent, nil
	})
	m, st := startManager(t, t.TempDir(), map[string]string{"replica": "a"}, Config{
		URL:         r.URL,
		QueueConfig: QueueConfig{Capacity: 50, MaxSamplesPerSend: 50, MaxShards: 1, BatchSendDeadline: dur(20 * time.Millisecond)},
	})
	want := storeSeries(t, st, 0, 4, 5, 20)
	waitUntil(t, 30*time.Second, "every request answered", func() bool {
		s := m.Status()[0]
		return int(s.SamplesSent+s.SamplesDropped[reasonRejected]) == len(want)
	})
	reqs := r.snapshot()
	s := m.Status()[0]
	if s.SamplesDropped[reasonRejected] != uint64(len(reqs[0].samples)) || len(reqs[0].samples) == 0 {
		t.Errorf("dropped %d samples as rejected, want the %d of the refused request", s.SamplesDropped[reasonRejected], len(reqs[0].samples))
	}
	if !strings.Contains(s.LastError, "answered 400: answered 400 on purpose") {
		t.Errorf("last error %q does not give the answer", s.LastError)
	}
	checkDelivered(t, append(slices.Clone(reqs[0].samples), r.accepted()...), want)
}

// A round interrupted by a stop resumes at the next start without sending
// again what the remote already took, and nothing queued is lost.
func TestSenderResumesAnInterruptedRound(t *testing.T) {
	var mu sync.Mutex
	up := true
	r := newReceiver(t, func(n int, _ *prompb.WriteRequest) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if n >= 5 && up {
			up = false // the remote goes down after five requests
		}
		if !up && n >= 5 {
			return http.StatusBadGateway, nil
		}
		return http.StatusNoContent, nil
	})
	dataDir := t.TempDir()
	cfg := Config{
		URL:         r.URL,
		QueueConfig: QueueConfig{Capacity: 1000, MaxSamplesPerSend: 40, MaxShards: 1, BatchSendDeadline: dur(200 * time.Millisecond), MinBackoff: dur(10 * time.Millisecond), MaxBackoff: dur(20 * time.Millisecond)},
	}
	m := NewManager(Options{DataDir: dataDir, Version: "test", Logger: quietLogger()})
	st := openStore(t, m)
	if err := m.Apply([]Source{{File: "test.yml", Entries: []Config{cfg}}}, map[string]string{"replica": "a"}); err != nil {
		t.Fatal(err)
	}
	want := storeSeries(t, st, 0, 3, 10, 20) // 600 samples: one round of 15 requests
	waitUntil(t, 30*time.Second, "the remote failing", func() bool { return len(r.snapshot()) > 7 })
	m.Close()
	delivered := len(r.accepted())
	if delivered != 5*40 {
		t.Fatalf("%d samples delivered before the stop, want 200", delivered)
	}
	mu.Lock()
	up = true
	r.answer = func(int, *prompb.WriteRequest) (int, http.Header) { return http.StatusNoContent, nil }
	mu.Unlock()

	m2 := NewManager(Options{DataDir: dataDir, Version: "test", Logger: quietLogger()})
	t.Cleanup(m2.Close)
	if err := m2.Apply([]Source{{File: "test.yml", Entries: []Config{cfg}}}, map[string]string{"replica": "a"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "everything delivered", func() bool { return len(r.accepted()) >= len(want) })
	time.Sleep(300 * time.Millisecond) // nothing more may come
	checkDelivered(t, r.accepted(), want)
}

// A reload changes a running remote's settings and keeps its queue; a
// removed remote stops and keeps its queue on disk.
func TestManagerReload(t *testing.T) {
	r := newReceiver(t, nil)
	dataDir := t.TempDir()
	cfg := Config{URL: r.URL, Name: "central", QueueConfig: QueueConfig{BatchSendDeadline: dur(20 * time.Millisecond)}}
	m, st := startManager(t, dataDir, map[string]string{"replica": "a"}, cfg)
	want := storeSeries(t, st, 0, 1, 3, 10)
	waitUntil(t, 30*time.Second, "first batch delivered", func() bool { return m.Status()[0].SamplesSent == uint64(len(want)) })

	cfg.Headers = map[string]string{"X-Scope-OrgID": "after-reload"}
	if err := m.Apply([]Source{{File: "test.yml", Entries: []Config{cfg}}}, map[string]string{"replica": "a"}); err != nil {
		t.Fatal(err)
	}
	want = append(want, storeSeries(t, st, 1, 1, 3, 10)...)
	waitUntil(t, 30*time.Second, "second batch delivered", func() bool { return m.Status()[0].SamplesSent == uint64(len(want)) })
	reqs := r.snapshot()
	if got := reqs[len(reqs)-1].header.Get("X-Scope-OrgID"); got != "after-reload" {
		t.Errorf("after the reload the header is %q", got)
	}
	if s := m.Status(); len(s) != 1 || s[0].SamplesSent != uint64(len(want)) {
		t.Errorf("after the reload the status is %+v; the counts should carry over", s)
	}

	// A bad configuration changes nothing.
	bad := cfg
	bad.SigV4 = map[string]any{"region": "eu-west-1"}
	if err := m.Apply([]Source{{File: "test.yml", Entries: []Config{bad}}}, nil); err == nil || !strings.Contains(err.Error(), `unsupported option "sigv4"`) {
		t.Errorf("Apply(sigv4) = %v", err)
	}
	if len(m.Status()) != 1 {
		t.Error("a refused configuration removed the remote")
	}

	if err := m.Apply(nil, nil); err != nil {
		t.Fatal(err)
	}
	if len(m.Status()) != 0 {
		t.Errorf("the removed remote still runs: %+v", m.Status())
	}
	before := len(r.accepted())
	storeSeries(t, st, 2, 1, 3, 10)
	time.Sleep(200 * time.Millisecond)
	if len(r.accepted()) != before {
		t.Error("a removed remote still receives samples")
	}
	if _, err := filepath.Glob(filepath.Join(dataDir, DirName, "central", "queue")); err != nil {
		t.Error(err)
	}
}
