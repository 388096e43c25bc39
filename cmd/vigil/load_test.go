//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// The load test of issue 3: remote-write senders and query loops against
// the real binary at once, for -load.duration. CI runs the short default;
// a soak run is
//
//	go test ./cmd/vigil -run 'TestLoad$' -load.duration=5m -v
//
// It fails on any answer but 2xx and the documented limit rejections
// (README, "Limits"), on a transport error, on resident memory that keeps
// growing (the last quarter of the run against the second), and if a
// sample acknowledged to a sender is missing at the end. It logs samples/s,
// queries/s, query latency, peak RSS and the server's CPU time.

var loadDuration = flag.Duration("load.duration", 25*time.Second, "how long TestLoad ingests and queries (CI runs the default; a soak run: 5m)")

const (
	loadSenders           = 4   // remote-write senders, as the shards of a Prometheus queue
	loadReplicasPerSender = 2   // Panic API replicas (1,290 series each) per sender
	loadBatchSeries       = 500 // series per request...
	loadBatchRounds       = 4   // ...times scrapes per series: 2,000 samples, Prometheus' max_samples_per_send
	loadScrapeInterval    = 15 * time.Second
	// loadHistory is how far in the past the senders' clock starts: they
	// send as fast as Vigil takes it, one scrape interval per round, and
	// wait for the wall clock only if they catch up with it.
	loadHistory = 7 * 24 * time.Hour

	// The noisy client: sender 0 also sends, per round block, a request of
	// loadNoisySeries new series of one metric name (a request ID as a
	// label), which --limits.max-series-per-metric refuses once
	// loadMetricSeriesLimit series of that name exist. The Panic families
	// stay below the limit (panic_requests_total, the largest, has 480
	// series per replica).
	loadNoisySeries       = 50
	loadMetricSeriesLimit = 5000

	// loadRSSGrowth is how much the resident memory of the last quarter of
	// the run may exceed that of the second quarter.
	loadRSSGrowth = 2.0
)

// The Panic platform's queries, as in the benchmark (bench/run.sh): range
// queries over the last hour at a 15 s step, and instant queries.
var (
	loadRangeQueries = []string{
		`rate(http_requests_total{endpoint="/api/v1/panic",status="200"}[5m])`,
		`sum by (zone, service_type) (rate(panic_requests_total[5m]))`,
		`sum by (endpoint) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (endpoint) (rate(http_requests_total[5m]))`,
		`histogram_quantile(0.95, sum by (le, zone) (rate(panic_request_response_time_seconds_bucket[5m])))`,
		`histogram_quantile(0.99, sum by (le, endpoint) (rate(http_request_duration_seconds_bucket[5m])))`,
		`topk(5, sum by (firm_id) (rate(panic_requests_total{status="accepted"}[5m])))`,
		`count by (__name__) ({job="panic-api"})`,
		`sum by (zone) (avg_over_time(responders_available[10m]))`,
	}
	loadInstantQueries = []string{
		`sum(panic_requests_total)`,
		`topk(10, sum by (firm_id, zone) (increase(panic_requests_total[1h])))`,
		`histogram_quantile(0.5, sum by (le, service_type) (rate(panic_request_response_time_seconds_bucket[5m])))`,
		`count({job="panic-api"})`,
		`sum by (plan) (subscriptions_active)`,
	}
)

