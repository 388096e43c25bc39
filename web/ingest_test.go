package web

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// ingestServer serves the real handlers over HTTP on 127.0.0.1.
func ingestServer(t *testing.T, opts Options) (*httptest.Server, *storage.Storage) {
	t.Helper()
	st := openStorage(t)
	s := newTestServer(t, st, opts, Deps{Pushgateway: ingest.NewGroups(ingest.GroupsOptions{})})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, st
}

func send(t *testing.T, method, url, contentType string, body []byte, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// instant asks the query API and returns "labels=value" lines, sorted as
// the engine returns them.
func instant(t *testing.T, srv *httptest.Server, st *storage.Storage, query string, at time.Time) []string {
	t.Helper()
	st.ForceFlush()
	u := srv.URL + "/api/v1/query?" + url.Values{"query": {query}, "time": {formatUnix(at)}}.Encode()
	code, body := send(t, http.MethodGet, u, "", nil)
	if code != 200 {
		t.Fatalf("%s: %d %s", query, code, body)
	}
	var r struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range r.Data.Result {
		var ls []string
		for _, k := range sortedKeys(s.Metric) {
			ls = append(ls, k+"="+s.Metric[k])
		}
		out = append(out, strings.Join(ls, ",")+" "+s.Value[1].(string))
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func remoteWriteBody(t *testing.T, ts ...prompb.TimeSeries) []byte {
	t.Helper()
	wr := &prompb.WriteRequest{Timeseries: ts}
	b, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

func TestRemoteWrite(t *testing.T) {
	srv, st := ingestServer(t, Options{})
	now := time.Now().Truncate(time.Second)
	body := remoteWriteBody(t, prompb.TimeSeries{
		Labels:  []prompb.Label{{Name: "__name__", Value: "rw_metric"}, {Name: "job", Value: "app"}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: now.Add(-time.Minute).UnixMilli()}, {Value: 2.5, Timestamp: now.UnixMilli()}},
	})
	code, msg := send(t, http.MethodPost, srv.URL+"/api/v1/write", "application/x-protobuf", body, "Content-Encoding", "snappy")
	if code != http.StatusNoContent {
		t.Fatalf("write: %d %s", code, msg)
	}
	if got := instant(t, srv, st, "rw_metric", now); len(got) != 1 || got[0] != "__name__=rw_metric,job=app 2.5" {
		t.Fatalf("got %v", got)
	}

	bad := []struct {
		name string
		body []byte
		want string
	}{
		{"not snappy", []byte("hello world, not snappy"), "snappy"},
		{"not protobuf", snappy.Encode(nil, []byte{0xff, 0xff, 0xff}), "protobuf"},
		{"invalid UTF-8", remoteWriteBody(t, prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "rw_metric"}, {Name: "job", Value: "bad\xff"}},
			Samples: []prompb.Sample{{Value: 1, Timestamp: now.UnixMilli()}},
		}), "UTF-8"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := send(t, http.MethodPost, srv.URL+"/api/v1/write", "application/x-protobuf", tc.body, "Content-Encoding", "snappy")
			if code != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d %q, want 400 mentioning %q", code, msg, tc.want)
			}
		})
	}
	// Nothing of a rejected request is stored, and the server keeps serving.
	if got := instant(t, srv, st, `count(rw_metric)`, now); len(got) != 1 || !strings.HasSuffix(got[0], " 1") {
		t.Fatalf("after bad writes: %v", got)
	}
}

