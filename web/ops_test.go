package web

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

func TestOps(t *testing.T) {
	st := openStorage(t)
	ready := false
	rel := &fakeReloader{}
	s := newTestServer(t, st, Options{}, Deps{Ready: func() bool { return ready }, Reloader: rel})
	noReloader := newTestServer(t, st, Options{}, Deps{})

	tests := []struct {
		name   string
		server *Server
		method string
		path   string
		setup  func()
		code   int
		body   string // the whole body, or a prefix ending in "..."
	}{
		{"healthy", s, "GET", "/-/healthy", nil, 200, "Vigil is Healthy.\n"},
		{"healthy HEAD", s, "HEAD", "/-/healthy", nil, 200, "..."}, // net/http drops HEAD bodies
		{"not ready", s, "GET", "/-/ready", nil, 503, "Service Unavailable"},
		{"API waits for readiness", s, "GET", "/api/v1/query?query=1", nil, 503, "Service Unavailable"},
		{"federate waits for readiness", s, "GET", "/federate?match[]=up", nil, 503, "Service Unavailable"},
		{"ready", s, "GET", "/-/ready", func() { ready = true }, 200, "Vigil is Ready.\n"},
		{"API when ready", s, "GET", "/api/v1/query?query=1&time=1", nil, 200, `{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}`},
		{"reload", s, "POST", "/-/reload", nil, 200, ""},
		{"reload with PUT", s, "PUT", "/-/reload", nil, 200, ""},
		{"reload fails", s, "POST", "/-/reload", func() { rel.err = errTest }, 500, "failed to reload config: test error\n"},
		{"reload needs POST", s, "GET", "/-/reload", nil, 405, "This endpoint requires a POST request.\n"},
		{"nothing to reload", noReloader, "POST", "/-/reload", nil, 200, "nothing to reload\n"},
		{"force flush", s, "GET", "/internal/force_flush", nil, 200, ""},
		{"self-metrics", s, "GET", "/metrics", nil, 200, "..."},
		{"unknown path", s, "GET", "/nope", nil, 404, `{"message":"no endpoint at GET /nope"}` + "\n"},
		{"Alertmanager API keeps its error shape", s, "GET", "/api/v2/nope", nil, 404, `{"message":"no endpoint at GET /api/v2/nope"}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			res := do(t, tc.server, tc.method, tc.path, nil)
			if res.code != tc.code {
				t.Errorf("status %d, want %d: %s", res.code, tc.code, res.body)
			}
			if prefix, ok := strings.CutSuffix(tc.body, "..."); ok {
				if !strings.HasPrefix(string(res.body), prefix) {
					t.Errorf("body %q does not start with %q", res.body, prefix)
				}
			} else if string(res.body) != tc.body {
				t.Errorf("body %q, want %q", res.body, tc.body)
			}
		})
	}
	if rel.calls != 3 {
		t.Errorf("Reload called %d times, want 3", rel.calls)
	}

	// Self-metrics count requests per route pattern; unknown paths share
	// one series.
	get(t, s, "/api/v1/label/job/values", nil)
	get(t, s, "/api/v1/query", vals("query", "sum("))
	get(t, s, "/scanner/probe/1", nil)
	get(t, s, "/scanner/probe/2", nil)
	metrics := string(get(t, s, "/metrics", nil).body)
	for _, want := range []string{
		`vigil_http_requests_total{path="/api/v1/label/:name/values"} `,
		`vigil_http_requests_total{path="/-/healthy"} `,
		`vigil_http_requests_total{path="other"} `,
		`vigil_http_request_duration_seconds_bucket{path="/api/v1/query",le="+Inf"} `,
		`vigil_query_duration_seconds_count{type="instant"} `,
		`vigil_queries_failed_total{reason="bad_data"} `,
		`process_resident_memory_bytes `,
		`go_goroutines `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if strings.Contains(metrics, "/scanner/probe") {
		t.Errorf("unknown paths became series")
	}

}

// A route that saw no request has a zero counter and no histogram: idle
// routes would otherwise store 14 series each in the self-monitoring job.
func TestRouteMetricsHistogramOnFirstRequest(t *testing.T) {
	// The metrics are the process's: a path of this run's own keeps the
	// test repeatable (go test -count).
	path := fmt.Sprintf("/test/idle-route-%d", time.Now().UnixNano())
	m := newRouteMetrics(path)
	exposition := func() string {
		var b bytes.Buffer
		metrics.WritePrometheus(&b, false)
		return b.String()
	}
	counter := fmt.Sprintf("vigil_http_requests_total{path=%q} ", path)
	bucket := fmt.Sprintf("vigil_http_request_duration_seconds_bucket{path=%q,le=\"+Inf\"} ", path)
	got := exposition()
	if !strings.Contains(got, counter+"0") {
		t.Errorf("an idle route has no zero counter %s0", counter)
	}
	if strings.Contains(got, bucket) {
		t.Errorf("an idle route already has a histogram")
	}
	m.observe(time.Now())
	got = exposition()
	if !strings.Contains(got, counter+"1") || !strings.Contains(got, bucket+"1") {
		t.Errorf("after one request the route has no counter or histogram of 1:\n%s", got)
	}
}

func TestBodyLimit(t *testing.T) {
	s := newTestServer(t, openStorage(t), Options{MaxRequestBodyBytes: 1024}, Deps{})
	big := vals("query", "up", "pad", strings.Repeat("x", 2000))
	small := vals("query", "1", "time", "1")

	hs := httptest.NewServer(s)
	defer hs.Close()
	tests := []struct {
		name    string
		path    string
		body    io.Reader
		chunked bool
		code    int
		want    string
	}{
		{"API, Content-Length", "/api/v1/query", strings.NewReader(big.Encode()), false, 413,
			`{"status":"error","errorType":"bad_data","error":"request body too large: the limit is 1024 bytes;`},
		{"API, chunked", "/api/v1/query", strings.NewReader(big.Encode()), true, 413, `{"status":"error","errorType":"bad_data"`},
		{"ops, Content-Length", "/-/reload", strings.NewReader(big.Encode()), false, 413, `{"message":"request body too large`},
		{"under the limit", "/api/v1/query", strings.NewReader(small.Encode()), true, 200, `{"status":"success"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if tc.chunked {
				body = io.MultiReader(body) // hides the length
			}
			req, _ := http.NewRequest(http.MethodPost, hs.URL+tc.path, body)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.HasPrefix(string(got), tc.want) {
				t.Errorf("%d %s, want %d %s...", resp.StatusCode, got, tc.code, tc.want)
			}
		})
	}
}

// TestOverHTTP talks to the server on 127.0.0.1 as clients do: gzip is
// negotiated, and POST bodies may be multipart.
func TestOverHTTP(t *testing.T) {
	st := openStorage(t)
	writeSeries(t, st, base, 15*time.Second, 241, func() []series {
		var ss []series
		for i := range 20 {
			ss = append(ss, series{[]string{"__name__", "load", "host", fmt.Sprintf("h%02d", i)}, func(j int) float64 { return float64(i*j) / 7 }})
		}
		return ss
	}()...)
	s := newTestServer(t, st, Options{}, Deps{})
	hs := httptest.NewServer(s)
	defer hs.Close()
	params := vals("query", "load", "start", baseAt(0), "end", baseAt(time.Hour), "step", "15s")

	// Go's client asks for gzip and decompresses transparently; ask
	// explicitly to see the encoding.
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/api/v1/query_range?"+params.Encode(), nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("headers %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	plain := get(t, s, "/api/v1/query_range", params)
	if !bytes.Equal(gz, plain.body) {
		t.Fatalf("gzipped body differs")
	}
	var parsed struct {
		Data struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(gz, &parsed); err != nil || len(parsed.Data.Result) != 20 || len(parsed.Data.Result[0].Values) != 241 {
		t.Fatalf("unexpected result (%v): %.300s", err, gz)
	}

	// multipart/form-data, as some clients post.
	var mp bytes.Buffer
	boundary := "xYzZY"
	fmt.Fprintf(&mp, "--%s\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\ncount(load)\r\n--%s\r\nContent-Disposition: form-data; name=\"time\"\r\n\r\n%s\r\n--%s--\r\n", boundary, boundary, baseAt(time.Minute), boundary)
	resp, err = http.Post(hs.URL+"/api/v1/query", "multipart/form-data; boundary="+boundary, &mp)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[` + baseAt(time.Minute) + `,"20"]}]}}`; string(body) != want {
		t.Errorf("multipart: %s, want %s", body, want)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                    false,
		"gzip":                true,
		"deflate, gzip;q=1.0": true,
		"br, gzip; q=0":       false,
		"identity":            false,
		"gzip, deflate, br":   true,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			r.Header.Set("Accept-Encoding", header)
		}
		if got := acceptsGzip(r); got != want {
			t.Errorf("Accept-Encoding %q: %v, want %v", header, got, want)
		}
	}
}

func TestAdmin(t *testing.T) {
	st := openStorage(t)
	fixture(t, st)
	s := newTestServer(t, st, Options{}, Deps{})
	now := time.Now()
	tests := []struct {
		name   string
		method string
		path   string
		form   url.Values
		code   int
		want   string
	}{
		{"no match[]", "POST", "/api/v1/admin/tsdb/delete_series", vals(), 400, "no match[] parameter provided"},
		{"GET is not allowed", "GET", "/api/v1/admin/tsdb/delete_series?match[]=up", nil, 405, "method GET is not allowed"},
		{"matches everything", "POST", "/api/v1/admin/tsdb/delete_series", vals("match[]", `{__name__=~".*"}`), 400, "at least one non-empty matcher"},
		{"part of the range", "POST", "/api/v1/admin/tsdb/delete_series", vals("match[]", "up", "start", baseAt(0), "end", baseAt(time.Hour)), 400,
			"Vigil deletes whole series only"},
		{"end before now", "PUT", "/api/v1/admin/tsdb/delete_series", vals("match[]", "up", "end", formatUnix(now.Add(-time.Minute))), 400,
			"omit start and end to delete the matching series entirely"},
		{"bad start", "POST", "/api/v1/admin/tsdb/delete_series", vals("match[]", "up", "start", "x"), 400, `invalid parameter \"start\"`},
		{"delete", "POST", "/api/v1/admin/tsdb/delete_series", vals("match[]", `up{job="db"}`), 204, ""},
		{"delete with the whole range", "PUT", "/api/v1/admin/tsdb/delete_series",
			vals("match[]", `odd`, "start", minTimeFormatted, "end", formatUnix(now.Add(time.Hour))), 204, ""},
		{"clean tombstones", "POST", "/api/v1/admin/tsdb/clean_tombstones", nil, 204, ""},
		{"snapshot bad skip_head", "POST", "/api/v1/admin/tsdb/snapshot", vals("skip_head", "maybe"), 400, "unable to parse boolean"},
		{"snapshot", "PUT", "/api/v1/admin/tsdb/snapshot", vals("skip_head", "true"), 200, `{"status":"success","data":{"name":"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, s, tc.method, tc.path, tc.form)
			if res.code != tc.code || !strings.Contains(string(res.body), tc.want) {
				t.Errorf("%d %s, want %d with %q", res.code, res.body, tc.code, tc.want)
			}
		})
	}
	res := get(t, s, "/api/v1/series", vals("match[]", `{__name__=~"up|odd"}`))
	if got := string(res.body); got != `{"status":"success","data":[{"__name__":"up","instance":"a:1","job":"api"}]}` {
		t.Errorf("after the deletions: %s", got)
	}
}

func TestFederate(t *testing.T) {
	st := openStorage(t)
	now := time.Now().Truncate(time.Second)
	ts := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	writeSeries(t, st, now.Add(-2*time.Minute), 30*time.Second, 4,
		series{[]string{"__name__", "up", "job", "api", "instance", "a:1"}, func(i int) float64 { return float64(i) }},
		series{[]string{"__name__", "up", "job", "batch"}, func(i int) float64 { return 1 }},
		series{[]string{"__name__", "job:requests:rate5m", "job", "api", "instance", "override"}, func(i int) float64 { return 0.25 }},
		series{[]string{"__name__", "http_requests_total", "Zone", "eu", "code", "200"}, func(i int) float64 { return 1e21 }},
	)
	writeSeries(t, st, now.Add(-time.Hour), time.Second, 1,
		series{[]string{"__name__", "up", "job", "gone"}, func(int) float64 { return 1 }})
	s := newTestServer(t, st, Options{}, Deps{})

	res := get(t, s, "/federate", vals("match[]", `{job="api"}`, "match[]", `up`, "match[]", `http_requests_total`))
	if res.code != 200 {
		t.Fatalf("status %d: %s", res.code, res.body)
	}
	last := ts(-30 * time.Second)
	want := fmt.Sprintf(`# TYPE http_requests_total untyped
http_requests_total{Zone="eu",code="200",instance=""} 1e+21 %d
# TYPE job:requests:rate5m untyped
job:requests:rate5m{instance="override",job="api"} 0.25 %d
# TYPE up untyped
up{instance="a:1",job="api"} 3 %d
up{job="batch",instance=""} 1 %d
`, last, last, last, last)
	if got := string(res.body); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}

	// The external labels are added where a series has not got its own,
	// as Prometheus' /federate adds them.
	ext := newTestServer(t, st, Options{}, Deps{ExternalLabels: func() map[string]string {
		return map[string]string{"replica": "a", "job": "ignored", "instance": "vigil-1"}
	}})
	res = get(t, ext, "/federate", vals("match[]", `up`))
	want = fmt.Sprintf(`# TYPE up untyped
up{instance="a:1",job="api",replica="a"} 3 %d
up{job="batch",instance="vigil-1",replica="a"} 1 %d
`, last, last)
	if got := string(res.body); res.code != 200 || got != want {
		t.Errorf("with external labels: %d\n%s\nwant:\n%s", res.code, got, want)
	}

	for _, q := range []url.Values{nil, vals("match[]", "up{")} {
		if res := get(t, s, "/federate", q); res.code != http.StatusBadRequest {
			t.Errorf("federate?%s: %d %s", q.Encode(), res.code, res.body)
		}
	}
}