func TestLoad(t *testing.T) {
	duration := *loadDuration
	p := startVigilProcess(t, fmt.Sprintf("--limits.max-series-per-metric=%d", loadMetricSeriesLimit))
	pid := p.cmd.Process.Pid
	// Prometheus writes with a writer's token and Grafana reads with a
	// viewer's: tokens, not passwords, as in production.
	createUserViaAPI(t, p.BaseURL, "prometheus", "writer")
	_, writeToken := createTokenViaAPI(t, p.BaseURL, "prometheus", "remote-write", "")
	createUserViaAPI(t, p.BaseURL, "grafana", "viewer")
	_, readToken := createTokenViaAPI(t, p.BaseURL, "grafana", "dashboards", "")
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: loadSenders + 2}
	t.Cleanup(tr.CloseIdleConnections)
	writer := &http.Client{Transport: bearerTransport(tr, writeToken), Timeout: 30 * time.Second}
	reader := &http.Client{Transport: bearerTransport(tr, readToken), Timeout: 60 * time.Second}

	senders := make([]*loadSender, loadSenders)
	for w := range senders {
		senders[w] = newLoadSender(w, p.BaseURL, writer)
	}
	simStart := time.Now().Add(-loadHistory).Truncate(loadScrapeInterval)
	t.Logf("load: %d senders × %d series (%d replicas of the Panic API), %d queries in 2 loops, for %s; load average before: %s",
		loadSenders, len(senders[0].series), loadSenders*loadReplicasPerSender, len(loadRangeQueries)+len(loadInstantQueries), duration, loadAverage())

	var (
		ctx, cancel = context.WithCancel(context.Background())
		wg          sync.WaitGroup
		queriers    = []*loadQuerier{{path: "/api/v1/query_range", queries: loadRangeQueries}, {path: "/api/v1/query", queries: loadInstantQueries}}
		rss         = &rssMonitor{pid: pid}
		cpuBefore   = processCPU(t, pid)
		began       = time.Now()
	)
	defer cancel()
	wg.Go(func() { rss.run(ctx, 250*time.Millisecond) })
	for _, s := range senders {
		wg.Go(func() { s.run(ctx, simStart) })
	}
	frontier := func() time.Time {
		f := senders[0].acked()
		for _, s := range senders[1:] {
			f = min(f, s.acked())
		}
		return time.UnixMilli(f)
	}
	searchable := &loadFrontier{}
	wg.Go(func() { searchable.run(ctx, frontier) })
	for _, q := range queriers {
		wg.Go(func() { q.run(ctx, p.BaseURL, reader, simStart, searchable.at) })
	}
	fresh := &freshnessProbe{}
	wg.Go(func() { fresh.run(ctx, p.BaseURL, reader, frontier, searchable) })

	// Fail early on the first unexpected answer rather than after the
	// whole soak.
	tick := time.NewTicker(time.Second)
	for deadline := time.After(duration); ; {
		stop := false
		select {
		case <-deadline:
			stop = true
		case <-tick.C:
		}
		failed := false
		for _, s := range senders {
			failed = failed || s.results.failed() > 0
		}
		for _, q := range queriers {
			failed = failed || q.results.failed() > 0
		}
		failed = failed || fresh.results.failed() > 0
		if stop || failed {
			break
		}
	}
	tick.Stop()
	cancel()
	wg.Wait()
	elapsed := time.Since(began)
	cpu := processCPU(t, pid) - cpuBefore
	peak := rss.readStatus("VmHWM")

	// The figures.
	var samples, requests, noisyRefused int64
	for _, s := range senders {
		samples += s.samples.Load()
		requests += s.results.ok.Load()
		noisyRefused += s.noisyRefused.Load()
	}
	t.Logf("ingestion: %d samples acknowledged in %d requests, %.0f samples/s; %d noisy-client requests refused by --limits.max-series-per-metric",
		samples, requests, float64(samples)/elapsed.Seconds(), noisyRefused)
	var all []time.Duration
	queries := int64(0)
	for _, q := range queriers {
		lat := q.latencies()
		all = append(all, lat...)
		queries += int64(len(lat))
		t.Logf("%s: %d queries (%d with an empty result), %.1f/s, latency p50 %s p99 %s max %s",
			q.path, len(lat), q.empty.Load(), float64(len(lat))/elapsed.Seconds(), percentile(lat, 0.50), percentile(lat, 0.99), percentile(lat, 1))
		if q.empty.Load() == int64(len(lat)) {
			t.Errorf("%s: every one of %d queries had an empty result: they did not reach the data", q.path, len(lat))
		}
	}
	t.Logf("queries: %d, %.1f/s, latency p50 %s p99 %s", queries, float64(queries)/elapsed.Seconds(), percentile(all, 0.50), percentile(all, 0.99))
	if lags := fresh.latencies(); len(lags) > 0 {
		t.Logf("freshness: samples became searchable %s after their acknowledgement at the median, %s at most (%d probes)",
			percentile(lags, 0.5).Round(100*time.Millisecond), percentile(lags, 1).Round(100*time.Millisecond), len(lags))
	}
	byQuarter := rss.quarters(began, elapsed)
	mid, end := byQuarter[1], byQuarter[3]
	t.Logf("memory: peak RSS (VmHWM) %.0f MiB; RSS max by quarter of the run %.0f, %.0f, %.0f, %.0f MiB",
		mib(peak), mib(byQuarter[0]), mib(byQuarter[1]), mib(byQuarter[2]), mib(byQuarter[3]))
	t.Logf("server CPU %.1f s in %.1f s (%.2f cores); senders' clock reached %s of simulated time; load average after: %s",
		cpu.Seconds(), elapsed.Seconds(), cpu.Seconds()/elapsed.Seconds(), frontier().Sub(simStart).Round(time.Minute), loadAverage())

	// The verdicts.
	for _, s := range senders {
		s.results.report(t, fmt.Sprintf("sender %d", s.id))
	}
	for _, q := range queriers {
		q.results.report(t, q.path)
	}
	fresh.results.report(t, "freshness probe")
	if elapsed < duration {
		t.Fatalf("stopped after %s of %s on the failures above", elapsed.Round(time.Millisecond), duration)
	}
	if samples == 0 || queries == 0 {
		t.Fatalf("%d samples acknowledged and %d queries answered: no load", samples, queries)
	}
	if noisyRefused == 0 {
		t.Errorf("the noisy client was never refused by --limits.max-series-per-metric=%d", loadMetricSeriesLimit)
	}
	if mid == 0 || end == 0 {
		t.Errorf("no RSS sampled in the 2nd or the last quarter of the run")
	} else if float64(end) > loadRSSGrowth*float64(mid) {
		t.Errorf("RSS grew from %.0f MiB in the 2nd quarter to %.0f MiB in the last: more than %.1f×, memory is not bounded",
			mib(mid), mib(end), loadRSSGrowth)
	}
	checkLoadStored(t, p.BaseURL, reader, senders, simStart)
	p.Stop()
}