func TestImportPrometheus(t *testing.T) {
	srv, st := ingestServer(t, Options{})
	now := time.Now().Truncate(time.Second)
	text := "# HELP imp_total Things imported.\n# TYPE imp_total counter\n" +
		"imp_total{zone=\"a\"} 3\n" +
		"imp_total{zone=\"b\",env=\"x\"} 4 " + itoa(now.Add(-30*time.Second).UnixMilli()) + "\n"
	code, msg := send(t, http.MethodPost, srv.URL+"/api/v1/import/prometheus?extra_label=env=demo&extra_label=team=ops", "text/plain", []byte(text))
	if code != http.StatusNoContent {
		t.Fatalf("import: %d %s", code, msg)
	}
	got := instant(t, srv, st, "imp_total", now.Add(time.Second))
	want := []string{"__name__=imp_total,env=demo,team=ops,zone=a 3", "__name__=imp_total,env=demo,team=ops,zone=b 4"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Metadata from HELP/TYPE reaches /api/v1/metadata.
	if _, body := send(t, http.MethodGet, srv.URL+"/api/v1/metadata?metric=imp_total", "", nil); !strings.Contains(body, `"counter"`) || !strings.Contains(body, "Things imported.") {
		t.Fatalf("metadata: %s", body)
	}

	// gzip bodies are accepted.
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write([]byte("imp_gz 7\n"))
	_ = zw.Close()
	if code, msg := send(t, http.MethodPost, srv.URL+"/api/v1/import/prometheus", "text/plain", zb.Bytes(), "Content-Encoding", "gzip"); code != http.StatusNoContent {
		t.Fatalf("gzip import: %d %s", code, msg)
	}

	// A sample the store would drop for its time is refused and named, the
	// rest stored (a timestamp in seconds where milliseconds are due reads
	// as 1970, one in microseconds as far in the future).
	future := now.Add(72 * time.Hour).UnixMilli()
	code, msg = send(t, http.MethodPost, srv.URL+"/api/v1/import/prometheus", "text/plain", []byte("imp_when{at=\"now\"} 1\nimp_when{at=\"later\"} 2 "+itoa(future)+"\n"))
	if code != http.StatusBadRequest || !strings.Contains(msg, "1 of 2 samples were refused") || !strings.Contains(msg, "ahead of Vigil's clock") {
		t.Fatalf("import of a sample 3 days ahead: %d %q, want 400 saying so", code, msg)
	}
	if got := instant(t, srv, st, "imp_when", now.Add(time.Second)); len(got) != 1 || !strings.Contains(got[0], "at=now") {
		t.Fatalf("after the partial import: %v", got)
	}

	bad := []struct {
		name, url, body, want string
	}{
		{"line number", "/api/v1/import/prometheus", "ok_metric 1\nok_metric{a=\"1\" 2\n", "line 2"},
		{"bad value", "/api/v1/import/prometheus", "m1 1\nm2 one\n", "line 2"},
		{"bad extra_label", "/api/v1/import/prometheus?extra_label=novalue", "m 1\n", "extra_label"},
		{"invalid UTF-8", "/api/v1/import/prometheus", "m{a=\"\xff\"} 1\n", "UTF-8"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := send(t, http.MethodPost, srv.URL+tc.url, "text/plain", []byte(tc.body))
			if code != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d %q, want 400 mentioning %q", code, msg, tc.want)
			}
		})
	}
	if got := instant(t, srv, st, `ok_metric or m1`, now.Add(time.Second)); len(got) != 0 {
		t.Fatalf("a rejected request stored %v", got)
	}
}

func TestIngestBodyLimit(t *testing.T) {
	srv, st := ingestServer(t, Options{MaxRequestBodyBytes: 1024})
	big := strings.Repeat("big_metric{pad=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"} 1\n", 100)
	for _, path := range []string{"/api/v1/import/prometheus", "/api/v1/write", "/metrics/job/j"} {
		code, msg := send(t, http.MethodPost, srv.URL+path, "text/plain", []byte(big))
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: %d %s, want 413", path, code, msg)
		}
	}
	if got := instant(t, srv, st, `big_metric`, time.Now()); len(got) != 0 {
		t.Fatalf("stored %v", got)
	}
}

// limitedServer serves the real handlers over a store with cardinality
// limits.
func limitedServer(t *testing.T, opts Options, sopts storage.Options) (*httptest.Server, *storage.Storage) {
	t.Helper()
	sopts.Retention = 100 * 365 * 24 * time.Hour
	st, err := storage.Open(t.TempDir(), sopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s := newTestServer(t, st, opts, Deps{Pushgateway: ingest.NewGroups(ingest.GroupsOptions{})})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, st
}

func rwSeries(name, id string, ts int64, values ...float64) prompb.TimeSeries {
	s := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: name}, {Name: "id", Value: id}}}
	for i, v := range values {
		s.Samples = append(s.Samples, prompb.Sample{Value: v, Timestamp: ts + int64(i)*1000})
	}
	return s
}