// checkLoadStored makes everything searchable and checks, through
// client_golang as Grafana's viewer, that the `up` series of every replica
// holds exactly one sample per round its sender had acknowledged, and that
// every series of the senders is there.
func checkLoadStored(t *testing.T, baseURL string, reader *http.Client, senders []*loadSender, simStart time.Time) {
	t.Helper()
	resp, err := adminClient().Get(baseURL + "/internal/force_flush")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c, err := api.NewClient(api.Config{Address: baseURL, Client: reader})
	if err != nil {
		t.Fatal(err)
	}
	queryAPI := promv1.NewAPI(c)
	value := func(q string, at time.Time) float64 {
		t.Helper()
		got, _, _, err := queryAPI.Query(context.Background(), q, at)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if vec, ok := got.(model.Vector); ok && len(vec) == 1 {
			return float64(vec[0].Value)
		}
		t.Fatalf("%s = %v, want one sample", q, got)
		return 0
	}
	for _, s := range senders {
		rounds := s.rounds.Load()
		at := time.UnixMilli(s.acked())
		window := at.Sub(simStart) + time.Second
		for _, inst := range s.instances {
			q := fmt.Sprintf(`count_over_time(up{instance=%q}[%dms])`, inst, window.Milliseconds())
			if got := value(q, at); got != float64(rounds) {
				t.Errorf("%s = %v, want %d: the rounds sender %d had acknowledged", q, got, rounds, s.id)
			}
		}
		q := fmt.Sprintf(`count(last_over_time({job="panic-api",instance=~"%s"}[1h]))`, strings.Join(s.instances, "|"))
		if got := value(q, at); got != float64(len(s.series)) {
			t.Errorf("%s = %v, want %d series", q, got, len(s.series))
		}
	}
}

// isLimitRejection reports whether an answer is one of the documented limit
// rejections (README, "Limits"): 429, or 400/413/422 naming the limit.
func isLimitRejection(code int, body []byte) bool {
	switch code {
	case http.StatusTooManyRequests:
		return true
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return bytes.Contains(body, []byte("--limits.")) || bytes.Contains(body, []byte("--query.max-")) ||
			bytes.Contains(body, []byte("too many samples"))
	case http.StatusRequestEntityTooLarge:
		return bytes.Contains(body, []byte("request body too large"))
	}
	return false
}

// loadResults counts the answers of one client goroutine and keeps the
// first unexpected ones.
type loadResults struct {
	ok, limited atomic.Int64
	mu          sync.Mutex
	failures    []string // the first 10 unexpected answers
	nFailed     int
}

func (r *loadResults) record(code int, body []byte, err error) {
	switch {
	case err == nil && code/100 == 2:
		r.ok.Add(1)
		return
	case err == nil && isLimitRejection(code, body):
		r.limited.Add(1)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nFailed++
	if len(r.failures) < 10 {
		if err != nil {
			r.failures = append(r.failures, err.Error())
		} else {
			r.failures = append(r.failures, fmt.Sprintf("%d %s", code, bytes.TrimSpace(body[:min(len(body), 500)])))
		}
	}
}

func (r *loadResults) failed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nFailed
}

func (r *loadResults) report(t *testing.T, who string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nFailed > 0 {
		t.Errorf("%s: %d unexpected answers (besides %d 2xx, %d limit rejections); the first:\n%s",
			who, r.nFailed, r.ok.Load(), r.limited.Load(), strings.Join(r.failures, "\n"))
	}
}

// loadSender sends the series of its replicas by remote write, one round
// (one scrape of every series) after another, loadBatchRounds rounds per
// request.
type loadSender struct {
	id        int
	url       string
	client    *http.Client
	instances []string
	series    []loadSeries

	results      loadResults
	samples      atomic.Int64 // acknowledged samples of the Panic series
	rounds       atomic.Int64 // rounds acknowledged in full
	ackedMs      atomic.Int64 // timestamp of the last round acknowledged in full
	noisyRefused atomic.Int64

	req    prompb.WriteRequest
	pb, sn []byte
}

func newLoadSender(id int, baseURL string, c *http.Client) *loadSender {
	s := &loadSender{id: id, url: baseURL + "/api/v1/write", client: c}
	for r := range loadReplicasPerSender {
		inst := fmt.Sprintf("panic-api-%03d:9100", id*loadReplicasPerSender+r)
		s.instances = append(s.instances, inst)
		s.series = append(s.series, panicReplicaSeries(inst)...)
	}
	return s
}

func (s *loadSender) acked() int64 { return s.ackedMs.Load() }