func TestIngestSamplesPerRequestLimit(t *testing.T) {
	srv, st := limitedServer(t, Options{MaxRequestSamples: 5}, storage.Options{})
	now := time.Now().Truncate(time.Second)
	ts := now.Add(-time.Minute).UnixMilli()
	tests := []struct {
		name, path, contentType string
		body                    []byte
		header                  []string
		want                    []string
	}{
		{"remote write", "/api/v1/write", "application/x-protobuf",
			remoteWriteBody(t, rwSeries("spr_rw", "1", ts, 1, 2, 3), rwSeries("spr_rw", "2", ts, 1, 2, 3)),
			[]string{"Content-Encoding", "snappy"},
			[]string{"6 samples", "limit is 5", "--limits.max-samples-per-request", "nothing of it was stored", "max_samples_per_send"}},
		{"import", "/api/v1/import/prometheus", "text/plain",
			[]byte("spr_imp{id=\"1\"} 1\nspr_imp{id=\"2\"} 1\nspr_imp{id=\"3\"} 1\nspr_imp{id=\"4\"} 1\nspr_imp{id=\"5\"} 1\nspr_imp{id=\"6\"} 1\n"),
			nil,
			[]string{"6 samples", "limit is 5", "nothing of it was stored", "Split the input"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := send(t, http.MethodPost, srv.URL+tc.path, tc.contentType, tc.body, tc.header...)
			if code != http.StatusBadRequest {
				t.Fatalf("%d %q, want 400", code, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
		})
	}
	if got := instant(t, srv, st, `{__name__=~"spr_.*"}`, now); len(got) != 0 {
		t.Fatalf("a request over the limit stored %v", got)
	}
	// At the limit: accepted.
	body := remoteWriteBody(t, rwSeries("spr_rw", "1", ts, 1, 2, 3), rwSeries("spr_rw", "2", ts, 1, 2))
	if code, msg := send(t, http.MethodPost, srv.URL+"/api/v1/write", "application/x-protobuf", body, "Content-Encoding", "snappy"); code != http.StatusNoContent {
		t.Fatalf("5 samples: %d %s", code, msg)
	}
	if got := instant(t, srv, st, `count(spr_rw)`, now); len(got) != 1 || !strings.HasSuffix(got[0], " 2") {
		t.Fatalf("got %v", got)
	}
	if _, body := send(t, http.MethodGet, srv.URL+"/metrics", "", nil); !strings.Contains(body, `vigil_rows_rejected_total{protocol="remote_write",reason="samples_per_request"}`) ||
		!strings.Contains(body, `vigil_ingest_requests_rejected_total{protocol="prometheus_text",reason="limits"}`) {
		t.Errorf("/metrics lacks the samples_per_request counters")
	}
}

// TestIngestCardinalityLimits: series past a limit are refused with 400
// naming them and the limit; the rest of the request is stored and
// queryable, and series already written keep flowing.
func TestIngestCardinalityLimits(t *testing.T) {
	srv, st := limitedServer(t, Options{}, storage.Options{MaxSeries: 4, MaxSeriesPerMetric: 2})
	now := time.Now().Truncate(time.Second)
	ts := now.Add(-time.Minute).UnixMilli()
	rw := func(series ...prompb.TimeSeries) (int, string) {
		return send(t, http.MethodPost, srv.URL+"/api/v1/write", "application/x-protobuf", remoteWriteBody(t, series...), "Content-Encoding", "snappy")
	}
	imp := func(text string) (int, string) {
		return send(t, http.MethodPost, srv.URL+"/api/v1/import/prometheus", "text/plain", []byte(text))
	}
	steps := []struct {
		name  string
		do    func() (int, string)
		code  int
		want  []string
		query string
		// What the query returns, sorted.
		stored []string
	}{
		{"remote write past the per-metric limit", func() (int, string) {
			return rw(rwSeries("lim_rw", "1", ts, 1), rwSeries("lim_rw", "2", ts, 2), rwSeries("lim_rw", "3", ts, 3))
		}, http.StatusBadRequest,
			[]string{"1 of 3 samples", "the other 2 were stored", `lim_rw{id="3"}: metric_series_limit`, "--limits.max-series-per-metric"},
			"lim_rw", []string{"__name__=lim_rw,id=1 1", "__name__=lim_rw,id=2 2"}},
		{"import past the total limit", func() (int, string) {
			return imp("# HELP lim_imp Imported.\n# TYPE lim_imp gauge\nlim_imp{id=\"1\"} 10\nlim_imp{id=\"2\"} 20\nlim_other 30\n")
		}, http.StatusBadRequest,
			[]string{"1 of 3 samples", `lim_other: series_limit: the limit of 4 series written in the last 1h to 2h (--limits.max-series) is reached`, "--limits.max-series"},
			`{__name__=~"lim_imp|lim_other"}`, []string{"__name__=lim_imp,id=1 10", "__name__=lim_imp,id=2 20"}},
		{"existing series keep flowing", func() (int, string) {
			return rw(rwSeries("lim_rw", "2", ts+1000, 22), rwSeries("lim_rw", "1", ts+1000, 11))
		}, http.StatusNoContent, nil,
			"lim_rw", []string{"__name__=lim_rw,id=1 11", "__name__=lim_rw,id=2 22"}},
		{"import of existing series", func() (int, string) {
			return imp("lim_imp{id=\"2\"} 21 " + itoa(time.Now().Add(500*time.Millisecond).UnixMilli()) + "\n")
		}, http.StatusNoContent, nil,
			`lim_imp{id="2"}`, []string{"__name__=lim_imp,id=2 21"}},
	}
	for _, step := range steps {
		code, msg := step.do()
		if code != step.code {
			t.Fatalf("%s: %d %q, want %d", step.name, code, msg, step.code)
		}
		for _, w := range step.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q does not say %q", step.name, msg, w)
			}
		}
		got := instant(t, srv, st, step.query, time.Now().Add(time.Second))
		slices.Sort(got)
		if strings.Join(got, "|") != strings.Join(step.stored, "|") {
			t.Errorf("%s: %s = %v, want %v", step.name, step.query, got, step.stored)
		}
	}
	// The metadata of an import a limit cut short is kept.
	if _, body := send(t, http.MethodGet, srv.URL+"/api/v1/metadata?metric=lim_imp", "", nil); !strings.Contains(body, "Imported.") {
		t.Errorf("metadata: %s", body)
	}
	_, body := send(t, http.MethodGet, srv.URL+"/metrics", "", nil)
	for _, want := range []string{
		`vigil_rows_rejected_total{reason="series_limit"}`,
		`vigil_rows_rejected_total{reason="metric_series_limit"}`,
		"vigil_series_limit_current_series 4",
		"vigil_series_limit_max_series 4",
		"vigil_metric_series_limit_current_series 2",
		"vigil_metric_series_limit_max_series 2",
		`vigil_ingest_requests_rejected_total{protocol="remote_write",reason="limits"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestPushgatewayCardinalityLimit(t *testing.T) {
	srv, st := limitedServer(t, Options{}, storage.Options{MaxSeriesPerMetric: 1})
	code, msg := send(t, http.MethodPut, srv.URL+"/metrics/job/j", "text/plain", []byte("pushed{a=\"1\"} 1\npushed{a=\"2\"} 2\n"))
	if code != http.StatusBadRequest || !strings.Contains(msg, `pushed{a="2", job="j"}: metric_series_limit`) || !strings.Contains(msg, "group was kept") {
		t.Fatalf("PUT: %d %q", code, msg)
	}
	if got := instant(t, srv, st, "pushed", time.Now().Add(time.Second)); len(got) != 1 {
		t.Fatalf("stored %v, want the first series", got)
	}
	if code, msg := send(t, http.MethodDelete, srv.URL+"/metrics/job/j", "", nil); code != http.StatusAccepted {
		t.Fatalf("DELETE: %d %q", code, msg)
	}
}

func TestPushgateway(t *testing.T) {
	srv, st := ingestServer(t, Options{})
	put := func(method, path, body string) (int, string) {
		return send(t, method, srv.URL+path, "text/plain", []byte(body))
	}
	if code, msg := put(http.MethodPut, "/metrics/job/backup/instance/db1", "backup_last_success 100\nbackup_size_bytes 5e6\n"); code != 200 {
		t.Fatalf("PUT: %d %s", code, msg)
	}
	got := instant(t, srv, st, `{job="backup"}`, time.Now().Add(time.Second))
	if len(got) != 4 { // two metrics + push_time_seconds + push_failure_time_seconds
		t.Fatalf("after PUT: %v", got)
	}
	if got := instant(t, srv, st, `backup_last_success`, time.Now().Add(time.Second)); len(got) != 1 || got[0] != "__name__=backup_last_success,instance=db1,job=backup 100" {
		t.Fatalf("labels: %v", got)
	}
	// POST replaces only the pushed family.
	if code, msg := put(http.MethodPost, "/metrics/job/backup/instance/db1", "backup_last_success 200\n"); code != 200 {
		t.Fatalf("POST: %d %s", code, msg)
	}
	if got := instant(t, srv, st, `{job="backup"}`, time.Now().Add(time.Second)); len(got) != 4 {
		t.Fatalf("after POST: %v", got)
	}
	// PUT replaces the group: backup_size_bytes goes stale at once.
	if code, msg := put(http.MethodPut, "/metrics/job/backup/instance/db1", "backup_last_success 300\n"); code != 200 {
		t.Fatalf("PUT: %d %s", code, msg)
	}
	time.Sleep(10 * time.Millisecond)
	if got := instant(t, srv, st, `backup_size_bytes`, time.Now().Add(time.Second)); len(got) != 0 {
		t.Fatalf("replaced series still visible: %v", got)
	}
	// Timestamps are refused, as the Pushgateway refuses them.
	if code, msg := put(http.MethodPut, "/metrics/job/backup", "m 1 1700000000000\n"); code != 400 || !strings.Contains(msg, "timestamp") {
		t.Fatalf("timestamped push: %d %s", code, msg)
	}
	if code, msg := put(http.MethodPut, "/metrics/job", "m 1\n"); code != 400 {
		t.Fatalf("no job: %d %s", code, msg)
	}
	// DELETE retires the group.
	if code, msg := put(http.MethodDelete, "/metrics/job/backup/instance/db1", ""); code != http.StatusAccepted {
		t.Fatalf("DELETE: %d %s", code, msg)
	}
	time.Sleep(10 * time.Millisecond)
	if got := instant(t, srv, st, `backup_last_success`, time.Now().Add(time.Second)); len(got) != 0 {
		t.Fatalf("deleted group still visible: %v", got)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