// run sends until ctx is done; a block of rounds once begun is finished,
// so that the counts of acknowledged rounds are exact.
func (s *loadSender) run(ctx context.Context, simStart time.Time) {
	for k := 0; ctx.Err() == nil; k += loadBatchRounds {
		last := simStart.Add(time.Duration(k+loadBatchRounds-1) * loadScrapeInterval)
		if wait := time.Until(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		blockOK := true
		for first := 0; first < len(s.series); first += loadBatchSeries {
			batch := s.series[first:min(first+loadBatchSeries, len(s.series))]
			s.req.Timeseries = s.req.Timeseries[:0]
			n := 0
			for i := range batch {
				ts := prompb.TimeSeries{Labels: batch[i].labels, Samples: batch[i].samples[:0]}
				for r := k; r < k+loadBatchRounds; r++ {
					ts.Samples = append(ts.Samples, prompb.Sample{
						Timestamp: simStart.Add(time.Duration(r) * loadScrapeInterval).UnixMilli(),
						Value:     batch[i].value(r),
					})
				}
				batch[i].samples = ts.Samples
				n += len(ts.Samples)
				s.req.Timeseries = append(s.req.Timeseries, ts)
			}
			if s.send() {
				s.samples.Add(int64(n))
			} else {
				blockOK = false
			}
		}
		if s.id == 0 {
			s.sendNoisy(k, simStart)
		}
		if blockOK {
			s.rounds.Store(int64(k + loadBatchRounds))
			s.ackedMs.Store(last.UnixMilli())
		}
	}
}

// sendNoisy sends loadNoisySeries series never seen before.
func (s *loadSender) sendNoisy(k int, simStart time.Time) {
	s.req.Timeseries = s.req.Timeseries[:0]
	at := simStart.Add(time.Duration(k) * loadScrapeInterval).UnixMilli()
	for i := range loadNoisySeries {
		s.req.Timeseries = append(s.req.Timeseries, proofSeries(
			"__name__", "panic_debug_request_seconds", "instance", s.instances[0], "job", "panic-api-debug",
			"request_id", fmt.Sprintf("r%08d", k/loadBatchRounds*loadNoisySeries+i)))
		s.req.Timeseries[i].Samples = []prompb.Sample{{Timestamp: at, Value: float64(i)}}
	}
	before := s.results.limited.Load()
	s.send()
	if s.results.limited.Load() > before {
		s.noisyRefused.Add(1)
	}
}

// send posts s.req and records the answer; it reports whether it was 2xx.
func (s *loadSender) send() bool {
	size := s.req.Size()
	if cap(s.pb) < size {
		s.pb = make([]byte, size)
	}
	s.pb = s.pb[:size]
	if _, err := s.req.MarshalToSizedBuffer(s.pb); err != nil {
		s.results.record(0, nil, fmt.Errorf("marshalling the write request: %w", err))
		return false
	}
	s.sn = snappy.Encode(s.sn[:cap(s.sn)], s.pb)
	hr, err := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(s.sn))
	if err != nil {
		s.results.record(0, nil, err)
		return false
	}
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := s.client.Do(hr)
	if err != nil {
		s.results.record(0, nil, err)
		return false
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.results.record(resp.StatusCode, body, err)
	return err == nil && resp.StatusCode/100 == 2
}

// loadQuerier runs its queries one after another against path, as a
// dashboard refreshing its panels, at the senders' frontier.
type loadQuerier struct {
	path    string
	queries []string
	results loadResults
	empty   atomic.Int64 // successful answers with an empty result

	mu  sync.Mutex
	lat []time.Duration
}

func (q *loadQuerier) run(ctx context.Context, baseURL string, c *http.Client, simStart time.Time, searchable func(time.Time) time.Time) {
	for i := 0; ctx.Err() == nil; i++ {
		at := searchable(time.Now())
		if !at.After(simStart) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			i--
			continue
		}
		form := url.Values{"query": {q.queries[i%len(q.queries)]}}
		if q.path == "/api/v1/query_range" {
			form.Set("start", strconv.FormatInt(at.Add(-time.Hour).Unix(), 10))
			form.Set("end", strconv.FormatInt(at.Unix(), 10))
			form.Set("step", "15")
		} else {
			form.Set("time", strconv.FormatInt(at.Unix(), 10))
		}
		began := time.Now()
		resp, err := c.PostForm(baseURL+q.path, form)
		if err != nil {
			if ctx.Err() == nil {
				q.results.record(0, nil, err)
			}
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(began)
		if err == nil && resp.StatusCode == http.StatusOK {
			var env struct {
				Status string
				Data   struct{ Result []json.RawMessage }
			}
			if jerr := json.Unmarshal(body, &env); jerr != nil || env.Status != "success" {
				err = fmt.Errorf("%s: 200 with a body that is not a success envelope: %.300s", form.Get("query"), body)
			} else if len(env.Data.Result) == 0 {
				q.empty.Add(1)
			}
		}
		q.results.record(resp.StatusCode, body, err)
		q.mu.Lock()
		q.lat = append(q.lat, took)
		q.mu.Unlock()
	}
}

// freshnessProbe measures how long after their acknowledgement samples
// become searchable: it asks for the newest searchable sample of the
// senders' `up` series and looks up when their clock had reached it.
type freshnessProbe struct {
	results loadResults
	mu      sync.Mutex
	lags    []time.Duration
}

func (f *freshnessProbe) run(ctx context.Context, baseURL string, c *http.Client, frontier func() time.Time, reached *loadFrontier) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		at := frontier()
		if at.UnixMilli() == 0 {
			continue
		}
		// The oldest of the replicas' newest samples, looked for a day
		// back on the senders' clock.
		form := url.Values{"query": {`min(timestamp(up{job="panic-api"}))`}, "time": {strconv.FormatInt(at.Unix(), 10)}, "lookback_delta": {"1d"}}
		asked := time.Now()
		resp, err := c.PostForm(baseURL+"/api/v1/query", form)
		if err != nil {
			f.results.record(0, nil, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		f.results.record(resp.StatusCode, body, err)
		var env struct {
			Data struct{ Result []struct{ Value [2]any } }
		}
		if json.Unmarshal(body, &env) != nil || len(env.Data.Result) != 1 {
			continue
		}
		v, _ := env.Data.Result[0].Value[1].(string)
		newest, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		if wall, ok := reached.when(time.UnixMilli(int64(newest * 1000))); ok {
			f.mu.Lock()
			f.lags = append(f.lags, asked.Sub(wall))
			f.mu.Unlock()
		}
	}
}

func (f *freshnessProbe) latencies() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.lags)
}

// loadSearchLag is how long after the senders' clock reached a point the
// queries evaluate there: Vigil makes samples searchable within about a
// second of their acknowledgement, and at the senders' pace a second holds
// several minutes of their clock.
const loadSearchLag = 10 * time.Second

// loadFrontier remembers when the senders' clock reached which point.
type loadFrontier struct {
	mu      sync.Mutex
	wall    []time.Time
	reached []time.Time
}

func (f *loadFrontier) run(ctx context.Context, frontier func() time.Time) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		f.mu.Lock()
		f.wall = append(f.wall, time.Now())
		f.reached = append(f.reached, frontier())
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// at returns where the senders' clock was loadSearchLag before now (the
// Unix epoch before that).
func (f *loadFrontier) at(now time.Time) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, _ := slices.BinarySearchFunc(f.wall, now.Add(-loadSearchLag), time.Time.Compare)
	if i == 0 {
		return time.UnixMilli(0)
	}
	return f.reached[i-1]
}

// when returns the last wall time at which the senders' clock had not yet
// passed sim: samples at sim were acknowledged by the next record at the
// latest. It reports false if the clock passed sim before the first record.
func (f *loadFrontier) when(sim time.Time) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, _ := slices.BinarySearchFunc(f.reached, sim, func(r, sim time.Time) int {
		if r.Before(sim) {
			return -1
		}
		return 1
	})
	if i == 0 {
		return time.Time{}, false
	}
	return f.wall[i-1], true
}

func (q *loadQuerier) latencies() []time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.lat)
}

// percentile returns the p-quantile (0 < p <= 1) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(i, 0)].Round(100 * time.Microsecond)
}

// rssMonitor samples the resident memory of a process.
type rssMonitor struct {
	pid     int
	mu      sync.Mutex
	samples []rssSample
}

type rssSample struct {
	at  time.Time
	rss int64 // bytes
}

func (m *rssMonitor) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if v := m.readStatus("VmRSS"); v > 0 {
			m.mu.Lock()
			m.samples = append(m.samples, rssSample{time.Now(), v})
			m.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readStatus returns a "kB" field of /proc/PID/status in bytes, 0 if the
// process is gone.
func (m *rssMonitor) readStatus(field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", m.pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// quarters returns the largest RSS sampled in each quarter of the run that
// began at began and lasted elapsed.
func (m *rssMonitor) quarters(began time.Time, elapsed time.Duration) (most [4]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.samples {
		q := min(int(4*s.at.Sub(began)/elapsed), 3)
		if q >= 0 {
			most[q] = max(most[q], s.rss)
		}
	}
	return most
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// processCPU returns the user and system CPU time of a process, from
// /proc/PID/stat (in clock ticks of 1/100 s, USER_HZ on Linux).
func processCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}
